#include "dc-agent/ha/agent.h"

#include "dc-agent/ha/operation_rules.h"
#include "dc-agent/ha/site_check.h"

#include <algorithm>
#include <cmath>
#include <future>
#include <thread>

#include "common/config/dynamic_json.h"
#include "standby/remote_source.h"
#include "common/util/log.h"

#include <fmt/ranges.h>

namespace pgtandem::agent {

namespace {

// Tags as the configuration gives them; a tag of the wrong type was
// already reported by the config loader and reads as "not set" here.
dcs::MemberTags tagsOf(const config::Config& config) {
  auto tags = dcs::parseTags(config.tags);
  return tags.ok() ? *tags : dcs::MemberTags{};
}

HaSettings baseSettings(const config::Config& config) {
  const dcs::MemberTags tags = tagsOf(config);
  HaSettings s;
  s.name = config.name;
  s.nofailover = tags.nofailover;
  s.failover_priority = tags.failover_priority.value_or(1);
  s.replicatefrom = tags.replicatefrom.value_or("");
  return s;
}

void applyDynamic(HaSettings& s, const config::DynamicConfig& d) {
  s.ttl = std::chrono::seconds(d.ttl);
  s.loop_wait = std::chrono::seconds(d.loop_wait);
  s.primary_start_timeout = std::chrono::seconds(d.primary_start_timeout);
  s.maximum_lag_on_failover = d.maximum_lag_on_failover;
  s.standby_cluster = d.standby_cluster.has_value();
  // Patroni ignores synchronous_mode in a standby cluster: there is no
  // primary here to acknowledge commits.
  s.synchronous_mode = d.synchronous_mode && !s.standby_cluster;
  s.failsafe_mode = d.failsafe_mode;
}

const char* stateName(const PgObservation& pg) {
  return pg.running ? "running" : (pg.data_initialized ? "stopped" : "uninitialized");
}

// The member state shown while a long action runs (Patroni's names).
std::optional<std::string> longActionState(const Decision& decision) {
  for (const auto& action : decision.actions) {
    if (action.kind == ActionKind::kBootstrap) return "initializing new cluster";
    if (action.kind == ActionKind::kClone) return "creating replica";
    if (action.kind == ActionKind::kRewind) return "running pg_rewind";
  }
  return std::nullopt;
}

const char* roleName(const PgObservation& pg) {
  return pg.running ? (pg.primary ? "primary" : "replica") : "uninitialized";
}

// Patroni's replication_state: a running standby streams or replays WAL from
// an archive (or waits for it); "" for anything else.
std::string replicationStateOf(const PgObservation& pg) {
  if (!pg.running || pg.primary) return "";
  return pg.streaming ? "streaming" : "in archive recovery";
}

}  // namespace

Agent::Agent(const config::Config& config, dcs::Dcs& dcs, PostgresControl& postgres, Callbacks& callbacks,
             const Clock& clock)
    : config_(config),
      dcs_(dcs),
      postgres_(postgres),
      callbacks_(callbacks),
      clock_(clock),
      lock_(dcs, dcs::ClusterPaths(config.namespace_, config.scope), config.name,
            std::chrono::seconds(config.bootstrap.dcs.ttl), clock),
      executor_(lock_, postgres, callbacks, config::toJson(config.bootstrap.dcs)),
      settings_(baseSettings(config)),
      dynamic_(config.bootstrap.dcs) {
  applyDynamic(settings_, config.bootstrap.dcs);
  applyTimings(config.bootstrap.dcs);
  lock_.setHeldListener([this](MonoTime expires) { noteLeaseHeld(expires); });
}

void Agent::applyTimings(const config::DynamicConfig& d) {
  const std::chrono::seconds retry_timeout(std::max(1, d.retry_timeout));
  retry_timeout_ = retry_timeout;
  lease_margin_ms_ = leaseSafetyMargin(std::chrono::seconds(d.ttl), std::chrono::seconds(d.loop_wait), retry_timeout).count();
  // Every DCS call and every query of the agent is bounded by /config's
  // retry_timeout, not patroni.yml's bootstrap value.
  dcs_.setRequestTimeout(retry_timeout);
  postgres_.setQueryTimeout(retry_timeout);
}

void Agent::noteLeaseHeld(MonoTime expires) {
  lease_expires_ = expires.time_since_epoch().count();
  if (guard_ && lease_binds_) guard_->arm(expires - std::chrono::milliseconds(lease_margin_ms_.load()));
}

std::optional<MonoTime> Agent::leaseDeadline() const {
  const auto expires = lease_expires_.load();
  if (expires == 0 || !lease_binds_) return std::nullopt;
  const MonoTime lease = MonoTime(MonoTime::duration(expires)) - std::chrono::milliseconds(lease_margin_ms_.load());
  return std::max(lease, MonoTime(MonoTime::duration(failsafe_until_.load())));
}

bool Agent::runFailsafeRound(const PgObservation& pg) {
  if (!failsafe_peers_ || !dynamic_.failsafe_mode || !lease_binds_ || !holds_lock_ || !(pg.running && pg.primary)) {
    return false;
  }
  // Patroni's rule too: a /failsafe that is gone, garbage or without us
  // tells nothing about who promised to hold back.
  // What we wrote last counts too: the snapshot may predate our last write,
  // and every member that may believe itself listed must be asked.
  auto members = last_snapshot_.failsafe;
  members.insert(failsafe_written_.begin(), failsafe_written_.end());
  if (!members.count(config_.name)) {
    spdlog::warn("failsafe mode: /failsafe does not list this member, so it cannot keep it primary");
    return false;
  }
  const auto peers = failsafePeersOf(members, config_.name);
  const MonoTime sent = clock_.monotonicNow();
  // Patroni allows each call 2 s; none may run past the current deadline.
  auto timeout = std::min<std::chrono::milliseconds>(std::chrono::seconds(2), retry_timeout_);
  if (const auto deadline = leaseDeadline()) {
    timeout = std::min(timeout, std::max(std::chrono::milliseconds(0),
                                         std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - sent)));
  }
  const std::set<std::string> acknowledged =
      peers.empty() ? std::set<std::string>{} : failsafe_peers_->confirm(peers, failsafeHeartbeatJson(describeSelf(pg)), timeout);
  std::string missing;
  for (const auto& [name, url] : peers) {
    if (!acknowledged.count(name)) missing += (missing.empty() ? "" : ", ") + name;
  }
  if (!missing.empty()) {
    spdlog::warn("failsafe mode: {} did not acknowledge POST /failsafe", missing);
    return false;
  }
  const MonoTime until = sent + settings_.ttl - std::chrono::milliseconds(lease_margin_ms_.load());
  if (failsafe_until_.load() == 0) {
    spdlog::warn("failsafe mode: the DCS cannot be reached, and all {} other member(s) acknowledged POST /failsafe: "
                 "staying primary",
                 peers.size());
  }
  failsafe_until_ = until.time_since_epoch().count();
  if (guard_) guard_->arm(until);
  return true;
}

