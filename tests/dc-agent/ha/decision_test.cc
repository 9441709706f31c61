// The HA rules, table-driven: snapshot + local observation + settings ->
// rule id and actions. No etcd, no PostgreSQL.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "dc-agent/ha/decision.h"

namespace pgtandem::agent {
namespace {

using namespace std::chrono_literals;
using K = ActionKind;

dcs::MemberInfo member(const std::string& name, const std::string& role, Lsn position, const std::string& state = "running") {
  dcs::MemberInfo m;
  m.name = name;
  m.role = role;
  m.state = state;
  m.xlog_location = position;
  return m;
}

// A builder for snapshots: cluster().leader("n1").member(...)
struct Snap {
  dcs::ClusterSnapshot s;
  Snap() { s.initialize = "7000"; }
  Snap& uninitialized() { s.initialize.reset(); return *this; }
  Snap& initializing() { s.initialize = ""; return *this; }
  Snap& leader(const std::string& name) { s.leader = dcs::LeaderInfo{name, 5, 1}; return *this; }
  Snap& add(dcs::MemberInfo m) { s.members.push_back(std::move(m)); return *this; }
  Snap& failover(const std::string& from, const std::string& to, const std::string& at = "") {
    s.failover = dcs::FailoverInfo{from, to, at, 9};
    return *this;
  }
  Snap& optime(Lsn lsn) { s.status = dcs::StatusInfo{lsn, {}, {}, 3}; return *this; }
};

LocalObservation replica(Lsn position, const std::string& following = "n1") {
  LocalObservation l;
  l.data_initialized = true;
  l.system_id = "7000";
  l.pg_running = true;
  l.pg_primary = false;
  l.wal_position = position;
  l.following = following;
  return l;
}

LocalObservation primary(Lsn position) {
  LocalObservation l = replica(position, "");
  l.pg_primary = true;
  return l;
}

LocalObservation empty() { return LocalObservation{}; }

LocalObservation stopped_primary() {
  LocalObservation l = primary(10);
  l.pg_running = false;
  l.pg_primary = false;
  return l;
}

struct Row {
  std::string name;
  dcs::ClusterSnapshot cluster;
  LocalObservation local;
  std::function<void(HaSettings&)> tweak;
  std::string rule;
  std::vector<Action> actions;
};

const DecisionTime kNow{MonoTime(std::chrono::hours(10)), WallTime(std::chrono::seconds(1'800'000'000))};

std::vector<Row> rows() {
  auto me = [](HaSettings&) {};
  std::vector<Row> r;
  // The lease deadline comes before everything: a leading primary past it
  // demotes whether or not the DCS answers.
  auto past_deadline = primary(100);
  past_deadline.lease_deadline = kNow.mono - 1ms;
  r.push_back({"leading primary past its lease deadline", Snap().leader("n2").s, past_deadline, me, "leader.lease_deadline",
               {{K::kDemote, ""}}});
  auto past_deadline_no_dcs = past_deadline;
  past_deadline_no_dcs.dcs_ok = false;
  r.push_back({"leading primary past its lease deadline, DCS unreadable", Snap().leader("n2").s, past_deadline_no_dcs, me,
               "leader.lease_deadline", {{K::kDemote, ""}}});
  auto at_deadline = primary(100);
  at_deadline.lease_deadline = kNow.mono;
  r.push_back({"leading primary exactly at its lease deadline", Snap().leader("n2").s, at_deadline, me,
               "leader.lease_deadline", {{K::kDemote, ""}}});
  auto before_deadline = primary(100);
  before_deadline.lease_deadline = kNow.mono + 1ms;
  r.push_back({"leading primary before its lease deadline renews", Snap().leader("n2").s, before_deadline, me,
               "leader.renew", {{K::kRenewLock, ""}}});
  r.push_back({"paused primary past its lease deadline is left alone", Snap().leader("n2").s, past_deadline,
               [](HaSettings& s) { s.pause = true; }, "paused", {{K::kRenewLock, ""}}});
  auto replica_past_deadline = replica(100);
  replica_past_deadline.lease_deadline = kNow.mono - 1s;
  r.push_back({"leader in recovery past its deadline renews before it promotes", Snap().leader("n2").s,
               replica_past_deadline, me, "leader.promote", {{K::kRenewLock, ""}, {K::kPromote, ""}}});
  auto lost_dcs = primary(100);
  lost_dcs.dcs_ok = false;
  r.push_back({"primary loses the DCS", Snap().leader("n2").s, lost_dcs, me, "dcs.unreachable.primary", {{K::kDemote, ""}}});
  // Failsafe mode (failsafe.h): only a round every member acknowledged
  // keeps the primary; a lost compare-and-set never does.
  auto failsafe_kept = lost_dcs;
  failsafe_kept.failsafe_acknowledged = true;
  failsafe_kept.lease_deadline = kNow.mono + 5s;
  r.push_back({"failsafe: DCS lost, every member acknowledged", Snap().leader("n2").s, failsafe_kept, me, "failsafe.primary", {}});
  auto failsafe_renewal = primary(100);
  failsafe_renewal.lock_renewal_failed = true;
  failsafe_renewal.failsafe_acknowledged = true;
  r.push_back({"failsafe: renewal did not get through, every member acknowledged", Snap().leader("n2").s, failsafe_renewal, me,
               "failsafe.primary", {}});
  auto failsafe_expired = failsafe_kept;
  failsafe_expired.lease_deadline = kNow.mono - 1ms;
  r.push_back({"failsafe: past the failsafe deadline", Snap().leader("n2").s, failsafe_expired, me, "leader.lease_deadline",
               {{K::kDemote, ""}}});
  r.push_back({"failsafe: paused", Snap().leader("n2").s, failsafe_kept, [](HaSettings& s) { s.pause = true; }, "dcs.unreachable",
               {}});
  auto failsafe_healthy = primary(100);
  failsafe_healthy.failsafe_acknowledged = true;
  r.push_back({"failsafe: the DCS answers, renew as usual", Snap().leader("n2").s, failsafe_healthy, me, "leader.renew",
               {{K::kRenewLock, ""}}});
  auto lost_dcs_replica = replica(100);
  lost_dcs_replica.dcs_ok = false;
  r.push_back({"replica loses the DCS", Snap().leader("n1").s, lost_dcs_replica, me, "dcs.unreachable", {}});
  r.push_back({"paused leader only renews", Snap().leader("n2").s, primary(1), [](HaSettings& s) { s.pause = true; },
               "paused", {{K::kRenewLock, ""}}});
  r.push_back({"paused replica does nothing, even unlocked", Snap().s, replica(1), [](HaSettings& s) { s.pause = true; },
               "paused", {}});
  auto busy_leader = primary(1);
  busy_leader.long_action_running = true;
  r.push_back({"leader busy bootstrapping keeps its lock", Snap().leader("n2").s, busy_leader, me, "busy", {{K::kRenewLock, ""}}});
  auto busy_replica = empty();
  busy_replica.long_action_running = true;
  r.push_back({"replica busy cloning", Snap().leader("n1").s, busy_replica, me, "busy", {}});
  r.push_back({"data but no initialize key: restore it", Snap().uninitialized().s, replica(1), me, "bootstrap.restore_key",
               {{K::kRaceInitialize, ""}}});
  r.push_back({"fresh cluster: race to bootstrap", Snap().uninitialized().s, empty(), me, "bootstrap.race",
               {{K::kRaceInitialize, ""}, {K::kBootstrap, ""}}});
  r.push_back({"someone else bootstraps", Snap().initializing().s, empty(), me, "bootstrap.wait", {}});
  r.push_back({"no data, no leader", Snap().s, empty(), me, "clone.wait", {}});
  r.push_back({"no data: clone from the leader", Snap().leader("n1").add(member("n1", "primary", 10)).s, empty(), me,
               "clone", {{K::kClone, "n1"}}});
  auto clonefrom = member("n3", "replica", 10);
  clonefrom.tags.clonefrom = true;
  r.push_back({"no data: clone from a clonefrom member", Snap().leader("n1").add(member("n1", "primary", 10)).add(clonefrom).s,
               empty(), me, "clone", {{K::kClone, "n3"}}});
  auto foreign = replica(10);
  foreign.system_id = "9999";
  r.push_back({"foreign data directory", Snap().leader("n1").s, foreign, me, "sysid.mismatch", {}});
  auto renew_failed = primary(10);
  renew_failed.lock_renewal_failed = true;
  r.push_back({"leader fails to renew", Snap().leader("n2").s, renew_failed, me, "leader.renew_failed", {{K::kDemote, ""}}});
  auto down = replica(10);
  down.pg_running = false;
  auto down_briefly = down;
  down_briefly.primary_down_since = kNow.mono - 5s;
  r.push_back({"leader's PostgreSQL crashed", Snap().leader("n2").s, down_briefly, me, "leader.start",
               {{K::kRenewLock, ""}, {K::kStartPrimary, ""}}});
  auto down_long = down;
  down_long.primary_down_since = kNow.mono - 301s;
  r.push_back({"leader's PostgreSQL stays down", Snap().leader("n2").s, down_long, me, "leader.start_timeout",
               {{K::kReleaseLock, ""}}});
  r.push_back({"won the lock while in recovery: promote", Snap().leader("n2").s, replica(10), me, "leader.promote",
               {{K::kRenewLock, ""}, {K::kPromote, ""}}});
  r.push_back({"steady leader", Snap().leader("n2").s, primary(10), me, "leader.renew", {{K::kRenewLock, ""}}});
  r.push_back({"switchover to a healthy replica", Snap().leader("n2").add(member("n3", "replica", 10)).failover("n2", "n3").s,
               primary(10), me, "leader.switchover", {{K::kDemote, ""}, {K::kReleaseLock, ""}}});
  r.push_back({"switchover to any healthy replica", Snap().leader("n2").add(member("n3", "replica", 10)).failover("n2", "").s,
               primary(10), me, "leader.switchover", {{K::kDemote, ""}, {K::kReleaseLock, ""}}});
  r.push_back({"switchover to an unknown member is cancelled", Snap().leader("n2").failover("n2", "nx").s, primary(10), me,
               "leader.switchover", {{K::kRenewLock, ""}, {K::kClearFailover, ""}}});
  r.push_back({"switchover to a stopped member is cancelled",
               Snap().leader("n2").add(member("n3", "replica", 10, "stopped")).failover("n2", "n3").s, primary(10), me,
               "leader.switchover", {{K::kRenewLock, ""}, {K::kClearFailover, ""}}});
  r.push_back({"scheduled switchover in the future waits",
               Snap().leader("n2").add(member("n3", "replica", 10)).failover("n2", "n3", "2030-01-01T00:00:00+00:00").s,
               primary(10), me, "leader.renew", {{K::kRenewLock, ""}}});
  r.push_back({"scheduled switchover in the past runs",
               Snap().leader("n2").add(member("n3", "replica", 10)).failover("n2", "n3", "2026-01-01T00:00:00Z").s,
               primary(10), me, "leader.switchover", {{K::kDemote, ""}, {K::kReleaseLock, ""}}});
  r.push_back({"another leader: demote our primary", Snap().leader("n1").s, primary(10), me, "follower.demote", {{K::kDemote, ""}}});
  auto diverged = down;
  diverged.needs_rewind = true;
  r.push_back({"former primary rewinds, then follows", Snap().leader("n1").s, diverged, me, "follower.rewind",
               {{K::kRewind, "n1"}, {K::kFollow, "n1"}}});
  auto stuck = replica(10, "n1");
  stuck.timeline = 1;
  stuck.not_streaming_since = kNow.mono - 30s;
  stuck.upstream = PeerState{true, true, 2, 20, std::nullopt};
  auto leader_tl2 = member("n1", "primary", 20);
  leader_tl2.timeline = 2;
  r.push_back({"standby stuck behind a newer timeline rewinds", Snap().leader("n1").add(leader_tl2).s, stuck, me,
               "follower.diverged", {{K::kDemote, ""}, {K::kRewind, "n1"}, {K::kFollow, "n1"}}});
  auto before_fork = stuck;
  before_fork.upstream->fork_lsn = 10;
  r.push_back({"standby behind a newer timeline but not past its fork: only reconnects", Snap().leader("n1").add(leader_tl2).s,
               before_fork, me, "follower.steady", {}});
  auto not_consistent = stuck;
  not_consistent.timeline = 0;  // it does not answer yet
  r.push_back({"standby not answering yet behind a newer timeline: waits", Snap().leader("n1").add(leader_tl2).s,
               not_consistent, me, "follower.steady", {}});
  auto not_asked = stuck;
  not_asked.upstream.reset();
  r.push_back({"standby behind a newer timeline, upstream not asked this loop: waits", Snap().leader("n1").add(leader_tl2).s,
               not_asked, me, "follower.steady", {}});
  auto briefly = stuck;
  briefly.not_streaming_since = kNow.mono - 5s;
  r.push_back({"standby not streaming only briefly waits", Snap().leader("n1").add(leader_tl2).s, briefly, me,
               "follower.steady", {}});
  auto same_tl = member("n1", "primary", 20);
  same_tl.timeline = 1;
  auto pointed_elsewhere = stuck;
  pointed_elsewhere.following = "n9";
  r.push_back({"a standby still pointed at the old leader re-points first", Snap().leader("n1").add(leader_tl2).s,
               pointed_elsewhere, me, "follower.follow", {{K::kFollow, "n1"}}});
  r.push_back({"standby not streaming on the leader's timeline waits", Snap().leader("n1").add(same_tl).s, stuck, me,
               "follower.steady", {}});
  r.push_back({"replica follows a new leader", Snap().leader("n3").s, replica(10, "n1"), me, "follower.follow", {{K::kFollow, "n3"}}});
  r.push_back({"stopped replica starts following", Snap().leader("n1").s, down, me, "follower.follow", {{K::kFollow, "n1"}}});
  r.push_back({"replicatefrom a running member", Snap().leader("n1").add(member("n3", "replica", 10)).s, replica(10, "n1"),
               [](HaSettings& s) { s.replicatefrom = "n3"; }, "follower.follow", {{K::kFollow, "n3"}}});
  r.push_back({"replicatefrom a dead member falls back to the leader", Snap().leader("n1").s, replica(10, "n1"),
               [](HaSettings& s) { s.replicatefrom = "n3"; }, "follower.steady", {}});
  r.push_back({"steady replica", Snap().leader("n1").s, replica(10, "n1"), me, "follower.steady", {}});
  r.push_back({"manual failover to me", Snap().failover("", "n2").add(member("n2", "replica", 10)).s, replica(10), me,
               "unlocked.failover", {{K::kAcquireLock, ""}, {K::kPromote, ""}, {K::kClearFailover, ""}}});
  r.push_back({"manual failover to another member", Snap().failover("", "n3").add(member("n3", "replica", 1)).s, replica(10), me,
               "unlocked.failover", {}});
  r.push_back({"unlocked running primary re-takes the lock", Snap().s, primary(10), me, "unlocked.primary", {{K::kAcquireLock, ""}}});
  r.push_back({"unlocked primary with another primary demotes", Snap().add(member("n3", "primary", 10)).s, primary(10), me,
               "unlocked.primary", {{K::kDemote, ""}}});
  r.push_back({"unlocked and stopped: start read-only", Snap().s, down, me, "unlocked.start", {{K::kFollow, ""}}});
  r.push_back({"unlocked, nofailover", Snap().s, replica(10), [](HaSettings& s) { s.nofailover = true; }, "unlocked.ineligible", {}});
  r.push_back({"unlocked, priority 0", Snap().s, replica(10), [](HaSettings& s) { s.failover_priority = 0; }, "unlocked.ineligible", {}});
  r.push_back({"unlocked, another member is ahead", Snap().add(member("n3", "replica", 20)).s, replica(10), me,
               "unlocked.not_healthiest", {}});
  auto preferred = member("n3", "replica", 10);
  preferred.tags.failover_priority = 5;
  r.push_back({"unlocked, same position but higher priority elsewhere", Snap().add(preferred).s, replica(10), me,
               "unlocked.not_healthiest", {}});
  r.push_back({"unlocked, too far behind the last optime", Snap().optime(10'000'000).s, replica(10), me,
               "unlocked.not_healthiest", {}});
  auto heard = replica(10);
  heard.failsafe_leader_heard = true;
  auto failsafe_on = [](HaSettings& s) { s.failsafe_mode = true; };
  r.push_back({"failsafe: a leader's heartbeat within ttl holds the race back", Snap().s, heard, failsafe_on,
               "failsafe.leader_alive", {}});
  r.push_back({"failsafe: ... and a manual failover", Snap().add(member("n2", "replica", 10)).failover("", "n2").s, heard,
               failsafe_on, "failsafe.leader_alive", {}});
  r.push_back({"failsafe off: a heartbeat means nothing", Snap().s, heard, me, "unlocked.race",
               {{K::kAcquireLock, ""}, {K::kPromote, ""}}});
  auto listed = Snap().s;
  listed.failsafe = {{"n1", "http://n1/patroni"}, {"n3", "http://n3/patroni"}};
  r.push_back({"failsafe: not listed in /failsafe, no race", listed, replica(10), failsafe_on, "unlocked.not_healthiest", {}});
  listed.failsafe["n2"] = "http://n2/patroni";
  r.push_back({"failsafe: listed in /failsafe, race", listed, replica(10), failsafe_on, "unlocked.race",
               {{K::kAcquireLock, ""}, {K::kPromote, ""}}});
  auto ahead_but_nofailover = member("n3", "replica", 20);
  ahead_but_nofailover.tags.nofailover = true;
  r.push_back({"unlocked, the member ahead may not be promoted", Snap().add(ahead_but_nofailover).s, replica(10), me,
               "unlocked.race", {{K::kAcquireLock, ""}, {K::kPromote, ""}}});
  auto synced = Snap().add(member("n3", "replica", 10)).s;
  synced.sync = dcs::SyncInfo{"n1", {"n3"}, std::nullopt, 4};
  r.push_back({"sync mode: not in /sync", synced, replica(20), [](HaSettings& s) { s.synchronous_mode = true; },
               "unlocked.not_synchronous", {}});
  r.push_back({"sync mode: /sync gone or garbage, fail closed", Snap().add(member("n3", "replica", 10)).s, replica(20),
               [](HaSettings& s) { s.synchronous_mode = true; }, "unlocked.not_synchronous", {}});
  auto synced_me = Snap().add(member("n3", "replica", 50)).s;
  synced_me.sync = dcs::SyncInfo{"n1", {"n2"}, std::nullopt, 4};
  r.push_back({"sync mode: in /sync, an async member ahead does not block", synced_me, replica(10),
               [](HaSettings& s) { s.synchronous_mode = true; }, "unlocked.race", {{K::kAcquireLock, ""}, {K::kPromote, ""}}});
  auto stale_but_fresh_peer = replica(10);
  stale_but_fresh_peer.peers["n3"] = PeerState{true, false, 0, 20, std::nullopt};
  r.push_back({"unlocked, a peer's fresh position is ahead of its member key", Snap().add(member("n3", "replica", 5)).s,
               stale_but_fresh_peer, me, "unlocked.not_healthiest", {}});
  auto peer_primary = replica(10);
  peer_primary.peers["n3"] = PeerState{true, true, 0, 5, std::nullopt};
  r.push_back({"unlocked, a peer is still a running primary", Snap().add(member("n3", "replica", 5)).s, peer_primary, me,
               "unlocked.not_healthiest", {}});
  auto peer_dead = replica(10);
  peer_dead.peers["n3"] = PeerState{false, false, 0, std::nullopt, std::nullopt};
  r.push_back({"unlocked, an unreachable peer does not block", Snap().add(member("n3", "replica", 50)).s, peer_dead, me,
               "unlocked.race", {{K::kAcquireLock, ""}, {K::kPromote, ""}}});
  r.push_back({"unlocked and healthiest: race", Snap().add(member("n3", "replica", 5)).s, replica(10), me, "unlocked.race",
               {{K::kAcquireLock, ""}, {K::kPromote, ""}}});
  // Standby cluster: the lock holder follows the remote primary, never promotes.
  auto standby = [](HaSettings& s) { s.standby_cluster = true; };
  r.push_back({"standby cluster: race clones the remote primary", Snap().uninitialized().s, empty(), standby,
               "bootstrap.race", {{K::kRaceInitialize, ""}, {K::kBootstrap, kRemotePrimary}}});
  auto standby_down = replica(10, kRemotePrimary);
  standby_down.pg_running = false;
  r.push_back({"standby leader's PostgreSQL is down", Snap().leader("n2").s, standby_down, standby, "standby_leader.start",
               {{K::kRenewLock, ""}, {K::kFollow, kRemotePrimary}}});
  r.push_back({"standby leader that is a primary demotes", Snap().leader("n2").s, primary(10), standby,
               "standby_leader.demote", {{K::kRenewLock, ""}, {K::kCleanDemote, ""}}});
  r.push_back({"new standby leader follows the remote", Snap().leader("n2").s, replica(10, "n1"), standby,
               "standby_leader.follow", {{K::kRenewLock, ""}, {K::kFollow, kRemotePrimary}}});
  // A DC fenced by the coordinator (site key): no writes, nobody promotes.
  auto fenced = [](dcs::SiteRole role = dcs::SiteRole::kFenced) {
    Snap snap;
    dcs::SiteState site;
    site.role = role;
    site.epoch = 4;
    snap.s.site = site;
    return snap;
  };
  // The stop comes before the renewal: a renewal that fails must not skip it.
  r.push_back({"fenced leader stops its primary cleanly", fenced().leader("n2").s, primary(10), me, "site.fenced",
               {{K::kCleanDemote, ""}, {K::kRenewLock, ""}}});
  r.push_back({"a primary in a DC whose site is a standby stops too", fenced(dcs::SiteRole::kStandby).leader("n2").s, primary(10), me,
               "site.fenced", {{K::kCleanDemote, ""}, {K::kRenewLock, ""}}});
  // Fail closed: a site key that is garbage, or gone after we saw it.
  auto garbled = primary(10);
  garbled.site_unreadable = "the site key cannot be parsed: expected an object";
  r.push_back({"a garbled site key fences the DC: its primary stops", Snap().leader("n2").s, garbled, me, "site.fenced",
               {{K::kCleanDemote, ""}, {K::kRenewLock, ""}}});
  auto garbled_replica = replica(20, "");
  garbled_replica.site_unreadable = "the site key disappeared";
  r.push_back({"a vanished site key: nobody takes the free lock", Snap().add(member("n1", "replica", 10)).s,
               garbled_replica, me, "site.fenced", {}});
  // watchdog.mode required and the device cannot be armed.
  auto no_watchdog = primary(10);
  no_watchdog.watchdog_unusable = true;
  r.push_back({"required watchdog unusable: the leader demotes and lets go", Snap().leader("n2").s, no_watchdog, me,
               "watchdog.required", {{K::kDemote, ""}, {K::kReleaseLock, ""}}});
  auto no_watchdog_replica = replica(20, "");
  no_watchdog_replica.watchdog_unusable = true;
  r.push_back({"required watchdog unusable: nobody takes the free lock", Snap().add(member("n1", "replica", 10)).s,
               no_watchdog_replica, me, "watchdog.required", {}});
  r.push_back({"required watchdog unusable: a replica still follows", Snap().leader("n1").s,
               [] {
                 auto o = replica(10, "n1");
                 o.watchdog_unusable = true;
                 return o;
               }(),
               me, "follower.steady", {}});
  // The fence wins over maintenance mode.
  r.push_back({"paused, yet fenced: the primary stops", fenced().leader("n2").s, primary(10),
               [](HaSettings& s) { s.pause = true; }, "site.fenced", {{K::kCleanDemote, ""}, {K::kRenewLock, ""}}});
  r.push_back({"paused and fenced, already stopped: paused", fenced().leader("n2").s, stopped_primary(),
               [](HaSettings& s) { s.pause = true; }, "paused", {{K::kRenewLock, ""}}});
  auto stopped = primary(10);
  stopped.pg_running = false;
  stopped.pg_primary = false;
  r.push_back({"fenced leader stays stopped and keeps publishing its token", fenced().leader("n2").s, stopped, me,
               "site.fenced", {{K::kRenewLock, ""}, {K::kCleanDemote, ""}}});
  r.push_back({"fenced leader in recovery does not promote", fenced().leader("n2").s, replica(10, ""), me, "site.fenced",
               {{K::kRenewLock, ""}}});
  r.push_back({"fenced DC without a leader: nobody takes the lock", fenced().add(member("n1", "replica", 10)).s,
               replica(20, ""), me, "site.fenced", {}});
  r.push_back({"fenced DC: a stray primary that does not lead stops", fenced().leader("n1").s, primary(10), me,
               "site.fenced", {{K::kCleanDemote, ""}}});
  r.push_back({"fenced DC: a replica keeps following its leader", fenced().leader("n1").s, replica(10, "n1"), me,
               "follower.steady", {}});
  r.push_back({"a fenced DC that is already a standby cluster follows the standby rules", fenced(dcs::SiteRole::kStandby).leader("n2").s,
               replica(10, kRemotePrimary), standby, "leader.renew", {{K::kRenewLock, ""}}});
  // A switchover to this DC: only a member with every commit before the
  // other DC's demotion token may be promoted.
  auto taking_over = [](std::optional<std::string> leader) {
    Snap snap;
    dcs::SiteState site;
    site.role = dcs::SiteRole::kPrimary;
    site.epoch = 5;
    site.peer = dcs::PeerSite{"dc1", {"10.0.1.1:2379"}, "/service/", "pg"};
    site.token = dcs::DemotionToken{"7000", 3, 1000, "000000030000000000000001", "dc1", true};
    snap.s.site = site;
    if (leader) snap.leader(*leader);
    return snap;
  };
  auto on_timeline = [](LocalObservation l, int timeline) {
    l.timeline = timeline;
    return l;
  };
  r.push_back({"taking over: a leader behind the token gives the lock up", taking_over("n2").s,
               on_timeline(replica(900, ""), 3), me, "site.token_gate", {{K::kReleaseLock, ""}}});
  r.push_back({"taking over: a leader on an older timeline gives the lock up", taking_over("n2").s,
               on_timeline(replica(2000, ""), 2), me, "site.token_gate", {{K::kReleaseLock, ""}}});
  r.push_back({"taking over: a member behind the token does not take the free lock", taking_over(std::nullopt).s,
               on_timeline(replica(900, ""), 3), me, "site.token_gate", {}});
  auto crashed = replica(0, "");
  crashed.pg_running = false;
  crashed.wal_position.reset();
  crashed.timeline = 0;
  r.push_back({"taking over: a crashed member starts read-only to learn whether it has the token",
               taking_over(std::nullopt).s, crashed, me, "site.token_gate", {{K::kFollow, ""}}});
  r.push_back({"taking over: a leader at the token promotes", taking_over("n2").s, on_timeline(replica(1000, ""), 3), me,
               "leader.promote", {{K::kRenewLock, ""}, {K::kPromote, ""}}});
  r.push_back({"taking over: a member behind the token still follows its leader", taking_over("n1").s,
               on_timeline(replica(900, "n1"), 3), me, "follower.steady", {}});
  // The other DC's site key (peer): superseded, or not yet confirmed.
  auto withPeer = [](LocalObservation l, std::optional<dcs::SiteRole> role, std::int64_t epoch, bool confirmed = true) {
    l.peer_site = PeerSiteView{true, role, epoch};
    l.site_confirmed = confirmed;
    return l;
  };
  r.push_back({"the other DC is primary at a newer epoch: our primary stops", fenced(dcs::SiteRole::kPrimary).leader("n2").s,
               withPeer(primary(10), dcs::SiteRole::kPrimary, 5), me, "site.fenced", {{K::kCleanDemote, ""}, {K::kRenewLock, ""}}});
  r.push_back({"the other DC is primary at the same epoch: both fence", fenced(dcs::SiteRole::kPrimary).leader("n2").s,
               withPeer(primary(10), dcs::SiteRole::kPrimary, 4), me, "site.fenced", {{K::kCleanDemote, ""}, {K::kRenewLock, ""}}});
  r.push_back({"the other DC is primary at an older epoch: nothing changes", fenced(dcs::SiteRole::kPrimary).leader("n2").s,
               withPeer(primary(10), dcs::SiteRole::kPrimary, 3), me, "leader.renew", {{K::kRenewLock, ""}}});
  r.push_back({"unconfirmed epoch: a running primary goes on", fenced(dcs::SiteRole::kPrimary).leader("n2").s,
               withPeer(primary(10), std::nullopt, 0, false), me, "leader.renew", {{K::kRenewLock, ""}}});
  r.push_back({"unconfirmed epoch: the leader does not start a primary", fenced(dcs::SiteRole::kPrimary).leader("n2").s,
               withPeer(stopped, std::nullopt, 0, false), me, "site.fenced", {{K::kRenewLock, ""}}});
  r.push_back({"unconfirmed epoch: nobody takes the free lock", fenced(dcs::SiteRole::kPrimary).add(member("n1", "replica", 10)).s,
               withPeer(replica(20, ""), std::nullopt, 0, false), me, "site.fenced", {}});
  r.push_back({"site role primary changes nothing", fenced(dcs::SiteRole::kPrimary).leader("n2").s, primary(10), me, "leader.renew",
               {{K::kRenewLock, ""}}});
  r.push_back({"standby leader without data clones the remote", Snap().leader("n2").s, empty(), standby,
               "standby_leader.clone", {{K::kRenewLock, ""}, {K::kClone, kRemotePrimary}}});
  auto standby_stuck = replica(10, kRemotePrimary);
  standby_stuck.timeline = 3;
  standby_stuck.not_streaming_since = kNow.mono - 30s;
  standby_stuck.upstream = PeerState{true, true, 4, 50, std::nullopt};
  r.push_back({"standby leader stuck behind the remote's newer timeline rewinds", Snap().leader("n2").s, standby_stuck,
               standby, "standby_leader.diverged",
               {{K::kRenewLock, ""}, {K::kDemote, ""}, {K::kRewind, kRemotePrimary}, {K::kFollow, kRemotePrimary}}});
  auto standby_not_consistent = standby_stuck;
  standby_not_consistent.timeline = 0;
  r.push_back({"standby leader not answering yet, remote on a newer timeline: wait", Snap().leader("n2").s,
               standby_not_consistent, standby, "leader.renew", {{K::kRenewLock, ""}}});
  auto standby_same_tl = standby_stuck;
  standby_same_tl.upstream->timeline = 3;
  r.push_back({"standby leader not streaming, remote on the same timeline: wait", Snap().leader("n2").s, standby_same_tl,
               standby, "leader.renew", {{K::kRenewLock, ""}}});
  auto standby_remote_down = standby_stuck;
  standby_remote_down.upstream = PeerState{};
  r.push_back({"standby leader not streaming, remote unreachable: wait (archive)", Snap().leader("n2").s,
               standby_remote_down, standby, "leader.renew", {{K::kRenewLock, ""}}});
  auto standby_before_fork = standby_stuck;
  standby_before_fork.upstream->fork_lsn = 10;  // we are at 10: not past it
  r.push_back({"standby leader not streaming, but not past the remote's fork: only reconnects", Snap().leader("n2").s,
               standby_before_fork, standby, "leader.renew", {{K::kRenewLock, ""}}});
  auto standby_past_fork = standby_stuck;
  standby_past_fork.upstream->fork_lsn = 9;
  r.push_back({"standby leader past the remote's fork rewinds", Snap().leader("n2").s, standby_past_fork, standby,
               "standby_leader.diverged",
               {{K::kRenewLock, ""}, {K::kDemote, ""}, {K::kRewind, kRemotePrimary}, {K::kFollow, kRemotePrimary}}});
  r.push_back({"steady standby leader renews, never promotes", Snap().leader("n2").s, replica(10, kRemotePrimary), standby,
               "leader.renew", {{K::kRenewLock, ""}}});
  r.push_back({"standby leader hands over on switchover", Snap().leader("n2").add(member("n1", "replica", 10)).failover("n2", "n1").s,
               replica(10, kRemotePrimary), standby, "leader.switchover", {{K::kDemote, ""}, {K::kReleaseLock, ""}}});
  r.push_back({"standby cluster: the healthiest takes the standby lock", Snap().s, replica(10, ""), standby, "unlocked.race",
               {{K::kAcquireLock, ""}, {K::kFollow, kRemotePrimary}}});
  r.push_back({"standby cluster: manual failover follows the remote", Snap().failover("", "n2").add(member("n2", "replica", 10)).s,
               replica(10, ""), standby, "unlocked.failover",
               {{K::kAcquireLock, ""}, {K::kFollow, kRemotePrimary}, {K::kClearFailover, ""}}});
  r.push_back({"standby cluster member cascades from the standby leader", Snap().leader("n1").add(member("n1", "replica", 10)).s,
               replica(10, kRemotePrimary), standby, "follower.follow", {{K::kFollow, "n1"}}});
  return r;
}

class DecisionTest : public ::testing::TestWithParam<Row> {};

TEST_P(DecisionTest, PicksTheRuleAndActions) {
  const Row& row = GetParam();
  HaSettings settings;
  settings.name = "n2";
  row.tweak(settings);
  const Decision d = decide(row.cluster, row.local, settings, kNow);
  EXPECT_EQ(d.rule, row.rule) << row.name << ": " << d.reason;
  EXPECT_EQ(d.actions, row.actions) << row.name << ": " << d.reason;
  // Only failsafe mode leads on without a renewal.
  EXPECT_EQ(d.leads_without_renewal, row.rule == "failsafe.primary") << row.name;
  EXPECT_FALSE(d.reason.empty());
}

INSTANTIATE_TEST_SUITE_P(Rules, DecisionTest, ::testing::ValuesIn(rows()), [](const auto& param_info) {
  std::string name = param_info.param.name;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
});

// Ordering duties, checked over every row of the table.
TEST(DecisionDuties, PromoteOnlyWithTheLockAndReleaseOnlyAfterDemote) {
  for (const auto& row : rows()) {
    HaSettings settings;
    settings.name = "n2";
    row.tweak(settings);
    const Decision d = decide(row.cluster, row.local, settings, kNow);
    const bool holds = row.cluster.leader && row.cluster.leader->name == "n2";
    bool acquired = false, demoted = !row.local.pg_primary;
    for (const auto& a : d.actions) {
      if (a.kind == K::kAcquireLock) acquired = true;
      if (a.kind == K::kDemote) demoted = true;
      if (a.kind == K::kPromote) {
        EXPECT_TRUE(holds || acquired) << row.name << ": promote without the lock";
      }
      if (a.kind == K::kReleaseLock) {
        EXPECT_TRUE(demoted) << row.name << ": release before demote";
      }
    }
  }
}

TEST(DecisionDuties, EveryRuleIsCoveredByTheTable) {
  std::set<std::string> fired;
  for (const auto& row : rows()) fired.insert(row.rule);
  for (const auto& info : ruleTable()) {
    EXPECT_TRUE(fired.count(info.id)) << "no test row exercises rule " << info.id;
  }
}

TEST(DecisionDocs, DocumentListsEveryRuleInOrder) {
  std::ifstream in(std::string(PGTANDEM_SOURCE_DIR) + "/docs/ha-rules.md");
  ASSERT_TRUE(in) << "docs/ha-rules.md is missing";
  std::stringstream text;
  text << in.rdbuf();
  std::size_t at = 0;
  for (const auto& info : ruleTable()) {
    const auto found = text.str().find(std::string("`") + info.id + "`", at);
    EXPECT_NE(found, std::string::npos) << "docs/ha-rules.md lacks rule " << info.id << " (or lists it out of order)";
    if (found != std::string::npos) at = found;
  }
}

TEST(Slots, NamesAndDesiredSet) {
  EXPECT_EQ(slotNameFor("Node-1.dc2"), "node_1_dc2");
  auto cluster = Snap().leader("n1").add(member("n1", "primary", 1)).add(member("N-2", "replica", 1)).s;
  std::map<std::string, std::map<std::string, std::string>> permanent{{"dr", {{"type", "physical"}}},
                                                                      {"cdc", {{"type", "logical"}}}};
  EXPECT_EQ(desiredPhysicalSlots(cluster, "n1", true, permanent), (std::set<std::string>{"dr", "n_2"}));
  EXPECT_EQ(desiredPhysicalSlots(cluster, "n1", false, permanent), (std::set<std::string>{"dr"}));
  EXPECT_EQ(desiredPhysicalSlots(cluster, "N-2", true, permanent), (std::set<std::string>{"dr"})) << "a replica keeps copies";
  // A member that cascades from a running replica has its slot there, not
  // on the leader (where nobody would read it and WAL would pile up).
  auto cascading = member("n3", "replica", 1);
  cascading.tags.replicatefrom = "N-2";
  auto with_cascade = Snap().leader("n1").add(member("n1", "primary", 1)).add(member("N-2", "replica", 1)).add(cascading).s;
  EXPECT_EQ(desiredPhysicalSlots(with_cascade, "n1", true, {}), (std::set<std::string>{"n_2"}));
  EXPECT_EQ(desiredPhysicalSlots(with_cascade, "N-2", true, {}), (std::set<std::string>{"n3"}));
  // Its upstream is gone: it streams from the leader, whose slot it gets.
  auto orphan = Snap().leader("n1").add(member("n1", "primary", 1)).add(cascading).s;
  EXPECT_EQ(desiredPhysicalSlots(orphan, "n1", true, {}), (std::set<std::string>{"n3"}));
}

TEST(IsoTime, ParsesPatroniTimestamps) {
  const auto base = parseIsoTime("2026-11-22T10:00:00+00:00");
  ASSERT_TRUE(base);
  EXPECT_EQ(parseIsoTime("2026-11-22T10:00:00Z"), base);
  EXPECT_EQ(parseIsoTime("2026-11-22T12:00:00+02:00"), base);
  EXPECT_EQ(parseIsoTime("2026-11-22T10:00:00.000+00:00"), base);
  EXPECT_FALSE(parseIsoTime("tomorrow"));
}

}  // namespace
}  // namespace pgtandem::agent
