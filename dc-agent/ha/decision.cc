#include "dc-agent/ha/decision.h"

#include "dc-agent/ha/site_check.h"
#include "dc-agent/ha/sync.h"
#include "common/dcs/candidates.h"
#include "common/util/lsn.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <functional>

namespace pgtandem::agent {

const char* const kRemotePrimary = "/remote-primary";

namespace {

using dcs::ClusterSnapshot;
using dcs::MemberInfo;

struct Context {
  const ClusterSnapshot& cluster;
  const LocalObservation& local;
  const HaSettings& settings;
  DecisionTime now;

  bool iAmLeader() const { return cluster.ledBy(settings.name); }
  std::string leaderName() const { return cluster.leader ? cluster.leader->name : std::string(); }
};

using Rule = std::function<std::optional<Decision>(const Context&)>;

struct RuleRow {
  RuleInfo info;
  Rule rule;
};

Decision make(const char* id, std::vector<Action> actions, std::string reason) {
  return Decision{std::move(actions), id, std::move(reason)};
}

bool eligible(const HaSettings& s) { return !s.nofailover && s.failover_priority > 0; }

// A member's WAL position as published in its member key.
std::optional<Lsn> publishedPosition(const MemberInfo& m) {
  std::optional<Lsn> best = m.xlog_location;
  for (const auto& v : {m.receive_lsn, m.replay_lsn}) {
    if (v && (!best || *v > *best)) best = v;
  }
  return best;
}

// The member `name` streams from: its replicatefrom when that is another
// running member, otherwise the leader ("" when there is none).
std::string upstreamOf(const ClusterSnapshot& cluster, const std::string& name, const std::string& replicatefrom) {
  if (!replicatefrom.empty() && replicatefrom != name) {
    const MemberInfo* m = cluster.member(replicatefrom);
    if (m && m->state == "running") return replicatefrom;
  }
  return cluster.leader ? cluster.leader->name : std::string();
}

// A standby on an older timeline than its upstream's can follow it only if
// it has not replayed past the point where the upstream's history left our
// timeline. Decided only in a loop that asked the upstream; when its history
// could not be read, assume it has.
bool pastTheFork(const LocalObservation& local) {
  if (!local.upstream) return false;  // not asked this loop
  // PostgreSQL does not answer yet (it replays towards consistency): our
  // timeline and position are unknown, and stopping it would only restart
  // that replay.
  if (local.timeline <= 0) return false;
  if (!local.upstream->fork_lsn || !local.wal_position) return true;
  return *local.wal_position > *local.upstream->fork_lsn;
}

// The other DC was promoted past our epoch (a disaster promotion while we
// were away): we are the stale side. Both primary at the same epoch: neither
// may write (the coordinator never uses an epoch twice), both fence.
bool siteSuperseded(const Context& c) {
  return c.cluster.site && c.local.peer_site && peerSupersedes(*c.local.peer_site, c.cluster.site->epoch);
}

// The site key says this DC must take no writes (a coordinator fenced it,
// or the other DC superseded it), and it is not (yet) a standby cluster,
// whose own rules keep it read-only.
bool siteFenced(const Context& c) {
  return dcFenced(c.cluster.site, c.local.site_unreadable, siteSuperseded(c), c.settings.standby_cluster);
}

// A writable DC whose member never saw the other DC agree with its epoch:
// a running primary goes on, but nobody becomes one.
bool siteUnconfirmed(const Context& c) {
  return c.cluster.site && c.cluster.site->writable() && !c.settings.standby_cluster && !c.local.site_confirmed;
}

// The other DC stopped its primary at this token for a switchover to this
// DC: a member that has not received everything up to it would lose the
// last commits if it were promoted.
bool behindTheToken(const Context& c) {
  const auto& site = c.cluster.site;
  if (!site || !site->writable() || !site->token || !site->peer || site->token->from_site != site->peer->site) return false;
  const auto& token = *site->token;
  return c.local.timeline < token.timeline || !c.local.wal_position || *c.local.wal_position < token.redo_lsn;
}

std::string upstreamFor(const Context& c) { return upstreamOf(c.cluster, c.settings.name, c.settings.replicatefrom); }

bool scheduledTimeReached(const dcs::FailoverInfo& failover, WallTime now) {
  if (failover.scheduled_at.empty()) return true;
  auto at = parseIsoTime(failover.scheduled_at);
  return at && *at <= now;
}

const std::vector<RuleRow>& rules() {
  static const std::vector<RuleRow> table = {
      {{"leader.lease_deadline", "we lead, PostgreSQL is a primary, and the lease deadline passed without a renewal: demote at once, before the lease can expire"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.local.lease_deadline || c.now.mono < *c.local.lease_deadline || !c.local.pg_primary || c.settings.pause) {
           return std::nullopt;
         }
         return make("leader.lease_deadline", {{ActionKind::kDemote, ""}},
                     "the lock was not renewed in time: demoting before the lease can expire and another member take over");
       }},
      {{"failsafe.primary", "failsafe mode: the DCS cannot be reached (or the renewal cannot get through), and every member in /failsafe answered this loop's POST /failsafe: stay primary"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.local.failsafe_acknowledged || !c.local.pg_primary || c.settings.pause) return std::nullopt;
         if (c.local.dcs_ok && !c.local.lock_renewal_failed) return std::nullopt;
         Decision stay = make("failsafe.primary", {},
                              "cannot reach the DCS, and every member acknowledged POST /failsafe: staying primary (failsafe mode)");
         stay.leads_without_renewal = true;
         return stay;
       }},
      {{"dcs.unreachable.primary", "the DCS cannot be read and PostgreSQL runs as a primary: demote"},
       [](const Context& c) -> std::optional<Decision> {
         if (c.local.dcs_ok || !c.local.pg_primary || c.settings.pause) return std::nullopt;
         return make("dcs.unreachable.primary", {{ActionKind::kDemote, ""}},
                     "cannot reach the DCS: demoting, a primary that cannot renew its lock must not keep writing");
       }},
      {{"dcs.unreachable", "the DCS cannot be read: change nothing and retry"},
       [](const Context& c) -> std::optional<Decision> {
         if (c.local.dcs_ok) return std::nullopt;
         return make("dcs.unreachable", {}, "cannot reach the DCS: waiting");
       }},
      {{"busy", "a bootstrap, clone or rewind is running: only keep the lock alive"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.local.long_action_running) return std::nullopt;
         if (c.iAmLeader()) return make("busy", {{ActionKind::kRenewLock, ""}}, "a long action is running; renewing the lock");
         return make("busy", {}, "a long action is running");
       }},
      {{"paused", "maintenance mode: no automatic action, the leader keeps its lock; a fenced DC's primary still stops (site.fenced)"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.settings.pause) return std::nullopt;
         // The fence wins over maintenance mode: a DC switchover or promotion
         // elsewhere must not leave this DC writable.
         if (siteFenced(c) && c.local.pg_primary) return std::nullopt;
         if (c.iAmLeader()) return make("paused", {{ActionKind::kRenewLock, ""}}, "paused: renewing the lock only");
         return make("paused", {}, "paused: no automatic action");
       }},
      {{"bootstrap.race", "no /initialize key and no data: race to create it, the winner bootstraps (a standby cluster: clones the remote primary)"},
       [](const Context& c) -> std::optional<Decision> {
         if (c.cluster.initialize || c.local.data_initialized) return std::nullopt;
         if (c.settings.standby_cluster) {
           return make("bootstrap.race", {{ActionKind::kRaceInitialize, ""}, {ActionKind::kBootstrap, kRemotePrimary}},
                       "the standby cluster is not initialized: racing to clone it from the remote primary");
         }
         return make("bootstrap.race", {{ActionKind::kRaceInitialize, ""}, {ActionKind::kBootstrap, ""}},
                     "the cluster is not initialized: racing to bootstrap it");
       }},
      {{"bootstrap.restore_key", "no /initialize key but a data directory: write our system ID if the key is still absent"},
       [](const Context& c) -> std::optional<Decision> {
         if (c.cluster.initialize || !c.local.data_initialized) return std::nullopt;
         return make("bootstrap.restore_key", {{ActionKind::kRaceInitialize, ""}},
                     "the /initialize key is missing: restoring it from our data directory");
       }},
      {{"bootstrap.wait", "another member is bootstrapping (empty /initialize): wait"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.cluster.initialize || !c.cluster.initialize->empty() || c.local.data_initialized) return std::nullopt;
         return make("bootstrap.wait", {}, "another member is bootstrapping the cluster: waiting");
       }},
      {{"standby_leader.clone", "we hold the standby leader lock and have no data (it was removed for a re-clone): clone the remote primary"},
       [](const Context& c) -> std::optional<Decision> {
         if (c.local.data_initialized || !c.iAmLeader() || !c.settings.standby_cluster) return std::nullopt;
         return make("standby_leader.clone", {{ActionKind::kRenewLock, ""}, {ActionKind::kClone, kRemotePrimary}},
                     "standby leader without data: cloning the remote primary");
       }},
      {{"clone.wait", "no data and no leader to clone from: wait"},
       [](const Context& c) -> std::optional<Decision> {
         if (c.local.data_initialized || c.cluster.leader) return std::nullopt;
         return make("clone.wait", {}, "no data and no leader to clone from: waiting");
       }},
      {{"clone", "no data and a leader exists: create a replica (from a clonefrom member if one runs)"},
       [](const Context& c) -> std::optional<Decision> {
         if (c.local.data_initialized) return std::nullopt;
         std::string source = c.leaderName();
         for (const auto& m : c.cluster.members) {
           if (m.tags.clonefrom && m.name != c.settings.name && m.state == "running") {
             source = m.name;
             break;
           }
         }
         return make("clone", {{ActionKind::kClone, source}}, "creating a replica from " + source);
       }},
      {{"sysid.mismatch", "our data belongs to another cluster (system ID differs): refuse to run"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.cluster.initialize || c.cluster.initialize->empty() || c.local.system_id.empty() ||
             c.local.system_id == *c.cluster.initialize) {
           return std::nullopt;
         }
         return make("sysid.mismatch", {},
                     "system ID " + c.local.system_id + " differs from the cluster's " + *c.cluster.initialize +
                         ": not starting (reinitialize this member)");
       }},
      {{"site.fenced", "the DC is fenced (site key), or the other DC is primary at a newer epoch: a primary stops cleanly and records the demotion token, the leader keeps its lock, nobody promotes; a member that never saw the other DC confirm our epoch does not become primary either"},
       [](const Context& c) -> std::optional<Decision> {
         const bool fenced = siteFenced(c);
         if (!fenced && !(siteUnconfirmed(c) && !c.local.pg_primary)) return std::nullopt;
         const std::string epoch =
             !c.local.site_unreadable.empty()
                 ? " (" + c.local.site_unreadable + ")"
                 : " (site epoch " + std::to_string(c.cluster.site->epoch) +
                       (siteSuperseded(c) ? ", the other DC is primary at epoch " + std::to_string(c.local.peer_site->epoch) : "") +
                       ")";
         if (!fenced) {
           // Not confirmed: only the promotions are held back.
           if (c.iAmLeader()) {
             return make("site.fenced", {{ActionKind::kRenewLock, ""}},
                         "the other DC has not confirmed our site epoch" + epoch + ": not starting a primary");
           }
           if (!c.cluster.leader && c.local.pg_running) {
             return make("site.fenced", {}, "the other DC has not confirmed our site epoch" + epoch + ": not taking the lock");
           }
           return std::nullopt;
         }
         if (c.local.pg_primary) {
           if (!c.iAmLeader()) {
             return make("site.fenced", {{ActionKind::kCleanDemote, ""}}, "the DC is fenced" + epoch + ": stopping this primary");
           }
           // The stop first: a renewal that fails must not skip it.
           return make("site.fenced", {{ActionKind::kCleanDemote, ""}, {ActionKind::kRenewLock, ""}},
                       "the DC is fenced" + epoch + ": stopping the primary cleanly and recording where it stopped");
         }
         if (c.iAmLeader()) {
           // Stopped where it stopped (the token stays valid) until the
           // coordinator turns this DC into a standby cluster.
           if (!c.local.pg_running) {
             return make("site.fenced", {{ActionKind::kRenewLock, ""}, {ActionKind::kCleanDemote, ""}},
                         "the DC is fenced" + epoch + ": PostgreSQL stays stopped, demotion token published");
           }
           return make("site.fenced", {{ActionKind::kRenewLock, ""}}, "the DC is fenced" + epoch + ": not promoting");
         }
         if (!c.cluster.leader && c.local.pg_running) {
           return make("site.fenced", {}, "the DC is fenced" + epoch + ": nobody takes the leader lock");
         }
         return std::nullopt;  // follow the leader, or start read-only (unlocked.start)
       }},
      {{"site.token_gate", "this DC takes over from the other DC's demotion token and our WAL is behind it (or on an older timeline): do not become primary; a leader gives the lock up for a member that has every commit"},
       [](const Context& c) -> std::optional<Decision> {
         if (c.settings.standby_cluster || c.local.pg_primary || !behindTheToken(c)) return std::nullopt;
         const auto& token = *c.cluster.site->token;
         const std::string why = "our WAL (timeline " + std::to_string(c.local.timeline) + ", " +
                                 (c.local.wal_position ? formatLsn(*c.local.wal_position) : std::string("none")) +
                                 ") is behind " + token.from_site + "'s demotion token (timeline " +
                                 std::to_string(token.timeline) + ", " + formatLsn(token.redo_lsn) + ")";
         if (c.iAmLeader()) {
           return make("site.token_gate", {{ActionKind::kReleaseLock, ""}}, why + ": releasing the lock, promoting would lose its last commits");
         }
         if (!c.cluster.leader && !c.local.pg_running) {
           // Its WAL may well hold the token (a crash after catch_up): it
           // must start to replay it and say where it is.
           return make("site.token_gate", {{ActionKind::kFollow, ""}}, why + ": starting PostgreSQL read-only to learn where it is");
         }
         if (!c.cluster.leader) return make("site.token_gate", {}, why + ": not taking the lock");
         return std::nullopt;  // follow the leader
       }},
      {{"watchdog.required", "watchdog.mode is required and the device cannot be armed: a leader of a writable DC demotes and releases the lock; nobody takes a free lock"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.local.watchdog_unusable || c.settings.standby_cluster) return std::nullopt;
         const std::string why = "the watchdog is required and cannot be armed";
         if (c.iAmLeader() && c.local.pg_primary) {
           return make("watchdog.required", {{ActionKind::kDemote, ""}, {ActionKind::kReleaseLock, ""}}, why + ": demoting and releasing the lock");
         }
         if (c.iAmLeader()) return make("watchdog.required", {{ActionKind::kReleaseLock, ""}}, why + ": releasing the lock");
         if (!c.cluster.leader) return make("watchdog.required", {}, why + ": not taking the lock");
         return std::nullopt;  // follow the leader
       }},
      // --- this member holds the leader lock ---
      {{"leader.renew_failed", "we are the leader, PostgreSQL is a primary, and renewing the lock failed: demote"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.iAmLeader() || !c.local.lock_renewal_failed || !c.local.pg_primary) return std::nullopt;
         return make("leader.renew_failed", {{ActionKind::kDemote, ""}},
                     "failed to renew the leader lock: demoting before the lease can expire");
       }},
      {{"leader.start_timeout", "we are the leader, PostgreSQL stayed down past primary_start_timeout: release the lock"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.iAmLeader() || c.local.pg_running || !c.local.primary_down_since) return std::nullopt;
         if (c.now.mono - *c.local.primary_down_since < c.settings.primary_start_timeout) return std::nullopt;
         return make("leader.start_timeout", {{ActionKind::kReleaseLock, ""}},
                     "PostgreSQL did not come back within primary_start_timeout: releasing the lock");
       }},
      // The standby leader of a standby cluster follows the remote primary.
      {{"standby_leader.start", "we are the standby leader and PostgreSQL is down: start it streaming from the remote primary"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.iAmLeader() || !c.settings.standby_cluster || c.local.pg_running) return std::nullopt;
         return make("standby_leader.start", {{ActionKind::kRenewLock, ""}, {ActionKind::kFollow, kRemotePrimary}},
                     "PostgreSQL is down on the standby leader: starting it as a standby of the remote primary");
       }},
      {{"standby_leader.demote", "we are the standby leader and PostgreSQL here is a primary: demote (a standby cluster has no primary)"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.iAmLeader() || !c.settings.standby_cluster || !c.local.pg_primary) return std::nullopt;
         return make("standby_leader.demote", {{ActionKind::kRenewLock, ""}, {ActionKind::kCleanDemote, ""}},
                     "this is a standby cluster: demoting the primary cleanly");
       }},
      {{"standby_leader.diverged", "the standby leader has not streamed for two loops and the remote primary is on a newer timeline: stop, rewind from it, follow"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.iAmLeader() || !c.settings.standby_cluster || !c.local.pg_running || c.local.pg_primary) return std::nullopt;
         if (c.local.following != kRemotePrimary || !c.local.not_streaming_since) return std::nullopt;
         if (c.now.mono - *c.local.not_streaming_since < 2 * c.settings.loop_wait) return std::nullopt;
         const auto& remote = c.local.upstream;
         if (!remote || !remote->reachable || !remote->primary || remote->timeline <= c.local.timeline) return std::nullopt;
         if (!pastTheFork(c.local)) return std::nullopt;  // it only needs to reconnect
         return make("standby_leader.diverged",
                     {{ActionKind::kRenewLock, ""}, {ActionKind::kDemote, ""}, {ActionKind::kRewind, kRemotePrimary},
                      {ActionKind::kFollow, kRemotePrimary}},
                     "not streaming, and the remote primary is on timeline " + std::to_string(remote->timeline) +
                         " while we are on " + std::to_string(c.local.timeline) + ": stopping to rewind from it");
       }},
      {{"standby_leader.follow", "we are the standby leader and do not stream from the remote primary: follow it"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.iAmLeader() || !c.settings.standby_cluster || c.local.following == kRemotePrimary) return std::nullopt;
         if (c.cluster.failover) return std::nullopt;  // a switchover goes first (leader.switchover)
         return make("standby_leader.follow", {{ActionKind::kRenewLock, ""}, {ActionKind::kFollow, kRemotePrimary}},
                     "standby leader: streaming from the remote primary");
       }},
      {{"leader.start", "we are the leader and PostgreSQL is down: start it as a primary"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.iAmLeader() || c.local.pg_running || c.settings.standby_cluster) return std::nullopt;
         return make("leader.start", {{ActionKind::kRenewLock, ""}, {ActionKind::kStartPrimary, ""}},
                     "PostgreSQL is down on the leader: starting it");
       }},
      {{"leader.promote", "we hold the lock and PostgreSQL is in recovery: promote (never in a standby cluster)"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.iAmLeader() || c.local.pg_primary || c.settings.standby_cluster) return std::nullopt;
         return make("leader.promote", {{ActionKind::kRenewLock, ""}, {ActionKind::kPromote, ""}},
                     "promoting: this member holds the leader lock");
       }},
      {{"leader.switchover", "we are the leader and /failover asks for another member: demote, then release"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.iAmLeader() || !c.cluster.failover) return std::nullopt;
         const auto& f = *c.cluster.failover;
         if (!f.leader.empty() && f.leader != c.settings.name) {
           return make("leader.switchover", {{ActionKind::kRenewLock, ""}, {ActionKind::kClearFailover, ""}},
                       "switchover from " + f.leader + " does not name this leader: cancelled");
         }
         if (f.candidate == c.settings.name) {
           return make("leader.switchover", {{ActionKind::kRenewLock, ""}, {ActionKind::kClearFailover, ""}},
                       "switchover to the current leader: nothing to do");
         }
         if (!scheduledTimeReached(f, c.now.wall)) return std::nullopt;  // leader.renew until then
         if (!f.candidate.empty()) {
           if (auto why = dcs::whyNotCandidate(c.cluster, f.candidate)) {
             return make("leader.switchover", {{ActionKind::kRenewLock, ""}, {ActionKind::kClearFailover, ""}},
                         "switchover cancelled: " + *why);
           }
         } else {
           const bool any = std::any_of(c.cluster.members.begin(), c.cluster.members.end(), [&](const MemberInfo& m) {
             return m.name != c.settings.name && dcs::eligibleCandidate(m);
           });
           if (!any) {
             return make("leader.switchover", {{ActionKind::kRenewLock, ""}, {ActionKind::kClearFailover, ""}},
                         "switchover cancelled: no healthy candidate");
           }
         }
         return make("leader.switchover", {{ActionKind::kDemote, ""}, {ActionKind::kReleaseLock, ""}},
                     "switchover" + (f.candidate.empty() ? std::string() : " to " + f.candidate) +
                         ": demoting, then releasing the lock");
       }},
      {{"leader.renew", "we are the leader and PostgreSQL is a primary: renew the lock"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.iAmLeader()) return std::nullopt;
         return make("leader.renew", {{ActionKind::kRenewLock, ""}}, "holding the leader lock");
       }},
      // --- another member holds the lock ---
      {{"follower.demote", "another member holds the lock and PostgreSQL here is a primary: demote"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.cluster.leader || !c.local.pg_primary) return std::nullopt;
         return make("follower.demote", {{ActionKind::kDemote, ""}},
                     c.leaderName() + " holds the leader lock: demoting this primary");
       }},
      {{"follower.rewind", "a former primary, or a standby past the fork point, that diverged: pg_rewind from the leader, then follow"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.cluster.leader || !c.local.needs_rewind || c.local.pg_running) return std::nullopt;
         return make("follower.rewind",
                     {{ActionKind::kRewind, c.leaderName()}, {ActionKind::kFollow, upstreamFor(c)}},
                     "rewinding from " + c.leaderName() + " before following it");
       }},
      {{"follower.diverged", "a standby that has not streamed for two loops while the leader is on a newer timeline: stop, rewind, follow"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.cluster.leader || !c.local.pg_running || c.local.pg_primary || !c.local.not_streaming_since) {
           return std::nullopt;
         }
         // Re-pointing comes first (follower.follow); this is for a standby
         // that already points at the right upstream and still cannot stream.
         if (c.local.following != upstreamFor(c)) return std::nullopt;
         if (c.now.mono - *c.local.not_streaming_since < 2 * c.settings.loop_wait) return std::nullopt;
         const MemberInfo* leader = c.cluster.leaderMember();
         if (!leader || !leader->timeline || *leader->timeline <= c.local.timeline) return std::nullopt;
         if (!pastTheFork(c.local)) return std::nullopt;  // it only needs to reconnect
         return make("follower.diverged",
                     {{ActionKind::kDemote, ""}, {ActionKind::kRewind, c.leaderName()}, {ActionKind::kFollow, upstreamFor(c)}},
                     "not streaming, and " + c.leaderName() + " is on timeline " + std::to_string(*leader->timeline) +
                         " while we are on " + std::to_string(c.local.timeline) + ": stopping to rewind");
       }},
      {{"follower.follow", "another member holds the lock and we do not stream from our upstream: follow it"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.cluster.leader) return std::nullopt;
         const std::string upstream = upstreamFor(c);
         if (c.local.pg_running && c.local.following == upstream) return std::nullopt;
         return make("follower.follow", {{ActionKind::kFollow, upstream}}, "following " + upstream);
       }},
      {{"follower.steady", "another member holds the lock and we stream from our upstream: nothing to do"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.cluster.leader) return std::nullopt;
         return make("follower.steady", {}, "following " + c.local.following);
       }},
      // --- nobody holds the lock ---
      {{"failsafe.leader_alive", "no leader, failsafe mode, and a leader's POST /failsafe reached us less than ttl ago: it may still be writing, so nobody takes the lock, not even for a manual failover"},
       [](const Context& c) -> std::optional<Decision> {
         if (c.cluster.leader || !c.settings.failsafe_mode || !c.local.failsafe_leader_heard || c.local.pg_primary) {
           return std::nullopt;
         }
         return make("failsafe.leader_alive", {},
                     "no leader key, but a leader sent POST /failsafe less than ttl ago: not taking the lock");
       }},
      {{"unlocked.failover", "no leader and /failover names a candidate: only that member takes over"},
       [](const Context& c) -> std::optional<Decision> {
         if (!c.cluster.failover || c.cluster.failover->candidate.empty()) return std::nullopt;
         const std::string& candidate = c.cluster.failover->candidate;
         if (candidate != c.settings.name) {
           if (!c.cluster.member(candidate)) return std::nullopt;  // a stale request: normal race
           return make("unlocked.failover", {}, "waiting for " + candidate + " to take over");
         }
         if (!c.local.pg_running) return make("unlocked.failover", {}, "failover candidate, but PostgreSQL is down");
         if (c.settings.standby_cluster) {
           return make("unlocked.failover",
                       {{ActionKind::kAcquireLock, ""}, {ActionKind::kFollow, kRemotePrimary}, {ActionKind::kClearFailover, ""}},
                       "manual failover to this member: taking the standby leader lock");
         }
         return make("unlocked.failover",
                     {{ActionKind::kAcquireLock, ""}, {ActionKind::kPromote, ""}, {ActionKind::kClearFailover, ""}},
                     "manual failover to this member: taking the lock");
       }},
      {{"unlocked.primary", "no leader and PostgreSQL here is still a primary: take the lock back"},
       [](const Context& c) -> std::optional<Decision> {
         if (c.cluster.leader || !c.local.pg_primary) return std::nullopt;
         // Another member may have been promoted by hand meanwhile; do not
         // fight it: only re-take the lock if no other member says primary.
         const bool other_primary = std::any_of(c.cluster.members.begin(), c.cluster.members.end(), [&](const MemberInfo& m) {
           return m.name != c.settings.name && m.role == "primary" && m.state == "running";
         });
         if (other_primary) {
           return make("unlocked.primary", {{ActionKind::kDemote, ""}}, "another member reports itself primary: demoting");
         }
         return make("unlocked.primary", {{ActionKind::kAcquireLock, ""}}, "the lock is free and this is the running primary: taking it");
       }},
      {{"unlocked.start", "no leader and PostgreSQL is down: start it as a standby so it can report its position"},
       [](const Context& c) -> std::optional<Decision> {
         if (c.cluster.leader || c.local.pg_running) return std::nullopt;
         return make("unlocked.start", {{ActionKind::kFollow, ""}}, "no leader: starting PostgreSQL read-only");
       }},
      {{"unlocked.ineligible", "no leader, but this member may not be promoted (nofailover, priority 0)"},
       [](const Context& c) -> std::optional<Decision> {
         if (c.cluster.leader || eligible(c.settings)) return std::nullopt;
         return make("unlocked.ineligible", {}, "no leader, and this member is tagged nofailover");
       }},
      {{"unlocked.not_synchronous", "no leader, synchronous mode, and we are not in /sync: only a synchronous standby may take over"},
       [](const Context& c) -> std::optional<Decision> {
         if (c.cluster.leader || !c.settings.synchronous_mode || allowedBySync(c.cluster, c.settings.name)) {
           return std::nullopt;
         }
         if (!c.cluster.sync || c.cluster.sync->leader.empty()) {
           return make("unlocked.not_synchronous", {},
                       "synchronous mode, and /sync is missing or unreadable: nobody knows who has every commit, so "
                       "nobody takes over (a manual failover can)");
         }
         std::string names;
         for (const auto& n : c.cluster.sync->sync_standby) names += (names.empty() ? "" : ", ") + n;
         return make("unlocked.not_synchronous", {},
                     "synchronous mode: only " + (names.empty() ? c.cluster.sync->leader : names) + " may take over");
       }},
      {{"unlocked.not_healthiest", "no leader, and another member is ahead or preferred: wait for it"},
       [](const Context& c) -> std::optional<Decision> {
         if (c.cluster.leader) return std::nullopt;
         auto why = whyNotHealthiest(c.cluster, c.local, c.settings);
         if (!why) return std::nullopt;
         return make("unlocked.not_healthiest", {}, "no leader; not taking over: " + *why);
       }},
      {{"unlocked.race", "no leader and this member is the healthiest: take the lock, then promote (a standby cluster: follow the remote primary)"},
       [](const Context& c) -> std::optional<Decision> {
         if (c.cluster.leader) return std::nullopt;
         if (c.settings.standby_cluster) {
           return make("unlocked.race", {{ActionKind::kAcquireLock, ""}, {ActionKind::kFollow, kRemotePrimary}},
                       "the standby leader lock is free and this member is the healthiest: taking over");
         }
         return make("unlocked.race", {{ActionKind::kAcquireLock, ""}, {ActionKind::kPromote, ""}},
                     "the leader lock is free and this member is the healthiest: taking over");
       }},
  };
  return table;
}

}  // namespace

