#pragma once
// The HA decision: a pure function of what the agent knows at one instant.
//
//   decide(cluster snapshot, local observation, settings, now)
//     -> actions + the rule that fired + a one-line reason
//
// No I/O, no clock reads, no logging: table-driven tests cover every rule
// without etcd or PostgreSQL. The executor (executor.h) performs the actions
// in order and stops at the first that fails; each action is named and safe
// to repeat.
//
// Ordering duties (enforced by how the rules build their action lists, and
// checked by tests):
//  1. Hold the lock before promoting: kPromote only ever follows a lock this
//     member holds (the snapshot says so) or kAcquireLock in the same list.
//  2. Demote before releasing the lock: kReleaseLock only ever follows
//     kDemote (or PostgreSQL is already not a primary).
//  3. A primary that cannot renew its lock, or cannot reach the DCS, demotes
//     in the same decision: it never outlives its lease as a primary. Its
//     lease deadline (lease_deadline.h) comes first of all: once it passes,
//     the primary demotes whatever else holds. The one exception is failsafe
//     mode (failsafe.h): every member promised this loop not to take over.

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/dcs/cluster.h"
#include "common/util/clock.h"
#include "common/util/lsn.h"

namespace pgtandem::agent {

using pgtandem::Lsn;

// A peer's PostgreSQL, asked directly when the lock is free (Patroni asks
// each member's REST /patroni for the same reason: member keys can be a
// loop old).
struct PeerState {
  bool reachable = false;
  bool primary = false;
  int timeline = 0;
  std::optional<Lsn> wal_position;
  // Where its timeline history leaves our timeline (asked only by a stuck
  // standby; 0: our timeline is not in its history; nullopt: not known).
  std::optional<Lsn> fork_lsn;
};

// The other DC's site key, read when ours names it (site_state.h: peer).
struct PeerSiteView {
  bool reachable = false;
  std::optional<dcs::SiteRole> role;  // nullopt: it has no site key
  std::int64_t epoch = 0;
};

// What the agent observed locally, just before deciding.
struct LocalObservation {
  bool dcs_ok = true;              // the snapshot is fresh (this cycle's read succeeded)
  bool data_initialized = false;   // PGDATA holds a cluster (PG_VERSION)
  std::string system_id;           // from pg_controldata, when initialized
  bool pg_running = false;
  bool pg_primary = false;         // running and not in recovery
  int timeline = 0;
  std::optional<Lsn> wal_position;  // primary: current; replica: max(receive, replay)
  std::string following;           // the member the replica is configured to stream from ("" if none)
  std::optional<MonoTime> not_streaming_since;  // a running standby configured to follow, not streaming
  bool lock_renewal_failed = false;  // the last attempt to renew the leader key failed
  // While we lead a writable DC: the instant by which PostgreSQL must refuse
  // writes, the earliest moment our lease can expire minus the safety margin
  // (lease_deadline.h), or the failsafe deadline when that is later
  // (failsafe.h). Absent when we do not lead.
  std::optional<MonoTime> lease_deadline;
  // Failsafe mode (failsafe.h), on the leader: this loop, every member in
  // /failsafe answered our POST /failsafe.
  bool failsafe_acknowledged = false;
  // Failsafe mode, on any other member: a leader's POST /failsafe arrived
  // less than ttl ago.
  bool failsafe_leader_heard = false;
  std::optional<MonoTime> primary_down_since;  // we hold the lock but PostgreSQL is down
  bool long_action_running = false;  // bootstrap, clone or rewind in progress
  bool needs_rewind = false;        // a former primary, or a standby past the fork point, must rewind before following
  // The upstream we are configured to follow (a member, or the other DC's
  // primary), asked directly when we have not streamed for two loops.
  std::optional<PeerState> upstream;
  // Fresh peer states (filled only when the lock is free); members absent
  // here are judged by their member keys.
  std::map<std::string, PeerState> peers;
  // The other DC's site key, asked this loop by a member that leads or could
  // (absent: not asked, or our site key names no peer).
  std::optional<PeerSiteView> peer_site;
  // This member has seen the other DC agree with our site epoch (or there
  // is no other DC to ask). Until then it does not become primary.
  bool site_confirmed = true;
  // Our site key is garbage, or gone after this agent saw it: why. The DC
  // then behaves as fenced (fail closed), since the key may have fenced it.
  std::string site_unreadable;
  // watchdog.mode is required and the device cannot be armed (watchdog.h):
  // this member must not lead a writable DC.
  bool watchdog_unusable = false;
};

// The target of actions that stream from the other data center's primary
// (standby cluster). Member names cannot contain '/', so it never collides.
extern const char* const kRemotePrimary;

// The settings the rules read (dynamic config plus this member's own).
struct HaSettings {
  std::string name;
  std::chrono::seconds ttl{30};
  std::chrono::seconds loop_wait{10};
  std::chrono::seconds primary_start_timeout{300};
  std::int64_t maximum_lag_on_failover = 1048576;
  bool pause = false;
  bool synchronous_mode = false;  // always off in a standby cluster
  bool failsafe_mode = false;     // /config's failsafe_mode (failsafe.h)
  // A standby cluster (standby_cluster in /config): the lock holder is the
  // standby leader; it streams from kRemotePrimary and never promotes.
  bool standby_cluster = false;
  bool nofailover = false;
  int failover_priority = 1;
  std::string replicatefrom;  // tag: stream from this member instead of the leader
};

enum class ActionKind {
  kRaceInitialize,   // create /initialize (empty) if absent; later actions run only if we won
  kBootstrap,        // initdb, start as primary, create users, write /initialize = sysid and /config;
                     // with target kRemotePrimary: clone the remote primary instead (standby cluster)
  kClone,            // create a replica from `target` (create_replica_methods)
  kAcquireLock,      // create the leader key with our lease if absent; later actions run only if we got it
  kRenewLock,        // keep our lease alive and make sure the leader key is ours
  kReleaseLock,      // delete the leader key if it holds our name
  kPromote,          // pg_ctl promote (the agent then records the new timeline in /history)
  kDemote,           // stop PostgreSQL (fast), so that it is no longer a writable primary
  kStartPrimary,     // start PostgreSQL as a primary (we hold the lock)
  kFollow,           // (re)configure recovery to stream from `target` and start or reload
  kRewind,           // pg_rewind from `target` (a former primary that diverged)
  kClearFailover,    // delete the /failover key (a switchover is done or impossible)
  kCleanDemote,      // stop a primary cleanly (fast) and record where it stopped (the demotion
                     // token), pushing that WAL file to the archive; on a stopped one, re-read it
};

const char* actionName(ActionKind kind);

struct Action {
  ActionKind kind;
  std::string target;  // a member name, for kClone, kFollow, kRewind

