#pragma once
// What every dcctl verb works with: the cluster's DCS (read directly, so
// dcctl works when members are down), the members' REST APIs, and the
// operator's terminal (injected streams, so tests answer prompts on stdin).

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "common/config/dynamic_json.h"
#include "common/dcs/cluster.h"
#include "common/http/http_client.h"
#include "common/util/clock.h"

namespace pgtandem::ctl {

enum class Format { kPretty, kJson, kYaml, kTsv };
Result<Format> parseFormat(const std::string& text);

struct Terminal {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
};

class Context {
 public:
  Context(config::Config config, std::unique_ptr<dcs::Dcs> dcs, Terminal terminal)
      : config_(std::move(config)), dcs_(std::move(dcs)), terminal_(terminal) {}

  const config::Config& config() const { return config_; }
  dcs::Dcs& dcs() { return *dcs_; }
  Terminal& terminal() { return terminal_; }
  std::ostream& out() { return terminal_.out; }

  // The cluster under `scope` (the configuration's scope when empty).
  Result<dcs::ClusterSnapshot> load(const std::string& scope);
  dcs::ClusterPaths paths(const std::string& scope) const;
  std::string scopeOr(const std::string& scope) const { return scope.empty() ? config_.scope : scope; }
  // The dynamic configuration of a snapshot (bootstrap defaults where unset).
  config::DynamicState dynamic(const dcs::ClusterSnapshot& cluster) const;

  // Calls a member's REST API with the ctl (or restapi) credentials.
  Result<http::Response> callMember(const dcs::MemberInfo& member, const std::string& method,
                                    const std::string& target, const std::string& body = "");
  // Calls the leader if it answers, else any live member.
  Result<http::Response> callAny(const dcs::ClusterSnapshot& cluster, const std::string& method,
                                 const std::string& target, const std::string& body = "");

  // Asks a question; an empty answer takes `fallback`. EOF counts as empty.
  std::string ask(const std::string& question, const std::string& fallback);
  // "y" or "yes" (any case) is yes; anything else, or EOF, is no.
  bool confirm(const std::string& question);

  bool force = false;
  // Every wait between polls (tests give a simulated clock).
  const Clock* clock = &RealClock::instance();

 private:
  std::string readAnswer(const std::string& fallback);

  config::Config config_;
  std::unique_ptr<dcs::Dcs> dcs_;
  Terminal terminal_;
  dcs::MalformedValueLog malformed_;
};

// The REST base URL of a member ("http://host:port" from its api_url).
std::string apiBase(const dcs::MemberInfo& member);

}  // namespace pgtandem::ctl