const char* actionName(ActionKind kind) {
  switch (kind) {
    case ActionKind::kRaceInitialize: return "race_initialize";
    case ActionKind::kBootstrap: return "bootstrap";
    case ActionKind::kClone: return "clone";
    case ActionKind::kAcquireLock: return "acquire_lock";
    case ActionKind::kRenewLock: return "renew_lock";
    case ActionKind::kReleaseLock: return "release_lock";
    case ActionKind::kPromote: return "promote";
    case ActionKind::kDemote: return "demote";
    case ActionKind::kStartPrimary: return "start_primary";
    case ActionKind::kFollow: return "follow";
    case ActionKind::kRewind: return "rewind";
    case ActionKind::kClearFailover: return "clear_failover";
    case ActionKind::kCleanDemote: return "clean_demote";
  }
  return "unknown";
}

std::string slotNameFor(const std::string& member_name) {
  std::string out;
  for (unsigned char c : member_name) {
    const char lower = static_cast<char>(std::tolower(c));
    out += (std::isalnum(c) || c == '_') ? lower : '_';
  }
  return out;
}

bool isPhysicalSlot(const std::map<std::string, std::string>& fields) {
  auto type = fields.find("type");
  return type == fields.end() || type->second == "physical";
}

std::set<std::string> desiredPhysicalSlots(const ClusterSnapshot& cluster, const std::string& self, bool use_slots,
                                           const std::map<std::string, std::map<std::string, std::string>>& permanent) {
  std::set<std::string> slots;
  if (use_slots) {
    for (const auto& m : cluster.members) {
      if (m.name != self && upstreamOf(cluster, m.name, m.tags.replicatefrom.value_or("")) == self) {
        slots.insert(slotNameFor(m.name));
      }
    }
  }
  for (const auto& [name, fields] : permanent) {
    if (isPhysicalSlot(fields)) slots.insert(name);
  }
  return slots;
}