bool Agent::failsafeLeaderHeard(MonoTime now) const {
  if (!failsafe_heartbeats_ || !settings_.failsafe_mode) return false;
  const auto last = failsafe_heartbeats_->last();
  return last && last->leader != config_.name && now - last->at < settings_.ttl;
}

void Agent::maintainFailsafeKey(const dcs::ClusterSnapshot& snapshot, const dcs::MemberInfo& self) {
  if (!dynamic_.failsafe_mode) {
    if (!snapshot.failsafe.empty()) (void)lock_.deleteFailsafe();
    return;
  }
  auto wanted = failsafeMembersOf(snapshot);
  wanted[self.name] = self.api_url;  // our own key may not be in this snapshot yet
  if (wanted == snapshot.failsafe) return;
  // Remembered before the write: one that fails may still have landed.
  failsafe_written_.insert(wanted.begin(), wanted.end());
  if (auto written = lock_.writeFailsafe(wanted); !written.ok()) {
    spdlog::debug("could not write /failsafe: {}", written.error().toString());
  } else {
    failsafe_written_ = wanted;
  }
}

void Agent::maintainHistory(const dcs::ClusterSnapshot& snapshot, const PgObservation& pg) {
  if (historyIsCurrent(snapshot.history, pg.timeline)) return;
  auto file = postgres_.ownTimelineHistory(pg.timeline);
  if (!file.ok()) {
    spdlog::debug("/history is behind timeline {}, and the history file cannot be read: {}", pg.timeline,
                  file.error().toString());
    return;
  }
  const auto rebuilt = historyFromFile(snapshot.history, *file, config_.name);
  if (!historyIsCurrent(rebuilt, pg.timeline)) return;  // the file says less than we know: leave the key
  if (auto written = lock_.replaceHistory(rebuilt); !written.ok()) {
    spdlog::debug("could not write /history: {}", written.error().toString());
  } else {
    spdlog::info("/history was gone, unreadable or behind timeline {}: written again from the timeline history file",
                 pg.timeline);
  }
}

void Agent::boundCallsByTheLease(std::optional<dcs::CallDeadline>& scope, const PgObservation& pg) const {
  scope.reset();
  // Once the deadline has passed only a primary still has a reason to hurry
  // (to demote); anything else must be able to reach the DCS again.
  const auto deadline = leaseDeadline();
  if (deadline && (clock_.monotonicNow() < *deadline || (pg.running && pg.primary))) scope.emplace(*deadline);
}

MonoTime Agent::nextCycleBy() const {
  const MonoTime now = clock_.monotonicNow();
  MonoTime by = now + settings_.loop_wait;
  if (const auto deadline = leaseDeadline(); deadline && last_seen_primary_) {
    // Not a busy loop when a demotion keeps failing.
    by = std::min(by, std::max(*deadline, now + std::chrono::milliseconds(100)));
  }
  return by;
}

void Agent::refreshSettings(const dcs::ClusterSnapshot& snapshot) {
  HaSettings s = baseSettings(config_);
  if (snapshot.config_json) {
    auto dynamic = config::parseDynamicJson(*snapshot.config_json, config_.bootstrap.dcs);
    if (dynamic.ok()) {
      dynamic_ = dynamic->config;
      pause_ = dynamic->pause;
      dynamic_config_error_.clear();
    } else {
      dynamic_config_error_ = dynamic.error().message;
      // Keep the last good /config: falling back to bootstrap.dcs would, say,
      // turn a DC bootstrapped as a standby cluster but primary now into a
      // standby again, or switch synchronous_mode off.
      malformed_.report(lock_.paths().config(), snapshot.config_mod_revision,
                        dynamic.error().message + " (keeping the last valid /config)");
    }
  }
  applyDynamic(s, dynamic_);
  s.pause = pause_;
  // The coordinator's run-time mark (a rolling upgrade): out of failover.
  const auto marked = snapshot.marks.find(config_.name);
  mark_ = marked == snapshot.marks.end() ? std::nullopt : std::optional(marked->second);
  if (mark_ && mark_->nofailover) s.nofailover = true;
  settings_ = s;
  lock_.setTtl(settings_.ttl);
  applyTimings(dynamic_);
  lease_binds_ = !settings_.pause && !settings_.standby_cluster;
  if (!lease_binds_ && guard_) guard_->disarm();
  // Every member of a standby cluster may replay the other DC's archive and
  // applies its delay; only the standby leader cleans the archive up.
  UpstreamSettings local;
  local.slot = dynamic_.use_slots ? slotNameFor(config_.name) : "";
  UpstreamSettings remote;
  if (const auto& standby = dynamic_.standby_cluster) {
    local.restore_command = standby->restore_command;
    local.recovery_min_apply_delay = standby->recovery_min_apply_delay;
    remote = local;
    remote.slot = standby->primary_slot_name;
    remote.archive_cleanup_command = standby->archive_cleanup_command;
    remote.replica_methods = standby->create_replica_methods;
  }
  executor_.setUpstreams(std::move(local), standby::remotePrimary(dynamic_, kRemotePrimary), std::move(remote));
}