  bool operator==(const Action&) const = default;
};

struct Decision {
  std::vector<Action> actions;
  std::string rule;    // the id of the rule that fired, e.g. "leader.renew"
  std::string reason;  // one line for the log
  // Failsafe mode: we go on leading although the lock was not renewed.
  bool leads_without_renewal = false;
};

// The one "now" of a decision: monotonic for timeouts, wall for schedules.
struct DecisionTime {
  MonoTime mono;
  WallTime wall;
};

Decision decide(const dcs::ClusterSnapshot& cluster, const LocalObservation& local, const HaSettings& settings,
                DecisionTime now);

// Patroni's slot name for a member: lower case, anything but [a-z0-9_]
// becomes '_'.
std::string slotNameFor(const std::string& member_name);

// A permanent slot of /config is physical unless its type says otherwise.
bool isPhysicalSlot(const std::map<std::string, std::string>& fields);

// The physical slots a member keeps: one per member that streams from it
// (use_slots; the leader serves every member without a running
// replicatefrom) and every permanent physical slot of `permanent` (replicas
// keep copies of those, so that they survive a failover). Pure; the agent
// applies it.
std::set<std::string> desiredPhysicalSlots(const dcs::ClusterSnapshot& cluster, const std::string& self, bool use_slots,
                                           const std::map<std::string, std::map<std::string, std::string>>& permanent);

// The rule table, for docs and tests: id and the "when ..." sentence.
struct RuleInfo {
  const char* id;
  const char* when;
};
const std::vector<RuleInfo>& ruleTable();

// Among the members that may take over, is `settings.name` one of the best?
// (Highest WAL position; higher failover_priority at equal position; lag to
// the leader's last known optime within maximum_lag_on_failover.) Returns the
// reason when it is not.
std::optional<std::string> whyNotHealthiest(const dcs::ClusterSnapshot& cluster, const LocalObservation& local,
                                            const HaSettings& settings);

}  // namespace pgtandem::agent