const std::vector<RuleInfo>& ruleTable() {
  static const std::vector<RuleInfo> infos = [] {
    std::vector<RuleInfo> out;
    for (const auto& row : rules()) out.push_back(row.info);
    return out;
  }();
  return infos;
}

std::optional<std::string> whyNotHealthiest(const ClusterSnapshot& cluster, const LocalObservation& local,
                                            const HaSettings& settings) {
  if (!local.pg_running) return std::string("PostgreSQL is not running");
  if (!local.wal_position) return std::string("our WAL position is unknown");
  // Only the members the leader listed were asked to hold back (failsafe.h).
  if (settings.failsafe_mode && !cluster.failsafe.empty() && !cluster.failsafe.count(settings.name)) {
    return std::string("failsafe mode, and /failsafe does not list this member");
  }
  const Lsn mine = *local.wal_position;
  if (cluster.status && cluster.status->optime && *cluster.status->optime - mine > settings.maximum_lag_on_failover) {
    return "lag " + std::to_string(*cluster.status->optime - mine) + " bytes exceeds maximum_lag_on_failover";
  }
  for (const auto& m : cluster.members) {
    if (m.name == settings.name) continue;
    const auto peer = local.peers.find(m.name);
    const bool probed = peer != local.peers.end();
    if (probed && peer->second.reachable && peer->second.primary) return m.name + " is still a running primary";
    if (!dcs::eligibleCandidate(m)) continue;
    // A member whose PostgreSQL cannot be reached cannot take over either.
    if (probed && !peer->second.reachable) continue;
    // In synchronous mode only the synchronous standbys compete: an async
    // replica that received more WAL may not promote, so it must not block.
    if (settings.synchronous_mode && !allowedBySync(cluster, m.name)) continue;
    const auto theirs = probed && peer->second.wal_position ? peer->second.wal_position : publishedPosition(m);
    if (!theirs) continue;
    if (*theirs > mine) return m.name + " has received more WAL";
    if (*theirs == mine && m.tags.failover_priority.value_or(1) > settings.failover_priority) {
      return m.name + " has a higher failover_priority at the same WAL position";
    }
  }
  return std::nullopt;
}

Decision decide(const ClusterSnapshot& cluster, const LocalObservation& local, const HaSettings& settings,
                DecisionTime now) {
  const Context context{cluster, local, settings, now};
  for (const auto& row : rules()) {
    if (auto decision = row.rule(context)) return *decision;
  }
  return make("none", {}, "no rule applies");  // unreachable: the table ends with catch-alls
}

}  // namespace pgtandem::agent
