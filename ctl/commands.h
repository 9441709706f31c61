#pragma once
// dcctl's verbs. Each returns the process exit code (0: done; 1: failed or
// refused, with a one-line reason on stderr) and never leaves a
// half-written change: a write to the DCS is one compare-and-set, and
// changes go through the members' REST APIs, which validate them first.

#include <optional>
#include <string>
#include <vector>

#include "ctl/ctl_context.h"

namespace pgtandem::ctl {

struct ListOptions {
  std::string scope;
  Format format = Format::kPretty;
  bool extended = false;  // always show the server version, pending restart, scheduled restart and tags
  double watch_seconds = 0;  // 0: print once
  int watch_rounds = 0;      // 0: until interrupted
};
int listCommand(Context& ctx, const ListOptions& options);
int topologyCommand(Context& ctx, const ListOptions& options);
int historyCommand(Context& ctx, const std::string& scope, Format format);
int showConfigCommand(Context& ctx, const std::string& scope);

int switchoverCommand(Context& ctx, const std::string& scope, std::string leader, std::string candidate,
                      std::string scheduled);
int failoverCommand(Context& ctx, const std::string& scope, std::string candidate);

struct MemberSelection {
  std::string scope;
  std::vector<std::string> members;  // empty: every member (restart, reload)
  std::string role = "any";          // leader|primary|standby-leader|replica|standby|any
};
struct RestartOptions {
  bool pending = false;
  std::string scheduled;
  std::string postgres_version;
};
int restartCommand(Context& ctx, const MemberSelection& selection, const RestartOptions& options);
inline constexpr const char* kDcctlVersion = "0.1.0";
// patronictl version CLUSTER [MEMBER...]: dcctl's version, then each
// member's agent and PostgreSQL versions, asked of its REST API.
int versionCommand(Context& ctx, const MemberSelection& selection);
int reloadCommand(Context& ctx, const MemberSelection& selection);
int reinitCommand(Context& ctx, const MemberSelection& selection, bool wait, bool from_leader);

// Cancels scheduled actions: "switchover" (DELETE /switchover) or "restart"
// (DELETE /restart on the selected members).
int flushCommand(Context& ctx, const MemberSelection& selection, const std::string& what);

int pauseCommand(Context& ctx, const std::string& scope, bool pause, bool wait);

struct EditOptions {
  std::vector<std::string> sets;     // -s key.path=value
  std::vector<std::string> pg_sets;  // -p name=value (postgresql.parameters)
  std::string apply_file;            // merge this YAML/JSON file ("-": stdin)
  std::string replace_file;          // replace /config with it
  bool quiet = false;                // no diff
};
int editConfigCommand(Context& ctx, const std::string& scope, const EditOptions& options);

struct QueryOptions {
  std::string scope;
  std::string role;    // leader (default) or replica
  std::string member;  // a member by name
  std::string dbname = "postgres";
  std::string username;  // default: postgresql.authentication.superuser, else postgres
  bool ask_password = false;
  std::string sql;       // -c
  std::string file;      // -f ("-": stdin)
  Format format = Format::kPretty;
};
int queryCommand(Context& ctx, const QueryOptions& options);

int removeCommand(Context& ctx, const std::string& scope);
int dsnCommand(Context& ctx, const std::string& scope, const std::string& role, const std::string& member);
int versionCommand(Context& ctx);

}  // namespace pgtandem::ctl