dcs::MemberInfo Agent::describeSelf(const PgObservation& pg) const {
  dcs::MemberInfo m;
  m.name = config_.name;
  m.conn_url = "postgres://" + config_.postgresql.connect_address + "/postgres";
  m.api_url = "http://" + config_.restapi.connect_address + "/patroni";
  m.version = kAgentVersion;
  m.tags = dcs::withMark(tagsOf(config_), mark_ ? &*mark_ : nullptr);
  m.state = stateName(pg);
  m.role = roleName(pg);
  if (holds_lock_ && settings_.standby_cluster && pg.running && !pg.primary) m.role = "standby_leader";
  if (pg.primary) {
    m.xlog_location = pg.wal_position;
  } else {
    m.receive_lsn = pg.receive_lsn;
    m.replay_lsn = pg.replay_lsn;
    m.xlog_location = pg.wal_position;
    m.replication_state = replicationStateOf(pg);
  }
  if (pg.timeline > 0) m.timeline = pg.timeline;
  m.pause = settings_.pause;
  m.pending_restart = !pg.pending_restart.empty();
  if (pg.running && pg.server_version > 0) m.server_version = pg.server_version;
  if (scheduled_restart_) m.scheduled_restart = scheduled_restart_->schedule;
  if (long_action_) m.state = long_action_->state;
  if (standby_lag_) {
    m.standby_source = standby_lag_->source;
    m.standby_lag_bytes = standby_lag_->bytes;
    // Whole seconds: the key is rewritten only when the value changes.
    m.standby_lag_seconds = static_cast<std::int64_t>(standby_lag_->seconds);
    // Rounded up: the bound it feeds must not shrink.
    if (standby_lag_->contact_age) m.standby_contact_age = static_cast<std::int64_t>(std::ceil(*standby_lag_->contact_age));
  }
  if (!pg.primary) m.demotion_token = executor_.demotionToken();
  m.repaired = repaired_;
  m.repaired_at = repaired_at_;
  return m;
}

std::shared_ptr<const AgentStatus> Agent::describeStatus(const PgObservation& pg, const dcs::ClusterSnapshot& snapshot,
                                                         bool dcs_ok, bool leads, MonoTime cycle_start) const {
  auto s = std::make_shared<AgentStatus>();
  const dcs::MemberInfo self = describeSelf(pg);
  s->name = config_.name;
  s->scope = config_.scope;
  s->version = kAgentVersion;
  s->state = self.state;
  s->role = self.role;
  s->pg_running = pg.running;
  s->pg_primary = pg.running && pg.primary;
  s->server_version = pg.server_version;
  s->postmaster_start_time = pg.postmaster_start_time;
  s->timeline = pg.timeline;
  if (pg.primary) s->wal_position = pg.wal_position;
  s->receive_lsn = pg.receive_lsn;
  s->replay_lsn = pg.replay_lsn;
  s->replayed_timestamp = pg.replayed_timestamp;
  s->replay_paused = pg.replay_paused;
  s->replication_state = replicationStateOf(pg);
  s->replication = pg.standbys;
  s->system_id = pg.system_id;
  s->pending_restart = pg.pending_restart;
  s->scheduled_restart = self.scheduled_restart;
  s->holds_lock = leads;
  // /primary answers 503 from the lease deadline on, even if this loop
  // is stuck and publishes nothing newer.
  if (leads) {
    // Without a deadline (paused, a standby cluster): the lease itself.
    const auto expires = lease_expires_.load();
    s->lock_valid_until = leaseDeadline().value_or(expires ? MonoTime(MonoTime::duration(expires)) : cycle_start + settings_.ttl);
  }
  s->dcs_ok = dcs_ok;
  s->dcs_last_seen = dcs_last_seen_;
  s->last_cycle = cycle_start;
  s->pause = settings_.pause;
  s->standby_cluster = dynamic_.standby_cluster.has_value();
  s->dynamic_config_error = dynamic_config_error_;
  if (!site_unreadable_.empty()) {
    s->site_role = dcs::SiteRole::kFenced;
    s->site_reason = site_unreadable_;
    if (snapshot.site) s->site_epoch = snapshot.site->epoch;
  } else if (snapshot.site) {
    s->site_role = peer_supersedes_ ? dcs::SiteRole::kFenced : snapshot.site->role;
    s->site_epoch = snapshot.site->epoch;
  }
  s->site_fenced = dcFenced(snapshot.site, site_unreadable_, peer_supersedes_, s->standby_cluster);
  s->cluster_unlocked = snapshot.isUnlocked();
  s->sync_standby = snapshot.sync && std::find(snapshot.sync->sync_standby.begin(), snapshot.sync->sync_standby.end(),
                                               config_.name) != snapshot.sync->sync_standby.end();
  s->failsafe_mode = dynamic_.failsafe_mode;
  s->failsafe_active = failsafe_until_.load() != 0 || failsafeLeaderHeard(cycle_start);
  s->failsafe_members = snapshot.failsafe;
  if (snapshot.status) s->cluster_optime = snapshot.status->optime;
  s->ttl = settings_.ttl;
  s->loop_wait = settings_.loop_wait;
  s->maximum_lag_on_failover = settings_.maximum_lag_on_failover;
  s->tags = self.tags;
  s->raw_tags = config_.tags;
  if (mark_) {  // shown as the tags they act as
    for (const auto& [tag, on] : {std::pair{"nofailover", mark_->nofailover}, std::pair{"noloadbalance", mark_->noloadbalance},
                                  std::pair{"nosync", mark_->nosync}}) {
      if (on) s->raw_tags[tag] = "true";
    }
  }
  if (standby_lag_) {
    s->standby_source = standby_lag_->source;
    s->standby_lag_bytes = standby_lag_->bytes;
    s->standby_lag_seconds = standby_lag_->seconds;
    s->standby_contact_age = standby_lag_->contact_age;
  }
  s->decisions = decision_counts_;
  s->lock_renew_latency = lock_.lastRenewLatency();
  return s;
}

