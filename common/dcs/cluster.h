#pragma once
// The cluster state as Patroni lays it out in the DCS, under
// /<namespace>/<scope>/: initialize, config, leader, members/<name>, status,
// sync, failover, history, failsafe. One prefix read gives one immutable
// ClusterSnapshot stamped with its revision; compare-and-set writes use the
// mod revisions it carries. Values use Patroni 4.x's JSON formats so that
// Patroni's tools (patronictl, vip-manager) read what we write.
//
// A value that does not parse is reported once (per key and revision) to the
// MalformedValueLog and left out of the snapshot: garbage in etcd never stops
// an agent.

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/dcs/dcs.h"
#include "common/dcs/site_state.h"

namespace pgtandem::dcs {

class ClusterPaths {
 public:
  ClusterPaths(std::string_view namespace_, std::string_view scope);
  const std::string& base() const { return base_; }  // "/service/batman/"
  std::string initialize() const { return base_ + "initialize"; }
  std::string config() const { return base_ + "config"; }
  std::string leader() const { return base_ + "leader"; }
  std::string members() const { return base_ + "members/"; }
  std::string member(std::string_view name) const { return members() + std::string(name); }
  std::string status() const { return base_ + "status"; }
  std::string sync() const { return base_ + "sync"; }
  std::string failover() const { return base_ + "failover"; }
  std::string history() const { return base_ + "history"; }
  std::string failsafe() const { return base_ + "failsafe"; }
  std::string site() const { return base_ + "site"; }  // pgtandem's site state (site_state.h)
  std::string backups() const { return base_ + "backups"; }  // the scheduled backups' journal (site_state.h)
  std::string marks() const { return base_ + "marks"; }      // run-time member marks (MemberMark)

 private:
  std::string base_;
};

// Patroni's member tags. Unknown tags are kept as raw JSON text.
struct MemberTags {
  bool nofailover = false;
  std::optional<int> failover_priority;
  bool noloadbalance = false;
  bool clonefrom = false;
  bool nosync = false;
  bool nostream = false;
  std::optional<int> sync_priority;
  std::optional<std::string> replicatefrom;
  std::map<std::string, std::string> other;  // name -> JSON text

  bool operator==(const MemberTags&) const = default;
};

// members/<name>
struct MemberInfo {
  std::string name;
  std::string conn_url;   // postgres://host:port/postgres
  std::string api_url;    // http://host:8008/patroni
  std::string state;      // running, stopped, starting, crashed, creating replica, ...
  std::string role;       // primary, replica, standby_leader, demoted, uninitialized
  std::string version;    // agent version
  std::string proxy_url;
  MemberTags tags;
  std::optional<std::int64_t> xlog_location;  // bytes (LSN as an integer)
  std::optional<std::int64_t> receive_lsn;
  std::optional<std::int64_t> replay_lsn;
  std::string replication_state;  // streaming, in archive recovery
  std::optional<int> timeline;
  bool pending_restart = false;
  std::optional<int> server_version;  // the running server's, 150020 (pgtandem's own field)
  bool pause = false;
  std::string scheduled_restart;  // ISO 8601 time of a scheduled restart, "" if none
  // A standby leader's lag behind the primary DC (pgtandem's own field,
  // "standby_lag": {source, bytes, seconds}; Patroni's tools ignore it).
  std::string standby_source;  // "" when not a standby leader
  std::optional<std::int64_t> standby_lag_bytes;
  std::int64_t standby_lag_seconds = 0;
  // Seconds since it last heard from the primary DC ("contact_age"; null:
  // unknown), on its agent's monotonic clock.
  std::optional<std::int64_t> standby_contact_age;
  // A leader that stopped its primary cleanly because the DC was fenced or
  // turned into a standby cluster: where it stopped ("demotion_token").
  std::optional<DemotionToken> demotion_token;
  // The last time this member's data was repaired since its agent started:
  // "rewind" or "clone", and when (ISO 8601) ("repaired": {action, at}).
  std::string repaired;
  std::string repaired_at;
  // From the DCS, not the JSON:
  Revision mod_revision = 0;
  LeaseId lease = 0;

  bool operator==(const MemberInfo&) const = default;
};

struct LeaderInfo {
  std::string name;  // the key's plain value
  Revision mod_revision = 0;
  LeaseId lease = 0;
};

// status: the leader's last known WAL position and slot positions.
struct StatusInfo {
  std::optional<std::int64_t> optime;
  std::map<std::string, std::int64_t> slots;
  std::vector<std::string> retain_slots;
  Revision mod_revision = 0;

  bool operator==(const StatusInfo&) const = default;
};

struct SyncInfo {
  std::string leader;
  std::vector<std::string> sync_standby;
  std::optional<int> quorum;
  Revision mod_revision = 0;

