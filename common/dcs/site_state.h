#pragma once
// Site-level state, kept in each DC's own DCS next to the cluster's keys
// (<namespace><scope>/site), so that the coordinator holds nothing itself and
// the agents of each DC read it with the rest of the cluster:
//
//   {"role": "primary" | "fenced" | "standby",
//    "epoch": 3,                       fencing epoch: raised on every change of role
//    "granted_epoch": 3 | absent,      promoted at this epoch by the coordinator (no confirmation needed)
//    "token": {...} | absent,          the demotion token of the last clean demotion
//    "standby_cluster": {...} | absent, the standby_cluster block this DC used when it was last a standby
//    "operation": {...} | absent,      the journal of a site operation in progress
//    "history": [...],                 finished operations, newest last (bounded)
//    "peer": {"site", "etcd": [...], "namespace", "scope"}}   the other DC's site key
//
// "fenced" means the DC must accept no writes: its agents answer /primary
// with 503, stop a running primary cleanly (recording the demotion token in
// the leader's member key) and promote nobody. No key means no coordinator:
// the DC behaves as a plain Patroni cluster.
//
// Patroni's tools ignore the key. Garbage in it is an error naming the field,
// never a crash.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/dcs/dcs.h"
#include "common/util/result.h"

namespace pgtandem::dcs {

class ClusterPaths;

// CloudNativePG's demotion token: where the demoted primary stopped. The
// promoted DC must have replayed exactly to redo_lsn on this timeline.
struct DemotionToken {
  std::string system_identifier;
  int timeline = 0;
  std::int64_t redo_lsn = 0;
  std::string redo_wal_file;
  std::string from_site;  // the coordinator fills it in; an agent leaves it empty
  bool archived = false;  // the REDO WAL file was pushed to the archive (or there is no archive)

  bool operator==(const DemotionToken&) const = default;
};

// One journaled step of a site operation.
struct OperationStep {
  std::string name;    // e.g. "fence", "token", "promote"
  std::string state;   // "done", "failed"
  std::string at;      // ISO 8601
  std::string detail;  // one line

  bool operator==(const OperationStep&) const = default;
};

// What a scheduled backup or restore drill did, kept with its journal.
struct BackupRecord {
  std::string type;          // "full", "diff", "incr" or "drill"
  std::string site, member;  // where it ran (a drill: on the coordinator's host)
  std::string label;         // the backup taken, or drilled
  std::int64_t bytes = 0;    // the backup's size (a drill: the drilled backup's)
  std::int64_t copied_bytes = 0;
  std::int64_t duration_ms = 0;

  bool operator==(const BackupRecord&) const = default;
};

struct SiteOperation {
  std::string kind;  // "switchover", "promote", "rejoin"; "backup", "drill" (the backups journal)
  std::string from_site, to_site;
  std::string started_at;
  std::string finished_at;  // set when it moves to the history
  std::string result;       // "done", "aborted: ..." (history only)
  std::vector<OperationStep> steps;
  std::optional<BackupRecord> backup;  // scheduled backups and drills only

  bool operator==(const SiteOperation&) const = default;

  const OperationStep* step(std::string_view name) const;
  bool done(std::string_view name) const;
};

// Where the other DC's site key lives, so that agents can check their
// epoch against it (the coordinator writes it).
struct PeerSite {
  std::string site;
  std::vector<std::string> etcd_hosts;  // host:port
  std::string namespace_ = "/service/";
  std::string scope;

  bool operator==(const PeerSite&) const = default;
};

// A DC's role in its site key.
enum class SiteRole {
  kPrimary,  // may have a writable primary
  kFenced,   // must accept no writes
  kStandby,  // a standby cluster of the other DC
};

const char* siteRoleName(SiteRole role);  // "primary", "fenced", "standby"
std::optional<SiteRole> parseSiteRole(std::string_view name);

struct SiteState {
  SiteRole role = SiteRole::kPrimary;
  std::int64_t epoch = 0;
  // The coordinator promoted this DC at this epoch while the other DC was
  // unreachable (site promote): its agents take the epoch without the other
  // DC's confirmation. Cleared whenever the DC stops being primary.
  std::int64_t granted_epoch = 0;
  std::optional<DemotionToken> token;
  std::string standby_cluster_json;  // a JSON object, "" when none was saved
  std::optional<SiteOperation> operation;
  std::vector<SiteOperation> history;
  std::optional<PeerSite> peer;
  Revision mod_revision = 0;  // from the DCS, for compare-and-set

  bool operator==(const SiteState&) const = default;
  // The DC may have a writable primary.
  bool writable() const { return role == SiteRole::kPrimary; }
};

// The scheduled backups' and drills' journal, a key of its own next to the
// site key (<namespace><scope>/backups), so that an hour-long backup never
// stands in the way of a DC switchover:
//   {"operation": {...} | absent, "history": [...]}   the run in progress, the last runs (bounded)
struct BackupJournal {
  std::optional<SiteOperation> operation;
  std::vector<SiteOperation> history;
  Revision mod_revision = 0;  // from the DCS

  bool operator==(const BackupJournal&) const = default;
};

// How many finished operations a site key keeps.
inline constexpr std::size_t kSiteHistoryLength = 20;

std::string siteKey(const ClusterPaths& paths);
Result<SiteState> parseSiteState(std::string_view json);
std::string toJson(const SiteState& state);

Result<BackupJournal> parseBackupJournal(std::string_view json);
std::string toJson(const BackupJournal& journal);

Result<DemotionToken> parseDemotionToken(std::string_view json);
std::string toJson(const DemotionToken& token);

}  // namespace pgtandem::dcs