Decision Agent::runCycle() {
  if (long_action_) {
    if (long_action_->result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return busyCycle();
    finishLongAction();
  }
  if (operations_) runOperations();
  if (scheduled_restart_) runScheduledRestart();
  // Observe.
  const PgObservation pg = postgres_.observe();
  if (pg.running && pg.primary) executor_.forgetDemotionToken();  // it wrote past it
  // No DCS call of a leading primary may hold the loop past its lease
  // deadline (a black-holed etcd answers nothing until the call times out).
  std::optional<dcs::CallDeadline> bounded;
  boundCallsByTheLease(bounded, pg);
  // Snapshot.
  LocalObservation local;
  local.lease_deadline = leaseDeadline();
  local.dcs_ok = readSnapshot();
  const dcs::ClusterSnapshot& snapshot = last_snapshot_;
  // Be visible before acting: a long action (rewind, a standby catching up)
  // must not keep our member key away, or the leader will not keep our slot.
  if (local.dcs_ok && !snapshot.member(config_.name)) {
    (void)lock_.refreshLease();
    lock_.forgetPublishedMember();  // deleted, or garbage: written again whatever we wrote last
    (void)lock_.publishMember(describeSelf(pg));
  }
  const bool leads = snapshot.ledBy(config_.name);
  const auto now_mono = clock_.monotonicNow();
  if (leads && !pg.running) {
    if (!primary_down_since_) primary_down_since_ = now_mono;
  } else {
    primary_down_since_.reset();
  }
  if (pg.running && !pg.primary && !pg.following.empty() && !pg.streaming) {
    // The clock restarts whenever the standby is pointed elsewhere.
    if (!not_streaming_since_ || pg.following != not_streaming_upstream_) not_streaming_since_ = now_mono;
    not_streaming_upstream_ = pg.following;
  } else {
    not_streaming_since_.reset();
  }
  local.not_streaming_since = not_streaming_since_;
  local.data_initialized = pg.data_initialized;
  local.system_id = pg.system_id;
  local.pg_running = pg.running;
  local.pg_primary = pg.running && pg.primary;
  local.timeline = pg.timeline;
  local.wal_position = pg.wal_position;
  local.following = pg.following;
  local.lock_renewal_failed = last_renewal_failed_;
  local.primary_down_since = primary_down_since_;
  local.needs_rewind = pg.needs_rewind;
  local.upstream = probeUpstreamIfStuck(snapshot, pg, now_mono);
  if (local.dcs_ok) {
    local.peer_site = checkPeerSite(snapshot);
    noteSiteKey(snapshot);
  }
  local.site_unreadable = site_unreadable_;
  // Only a member that leads or could lead needs to know (probing arms the device for a moment).
  if (watchdog_ && watchdog_->required() && !settings_.standby_cluster && (snapshot.isUnlocked() || snapshot.ledBy(config_.name))) {
    local.watchdog_unusable = !watchdog_->usable(settings_.ttl, settings_.loop_wait);
  }
  local.site_confirmed = siteConfirmed(snapshot, peer_reader_ != nullptr, confirmed_epoch_);
  if (!local.dcs_ok) {
    local.failsafe_acknowledged = runFailsafeRound(pg);
    local.lease_deadline = leaseDeadline();
  }
  local.failsafe_leader_heard = failsafeLeaderHeard(now_mono);
  // The lock is free: ask the peers themselves before anyone races.
  // In parallel, so unreachable members cost one connect timeout, not one each.
  if (local.dcs_ok && !snapshot.leader && pg.running && !settings_.pause) {
    std::vector<std::pair<std::string, std::future<PeerState>>> probes;
    for (const auto& m : snapshot.members) {
      if (m.name == config_.name) continue;
      probes.emplace_back(m.name, std::async(std::launch::async, [this, &m] { return postgres_.probe(m); }));
    }
    for (auto& [name, probe] : probes) local.peers[name] = probe.get();
  }

  // Decide.
  Decision decision = decide(snapshot, local, settings_, DecisionTime{now_mono, clock_.wallNow()});
  noteDecision(decision);

  // Execute.
  Decision to_run = decision;
  if (clone_from_leader_ && snapshot.leader) {
    for (auto& action : to_run.actions) {
      if (action.kind == ActionKind::kClone) {
        action.target = snapshot.leader->name;
        clone_from_leader_ = false;
      }
    }
  }
  ExecutionResult executed;
  if (long_actions_on_worker_ && longActionState(to_run)) {
    startLongAction(to_run, snapshot, pg);
  } else {
    executed = executor_.run(to_run, snapshot, pg);
    last_renewal_failed_ = executed.lock_renewal_failed;
    noteRepairs(executed);
    if (executed.lock_renewal_failed && pg.running && pg.primary) {
      // A primary acts on a failed renewal in this cycle, not a loop later.
      local.lock_renewal_failed = true;
      // Failsafe mode covers a DCS that does not answer, never a lost
      // compare-and-set or an expired lease: someone else may hold the lock.
      const auto code = executed.error ? executed.error->code : ErrorCode::kUnavailable;
      if (code == ErrorCode::kUnavailable || code == ErrorCode::kTimeout) {
        local.failsafe_acknowledged = runFailsafeRound(pg);
        local.lease_deadline = leaseDeadline();
      }
      decision = decide(snapshot, local, settings_, DecisionTime{clock_.monotonicNow(), clock_.wallNow()});
      noteDecision(decision);
      executed = executor_.run(decision, snapshot, pg);
      noteRepairs(executed);
    }
  }

  // /config's parameters reach postgresql.conf here, after the decision:
  // reading the snapshot changes nothing. While a long action runs,
  // PostgreSQL belongs to the worker; the first cycle after it applies them.
  if (!busy()) {
    if (auto applied = postgres_.setDynamicParameters(dynamic_.parameters); !applied.ok()) {
      spdlog::warn("cannot apply /config's postgresql.parameters: {}", applied.error().toString());
    }
  }

  // Publish what we are now.
  const auto did = [&executed](ActionKind kind) {
    return std::find(executed.done.begin(), executed.done.end(), kind) != executed.done.end();
  };
  const bool renewed = did(ActionKind::kRenewLock) || did(ActionKind::kAcquireLock);
  // Failsafe mode keeps us leading while the DCS is out of reach.
  const bool leads_now = renewed || decision.leads_without_renewal;
  if (renewed && failsafe_until_.load() != 0) {
    spdlog::info("failsafe mode: the DCS answers again, the lock is renewed");
  }
  if (renewed) failsafe_until_ = 0;
  holds_lock_ = leads_now;
  const PgObservation after = decision.actions.empty() || long_action_ ? pg : postgres_.observe();
  standby_lag_.reset();
  if (leads_now && settings_.standby_cluster) {
    const bool archive = dynamic_.standby_cluster && !dynamic_.standby_cluster->restore_command.empty();
    standby_lag_ = lag_tracker_.observe(standby::ReplicaPosition{after.running, after.streaming, archive, after.upstream_lsn,
                                                                 after.replay_lsn, after.upstream_silence_seconds},
                                        clock_.wallNow(), clock_.monotonicNow());
  }
  last_seen_primary_ = after.running && after.primary;
  if (watchdog_) {
    // After the renewal: it fires ttl - safety_margin from now, before the
    // lease can expire. In maintenance mode nothing is armed, as in Patroni.
    if (leads_now && last_seen_primary_ && !settings_.standby_cluster && !settings_.pause) {
      (void)watchdog_->keepalive(settings_.ttl);
    }
    else watchdog_->disable();
  }
  if (!leads_now && !last_seen_primary_) {
    // Neither leading nor writable: nothing left for the deadline to guard.
    lease_expires_ = 0;
    failsafe_until_ = 0;
    failsafe_written_.clear();
    if (guard_) guard_->disarm();
  }
  if (board_) board_->publish(describeStatus(after, snapshot, local.dcs_ok, leads_now, now_mono));
  // A renewal moved the deadline: the publishing below is bounded by the new one.
  boundCallsByTheLease(bounded, after);
  if (local.dcs_ok) {
    if (!did(ActionKind::kRenewLock)) {
      if (auto refreshed = lock_.refreshLease(); !refreshed.ok()) {
        spdlog::debug("could not refresh our lease: {}", refreshed.error().toString());
      }
    }
    // The key as the DCS holds it, not as we last wrote it: one deleted,
    // overwritten or bound to another lease (an etcd restore) is written again.
    const dcs::MemberInfo self = describeSelf(after);
    const dcs::MemberInfo* stored = snapshot.member(config_.name);
    if (!stored || stored->lease != lock_.lease() || dcs::toJson(*stored) != dcs::toJson(self)) {
      lock_.forgetPublishedMember();
    }
    if (auto published = lock_.publishMember(self); !published.ok()) {
      spdlog::debug("could not publish the member key: {}", published.error().toString());
    }
    if (leads_now && after.primary) {
      maintainSlots(snapshot);
      maintainSync(snapshot, after);
      if (!snapshot.config_json) restoreConfig();  // keys the leader owns come back
      maintainFailsafeKey(snapshot, self);
      maintainHistory(snapshot, after);  // a promotion's new timeline too
      publishStatus(snapshot, after);
    } else if (leads_now && settings_.standby_cluster && after.running && !long_action_) {
      // The standby leader publishes its position too, so that
      // maximum_lag_on_failover applies when it dies.
      maintainSlots(snapshot);
      publishStatus(snapshot, after);
    } else if (after.running && !after.primary && !long_action_) {
      // Standbys keep the slots of the members that cascade from them, and
      // copies of the permanent slots (advanced to the leader's positions).
      maintainSlots(snapshot);
    }
  }
  return decision;
}

// A standby that cannot stream may have diverged from its upstream's new
// timeline: ask the upstream itself (for the standby leader, the other DC's
// primary), with its timeline history, at most once per two loops (an
// unreachable upstream must not slow every loop down).
std::optional<PeerState> Agent::probeUpstreamIfStuck(const dcs::ClusterSnapshot& snapshot, const PgObservation& pg,
                                                     MonoTime now) {
  if (!pg.running || pg.primary || pg.following.empty()) return std::nullopt;
  const auto stuck_for = 2 * settings_.loop_wait;
  if (!not_streaming_since_ || now - *not_streaming_since_ < stuck_for) return std::nullopt;
  if (last_upstream_probe_ && now - *last_upstream_probe_ < stuck_for) return std::nullopt;
  std::optional<dcs::MemberInfo> upstream;
  if (pg.following == kRemotePrimary) {
    upstream = standby::remotePrimary(dynamic_, kRemotePrimary);
  } else if (const dcs::MemberInfo* m = snapshot.member(pg.following)) {
    upstream = *m;
  }
  if (!upstream || upstream->conn_url.empty()) return std::nullopt;
  last_upstream_probe_ = now;
  PeerState peer = postgres_.probe(*upstream);
  if (peer.reachable && peer.timeline > pg.timeline && pg.timeline > 0) {
    auto fork = postgres_.forkPoint(*upstream, peer.timeline, pg.timeline);
    if (fork.ok()) {
      peer.fork_lsn = *fork;
    } else {
      spdlog::warn("cannot read timeline {}'s history from {}: {}", peer.timeline, upstream->name, fork.error().toString());
    }
  }
  return peer;
}

bool Agent::readSnapshot() {
  auto loaded = dcs::loadCluster(dcs_, lock_.paths(), malformed_);
  if (!loaded.ok()) return false;
  dcs_last_seen_ = clock_.wallNow();
  last_snapshot_ = std::move(*loaded);
  refreshSettings(last_snapshot_);
  return true;
}

void Agent::noteDecision(const Decision& decision) {
  ++decision_counts_[decision.rule];
  // One line per decision that differs from the last: no line per idle loop.
  if (const std::string line = decision.rule + ": " + decision.reason; line != last_logged_) {
    spdlog::info("[{}] {}", decision.rule, decision.reason);
    last_logged_ = line;
  }
}

void Agent::startLongAction(const Decision& decision, const dcs::ClusterSnapshot& snapshot, const PgObservation& pg) {
  last_pg_ = pg;
  LongAction action;
  action.rule = decision.rule;
  action.state = *longActionState(decision);
  // The worker gets its own copies; the loop does not touch PostgreSQL
  // until it is done.
  action.result = std::async(std::launch::async, [this, decision, snapshot, pg] {
    ExecutionResult executed = executor_.run(decision, snapshot, pg);
    if (wake_) wake_();
    return executed;
  });
  spdlog::info("[{}] {} on a worker thread", decision.rule, action.state);
  long_action_ = std::move(action);
}

void Agent::noteRepairs(const ExecutionResult& executed) {
  for (ActionKind kind : executed.done) {
    if (kind == ActionKind::kRewind || kind == ActionKind::kClone) {
      repaired_ = kind == ActionKind::kRewind ? "rewind" : "clone";
      repaired_at_ = formatIsoTime(clock_.wallNow());
    }
  }
}

void Agent::finishLongAction() {
  const ExecutionResult executed = long_action_->result.get();
  noteRepairs(executed);
  if (executed.error) {
    spdlog::warn("[{}] {} failed: {}", long_action_->rule, long_action_->state, executed.error->toString());
  } else {
    spdlog::info("[{}] {} finished", long_action_->rule, long_action_->state);
  }
  long_action_.reset();
  last_logged_.clear();  // the next decision is logged even if it repeats the last one
  // A rewind or clone restarted PostgreSQL: how long it has not streamed is
  // counted from now, not from before.
  not_streaming_since_.reset();
}

Decision Agent::busyCycle() {
  // Operations wait for PostgreSQL, which the worker owns: refuse them,
  // except a reload (SIGHUP, POST /reload), which is harmless to run late
  // and must not be lost: it runs once the long action is over.
  if (operations_) {
    for (auto& pending : operations_->takeAll()) {
      if (pending.request.kind == OperationRequest::Kind::kReload) {
        spdlog::info("[operation.reload] {} in progress: reloading when it ends", long_action_->state);
        deferred_operations_.push_back(std::move(pending));
        continue;
      }
      pending.reply.set_value(makeError(ErrorCode::kConflict, long_action_->state + " already in progress"));
    }
  }
  std::optional<dcs::CallDeadline> bounded;
  boundCallsByTheLease(bounded, last_pg_);
  LocalObservation local;
  local.lease_deadline = leaseDeadline();
  local.dcs_ok = readSnapshot();
  local.long_action_running = true;
  const auto now_mono = clock_.monotonicNow();
  const Decision decision = decide(last_snapshot_, local, settings_, DecisionTime{now_mono, clock_.wallNow()});
  noteDecision(decision);
  bool renewed = false;
  for (const auto& action : decision.actions) {
    if (action.kind != ActionKind::kRenewLock) continue;  // the busy rule only ever renews
    auto result = lock_.renew();
    last_renewal_failed_ = !result.ok();
    renewed = result.ok();
  }
  holds_lock_ = renewed;
  if (local.dcs_ok) {
    if (!renewed) (void)lock_.refreshLease();
    (void)lock_.publishMember(describeSelf(last_pg_));
  }
  if (board_) board_->publish(describeStatus(last_pg_, last_snapshot_, local.dcs_ok, renewed, now_mono));
  return decision;
}

void Agent::runOperations() {
  auto pending = operations_->takeAll();
  pending.insert(pending.begin(), std::make_move_iterator(deferred_operations_.begin()),
                 std::make_move_iterator(deferred_operations_.end()));
  deferred_operations_.clear();
  if (pending.empty()) return;
  const PgObservation pg = postgres_.observe();
  (void)readSnapshot();
  const bool leads = last_snapshot_.ledBy(config_.name);
  for (auto& [request, reply] : pending) reply.set_value(runOperation(request, pg, leads));
}

OperationOutcome Agent::runOperation(const OperationRequest& request, const PgObservation& pg, bool leads) {
  OperationContext context;
  context.data_initialized = pg.data_initialized;
  context.pg_running = pg.running;
  context.pg_primary = pg.running && pg.primary;
  context.pending_restart = !pg.pending_restart.empty();
  context.server_version = pg.server_version;
  context.leads = leads;
  context.standby_cluster = dynamic_.standby_cluster.has_value();
  context.paused = settings_.pause;
  context.restart_scheduled = scheduled_restart_.has_value();
  context.cluster_unlocked = last_snapshot_.isUnlocked();
  const OperationVerdict verdict = judgeOperation(request, context);
  if (verdict.type == OperationVerdict::Type::kRefuse) return makeError(verdict.code, verdict.message);
  const std::string role = restartRole(context);
  switch (request.kind) {
    case OperationRequest::Kind::kReload: {
      std::string changed = "reloaded";
      if (config_reloader_) {
        auto reread = config_reloader_();
        if (!reread.ok()) {
          spdlog::error("[operation.reload] patroni.yml not reloaded, nothing changed: {}", reread.error().message);
          return reread.error();
        }
        changed = *reread;
      }
      spdlog::info("[operation.reload] {}; reloading PostgreSQL's configuration", changed);
      if (pg.running) PGT_TRY(postgres_.reload());
      callbacks_.notify("on_reload", role);
      return changed;
    }
    case OperationRequest::Kind::kCancelRestart:
      spdlog::info("[operation.restart] the restart scheduled at {} is cancelled", scheduled_restart_->schedule);
      scheduled_restart_.reset();
      return std::string("scheduled restart deleted");
    case OperationRequest::Kind::kRestart:
      if (verdict.type == OperationVerdict::Type::kSchedule) {
        scheduled_restart_ = request;
        spdlog::info("[operation.restart] restart scheduled at {}", request.schedule);
        return verdict.message;
      }
      spdlog::info("[operation.restart] restarting PostgreSQL ({})", role.empty() ? "stopped" : role);
      // The leader keeps its lock through the restart: stop and start take
      // seconds, well within ttl, and no other member may take over.
      if (auto restarted = postgres_.restart(); !restarted.ok()) {
        return makeError(ErrorCode::kUnavailable, "restart failed: " + restarted.error().message);
      }
      callbacks_.notify("on_restart", role);
      return std::string("restarted successfully");
    case OperationRequest::Kind::kReinitialize: {
      spdlog::info("[operation.reinitialize] stopping PostgreSQL and removing its data; it will be cloned again");
      if (pg.running) {
        PGT_TRY(postgres_.demote());
        callbacks_.notify("on_stop", role);
      }
      PGT_TRY(postgres_.removeData());
      if (settings_.pause) {
        // No rule clones in maintenance mode: do it here, from the leader.
        const dcs::MemberInfo* leader = last_snapshot_.leaderMember();
        if (!leader) return makeError(ErrorCode::kUnavailable, "the leader has no member key to clone from");
        PGT_TRY(postgres_.clone(*leader));
        return std::string("reinitialized from " + leader->name);
      }
      clone_from_leader_ = request.from_leader;
      return std::string("reinitialize started");
    }
  }
  return makeError(ErrorCode::kInvalidArgument, "unknown operation");
}

void Agent::runScheduledRestart() {
  if (clock_.wallNow() < *scheduled_restart_->scheduled_at) return;
  OperationRequest due = *scheduled_restart_;
  scheduled_restart_.reset();
  due.scheduled_at.reset();
  const PgObservation pg = postgres_.observe();
  const bool leads = last_snapshot_.ledBy(config_.name);
  auto outcome = runOperation(due, pg, leads);
  if (outcome.ok()) {
    spdlog::info("[operation.restart] scheduled restart: {}", *outcome);
  } else {
    spdlog::warn("[operation.restart] scheduled restart: {}", outcome.error().message);
  }
}

// The primary's /status: its WAL position, and where its permanent physical
// slots stand, so that replicas advance their copies (Patroni's layout).
// Written only when something changed.
void Agent::publishStatus(const dcs::ClusterSnapshot& snapshot, const PgObservation& pg) {
  if (!pg.wal_position) return;
  // Compared with the DCS copy too: a deleted or overwritten key comes back.
  if (!snapshot.status || (published_status_ && dcs::toJson(*snapshot.status) != dcs::toJson(*published_status_))) {
    published_status_.reset();
  }
  dcs::StatusInfo status;
  status.optime = pg.wal_position;
  for (const auto& [name, fields] : dynamic_.slots) {
    if (!isPhysicalSlot(fields)) continue;
    if (auto at = pg.slot_positions.find(name); at != pg.slot_positions.end()) status.slots[name] = at->second;
  }
  if (published_status_ && *published_status_ == status) return;
  if (lock_.publishStatus(status).ok()) published_status_ = status;
}

// /config is gone (deleted by hand, lost in an etcd restore) or garbage:
// the leader writes the last valid one back if the key is absent. Garbage
// is left for a person to look at (the last valid one stays in force).
void Agent::restoreConfig() {
  std::string json = config::toJson(dynamic_);
  if (pause_) {
    auto patched = config::applyMergePatch(json, R"({"pause":true})");
    if (patched.ok()) json = *patched;
  }
  auto created = dcs::createIfAbsent(dcs_, lock_.paths().config(), json);
  if (created.ok() && *created) spdlog::warn("/config was missing: wrote the last valid one back");
}

void Agent::maintainSlots(const dcs::ClusterSnapshot& snapshot) {
  constexpr auto kMemberSlotsTtl = std::chrono::minutes(30);
  const auto now = clock_.monotonicNow();
  // Permanent slots belong to the primary DC; a standby cluster keeps only
  // its members' slots (a permanent slot nobody reads would hold WAL forever).
  static const std::map<std::string, std::map<std::string, std::string>> kNone;
  const auto& permanent = settings_.standby_cluster ? kNone : dynamic_.slots;
  auto wanted = desiredPhysicalSlots(snapshot, config_.name, dynamic_.use_slots, permanent);
  // A replica's copies follow the primary's slots, never ahead of them.
  std::map<std::string, Lsn> advance;
  const bool leads = snapshot.ledBy(config_.name);
  if (!leads && snapshot.status) {
    for (const auto& [name, position] : snapshot.status->slots) {
      if (wanted.count(name) && permanent.count(name)) advance[name] = position;
    }
  }
  for (const auto& slot : wanted) slot_last_wanted_[slot] = now;
  for (auto it = slot_last_wanted_.begin(); it != slot_last_wanted_.end();) {
    if (now - it->second > kMemberSlotsTtl) {
      it = slot_last_wanted_.erase(it);
    } else {
      wanted.insert(it->first);
      ++it;
    }
  }
  if (auto synced = postgres_.syncSlots(wanted, advance); !synced.ok()) {
    spdlog::warn("replication slots: {}", synced.error().toString());
  }
}

void Agent::maintainSync(const dcs::ClusterSnapshot& snapshot, const PgObservation& pg) {
  const SyncPlan plan = planSync(snapshot, pg.standbys, config_.name, dynamic_.synchronous_mode,
                                 dynamic_.synchronous_mode_strict, dynamic_.synchronous_node_count,
                                 SyncLagLimit{dynamic_.maximum_lag_on_syncnode, pg.wal_position});
  const dcs::Revision revision = snapshot.sync ? snapshot.sync->mod_revision : 0;
  // /sync first: a standby leaves it before it stops being synchronous.
  if (plan.key_op == SyncPlan::KeyOp::kWrite) {
    dcs::SyncInfo sync;
    sync.leader = config_.name;
    sync.sync_standby = plan.sync_standby;
    if (auto written = lock_.writeSync(sync, revision); !written.ok()) {
      spdlog::warn("could not update /sync, keeping synchronous_standby_names: {}", written.error().toString());
      return;
    }
    spdlog::info("synchronous standbys in /sync: [{}]", fmt::join(plan.sync_standby, ", "));
  } else if (plan.key_op == SyncPlan::KeyOp::kDelete) {
    (void)lock_.deleteSync(revision);
  }
  if (plan.synchronous_standby_names != pg.synchronous_standby_names) {
    if (auto set = postgres_.setSynchronousStandbyNames(plan.synchronous_standby_names); !set.ok()) {
      spdlog::warn("could not set synchronous_standby_names: {}", set.error().toString());
    } else {
      spdlog::info("synchronous_standby_names = '{}'", plan.synchronous_standby_names);
    }
  }
}

Status Agent::shutdown() {
  if (long_action_) {
    // PostgreSQL belongs to the worker until it is done.
    spdlog::info("waiting for the running {} to finish before stopping", long_action_->state);
    finishLongAction();
  }
  if (board_) {
    // Load balancers stop sending writes before PostgreSQL goes down.
    auto stopping = std::make_shared<AgentStatus>(*board_->current());
    stopping->holds_lock = false;
    board_->publish(stopping);
  }
  auto loaded = dcs::loadCluster(dcs_, lock_.paths(), malformed_);
  const bool leads = loaded.ok() && loaded->ledBy(config_.name);
  if (settings_.pause) {
    // In maintenance mode PostgreSQL is left alone and the lock is kept.
    spdlog::info("paused: leaving PostgreSQL running");
    return okStatus();
  }
  // Demote before releasing the lock.
  const PgObservation before = postgres_.observe();
  PGT_TRY(postgres_.demote());
  if (before.running) callbacks_.notify("on_stop", leads ? "primary" : "replica");
  if (leads && before.primary) waitForShutdownCheckpoint(*loaded);
  if (leads) PGT_TRY(lock_.release());
  lease_expires_ = 0;
  if (guard_) guard_->disarm();
  if (watchdog_) watchdog_->disable();  // stopped cleanly: nothing to reset
  return lock_.revoke();
}

void Agent::noteSiteKey(const dcs::ClusterSnapshot& snapshot) {
  const std::string why = siteUnreadable(snapshot, site_seen_);
  if (snapshot.site || !snapshot.site_error.empty()) site_seen_ = true;
  if (site_seen_ && site_memory_ && !site_remembered_) {
    const Status kept = site_memory_->remember();
    site_remembered_ = kept.ok();
    if (!kept.ok()) spdlog::debug("cannot remember the site key yet: {}", kept.error().toString());
  }
  if (why != site_unreadable_) {
    if (!why.empty()) spdlog::error("{}: this DC behaves as fenced until a valid site key is back", why);
    else spdlog::info("the site key is readable again");
  }
  site_unreadable_ = why;
}

std::optional<PeerSiteView> Agent::checkPeerSite(const dcs::ClusterSnapshot& snapshot) {
  peer_supersedes_ = false;
  if (!peer_reader_ || !peerReadNeeded(snapshot, config_.name, dynamic_.standby_cluster.has_value(), confirmed_epoch_)) {
    return std::nullopt;
  }
  const auto read = peer_reader_->read(*snapshot.site->peer);
  if (!read.ok() && !peer_unreachable_logged_) {
    spdlog::warn("cannot read the other DC's site key ({}): {}", snapshot.site->peer->site, read.error().toString());
  }
  peer_unreachable_logged_ = !read.ok();
  const PeerJudgement judged = judgePeer(snapshot.site->epoch, read);
  if (judged.confirms) confirmed_epoch_ = snapshot.site->epoch;
  peer_supersedes_ = judged.supersedes;
  return judged.view;
}

void Agent::waitForShutdownCheckpoint(const dcs::ClusterSnapshot& cluster) {
  // Hand the lock over only once a replica has received the shutdown
  // checkpoint: then whoever is promoted has every commit (Patroni does the
  // same). Bounded, so a cluster without replicas is not left waiting.
  const bool any_replica = std::any_of(cluster.members.begin(), cluster.members.end(), [&](const dcs::MemberInfo& m) {
    return m.name != config_.name && m.state == "running";
  });
  if (!any_replica) return;  // nobody to hand over to: no reason to wait
  auto checkpoint = postgres_.lastCheckpoint();
  if (!checkpoint.ok()) {
    spdlog::warn("cannot read the shutdown checkpoint: {}", checkpoint.error().toString());
    return;
  }
  // 100 rounds of 100 ms: bounded in count as well as in time.
  for (int round = 0; round < 100; ++round) {
    for (const auto& m : cluster.members) {
      if (m.name == config_.name || m.state != "running") continue;
      auto received = postgres_.receivedBy(m);
      if (received.ok() && *received >= *checkpoint) {
        spdlog::info("{} has received the shutdown checkpoint; releasing the lock", m.name);
        return;
      }
    }
    clock_.sleepFor(std::chrono::milliseconds(100));
  }
  spdlog::warn("no replica confirmed the shutdown checkpoint within 10 s; releasing the lock anyway");
}

}  // namespace pgtandem::agent