  bool operator==(const SyncInfo&) const = default;
};

struct FailoverInfo {
  std::string leader;        // switchover from (may be empty)
  std::string candidate;     // "member" in the JSON
  std::string scheduled_at;  // ISO 8601, empty when immediate
  Revision mod_revision = 0;

  bool operator==(const FailoverInfo&) const = default;
};

struct HistoryEntry {
  int timeline = 0;
  std::int64_t lsn = 0;
  std::string reason;
  std::string timestamp;
  std::string new_leader;

  bool operator==(const HistoryEntry&) const = default;
};

// The coordinator's run-time marks on members (<base>marks, pgtandem's own
// key; Patroni's tools ignore it): a marked member acts as tagged
// nofailover, noloadbalance and nosync as the mark says, whatever its
// patroni.yml has, so that a rolling upgrade takes it out of the load
// balancer and out of failover and synchronous replication for a while.
struct MemberMark {
  bool nofailover = false, noloadbalance = false, nosync = false;
  std::string reason;  // "upgrade to 15.20", for the logs and dcctl

  bool operator==(const MemberMark&) const = default;
};

struct ClusterSnapshot {
  Revision revision = 0;
  std::optional<std::string> initialize;  // system identifier; "" while initializing
  Revision initialize_mod_revision = 0;
  std::optional<std::string> config_json;  // the dynamic configuration, parsed by common/config
  Revision config_mod_revision = 0;
  std::optional<LeaderInfo> leader;
  std::vector<MemberInfo> members;  // sorted by name
  std::optional<StatusInfo> status;
  std::optional<SyncInfo> sync;
  std::optional<FailoverInfo> failover;
  std::vector<HistoryEntry> history;
  Revision history_mod_revision = 0;
  std::map<std::string, std::string> failsafe;  // member name -> api_url (empty: absent or garbage)
  std::optional<SiteState> site;                // pgtandem's site key; absent without a coordinator
  std::string site_error;                       // the site key exists but cannot be parsed: why
  std::optional<BackupJournal> backups;         // the scheduled backups' journal; absent before the first
  std::string backups_error;                    // it exists but cannot be parsed: why
  std::map<std::string, MemberMark> marks;      // member name -> its run-time mark

  bool isUnlocked() const { return !leader.has_value(); }
  // `name` holds the leader key (as this snapshot saw it).
  bool ledBy(std::string_view name) const { return leader && leader->name == name; }
  const MemberInfo* member(std::string_view name) const;
  const MemberInfo* leaderMember() const;
  // The running replica that has replayed the most: neither the leader nor
  // a member reporting a primary role. nullptr when there is none. Backups
  // and dumps read it, so that the primary's clients do not pay for them.
  const MemberInfo* mostCaughtUpReplica() const;
};

// Remembers which malformed values were already reported, so each is logged
// once per key and revision. Thread-safe.
class MalformedValueLog {
 public:
  // Logs a warning unless this key at this revision was reported before.
  // Returns true when it logged.
  bool report(const std::string& key, Revision mod_revision, const std::string& reason);
  std::size_t reportedCount() const;

 private:
  mutable std::mutex mutex_;
  std::set<std::pair<std::string, Revision>> seen_;
};

ClusterSnapshot parseCluster(const RangeResult& range, const ClusterPaths& paths, MalformedValueLog& log);

// Reads the whole prefix in one call and parses it.
Result<ClusterSnapshot> loadCluster(Dcs& dcs, const ClusterPaths& paths, MalformedValueLog& log);

// Parsers and serializers of single values (Patroni 4.x JSON). The parsers
// return kParse errors that say what is wrong.
Result<MemberInfo> parseMember(std::string_view name, std::string_view json);
std::string toJson(const MemberInfo& member);
Result<StatusInfo> parseStatus(std::string_view json);
std::string toJson(const StatusInfo& status);
Result<SyncInfo> parseSync(std::string_view json);
std::string toJson(const SyncInfo& sync);
Result<FailoverInfo> parseFailover(std::string_view json);
std::string toJson(const FailoverInfo& failover);
Result<std::vector<HistoryEntry>> parseHistory(std::string_view json);
std::string toJson(const std::vector<HistoryEntry>& history);
Result<std::map<std::string, std::string>> parseFailsafe(std::string_view json);
std::string failsafeJson(const std::map<std::string, std::string>& members);
Result<std::map<std::string, MemberMark>> parseMarks(std::string_view json);
std::string marksJson(const std::map<std::string, MemberMark>& marks);
// `tags` with what `mark` adds (nullptr: none).
MemberTags withMark(MemberTags tags, const MemberMark* mark);
// The tags as Patroni's JSON object text.
std::string tagsJson(const MemberTags& tags);
// Tags given as name -> JSON text (the configuration's form).
Result<MemberTags> parseTags(const std::map<std::string, std::string>& json_by_name);

}  // namespace pgtandem::dcs
