#include "dc-agent/ha/executor.h"

#include "common/util/log.h"
#include "common/util/lsn.h"

namespace pgtandem::agent {

Executor::Executor(LeaderLock& lock, PostgresControl& postgres, Callbacks& callbacks, std::string bootstrap_config_json)
    : lock_(lock), postgres_(postgres), callbacks_(callbacks), bootstrap_config_json_(std::move(bootstrap_config_json)) {}

ExecutionResult Executor::run(const Decision& decision, const dcs::ClusterSnapshot& cluster, const PgObservation& pg) {
  ExecutionResult result;
  for (const auto& action : decision.actions) {
    auto outcome = runOne(action, cluster, pg);
    if (!outcome.ok()) {
      result.stopped_at = action.kind;
      result.error = outcome.error();
      result.lock_renewal_failed = action.kind == ActionKind::kRenewLock;
      spdlog::warn("action {} failed: {}", actionName(action.kind), outcome.error().toString());
      return result;
    }
    if (!*outcome) {
      result.stopped_at = action.kind;
      return result;
    }
    result.done.push_back(action.kind);
  }
  return result;
}

Result<bool> Executor::runOne(const Action& action, const dcs::ClusterSnapshot& cluster, const PgObservation& pg) {
  auto member = [&](const std::string& name) -> Result<const dcs::MemberInfo*> {
    if (name == kRemotePrimary) {
      if (!remote_) return makeError(ErrorCode::kConfig, "this is not a standby cluster: no remote primary");
      postgres_.setUpstreamSettings(remote_settings_);
      return &*remote_;
    }
    postgres_.setUpstreamSettings(local_settings_);
    const dcs::MemberInfo* m = cluster.member(name);
    if (!m) return makeError(ErrorCode::kNotFound, "member " + name + " is not in the cluster");
    return m;
  };
  auto done = [](Status status) -> Result<bool> {
    if (!status.ok()) return status.error();
    return true;
  };
  switch (action.kind) {
    case ActionKind::kRaceInitialize:
      // With data already here, the key gets our system ID; otherwise "" until
      // the bootstrap finishes.
      return lock_.raceInitialize(pg.data_initialized ? pg.system_id : "");
    case ActionKind::kBootstrap: {
      // Take the leader lock first, so nobody clones from a half-made cluster.
      auto acquired = lock_.acquire();
      if (!acquired.ok() || !*acquired) {
        (void)lock_.cancelInitialize();
        if (!acquired.ok()) return acquired.error();
        return false;
      }
      Result<std::string> sysid = std::string();
      if (action.target == kRemotePrimary) {
        // A standby cluster starts as a copy of the other DC's primary.
        auto remote = member(kRemotePrimary);
        Status cloned = remote.ok() ? postgres_.clone(**remote) : Status(remote.error());
        if (cloned.ok()) {
          sysid = postgres_.observe().system_id;
        } else {
          sysid = cloned.error();
        }
      } else {
        sysid = postgres_.bootstrap();
      }
      if (!sysid.ok()) {
        // Leave the cluster as we found it, so another member can try.
        (void)lock_.release();
        (void)lock_.cancelInitialize();
        return sysid.error();
      }
      PGT_TRY(lock_.writeConfigIfAbsent(bootstrap_config_json_));
      PGT_TRY(lock_.writeInitialize(*sysid));
      callbacks_.notify("on_start", action.target == kRemotePrimary ? "standby_leader" : "primary");
      return true;
    }
    case ActionKind::kClone: {
      auto source = member(action.target);
      if (!source.ok()) return source.error();
      return done(postgres_.clone(**source));
    }
    case ActionKind::kAcquireLock: return lock_.acquire();
    case ActionKind::kRenewLock: return done(lock_.renew());
    case ActionKind::kReleaseLock: return done(lock_.release());
    case ActionKind::kPromote: {
      if (!pg.primary) {
        // A failed pre_promote cancels the promotion and gives the lock back.
        if (auto fenced = callbacks_.prePromote(); !fenced.ok()) {
          (void)lock_.release();
          return fenced.error();
        }
      }
      PGT_TRY(postgres_.promote());
      if (!pg.primary) callbacks_.notify("on_role_change", "primary");
      // The agent records the new timeline in /history from its history file.
      return true;
    }
    case ActionKind::kDemote:
      PGT_TRY(postgres_.demote());
      if (pg.running) callbacks_.notify("on_stop", pg.primary ? "primary" : "replica");
      return true;
    case ActionKind::kStartPrimary:
      PGT_TRY(postgres_.startPrimary());
      if (!pg.running) callbacks_.notify("on_start", "primary");
      return true;
    case ActionKind::kFollow: {
      const dcs::MemberInfo* upstream = nullptr;
      postgres_.setUpstreamSettings(local_settings_);
      if (!action.target.empty()) {
        auto found = member(action.target);
        if (!found.ok()) return found.error();
        upstream = *found;
      }
      PGT_TRY(postgres_.follow(upstream));
      // A primary that now follows changed role; a stopped one started.
      if (pg.primary || pg.needs_rewind) callbacks_.notify("on_role_change", "replica");
      else if (!pg.running) callbacks_.notify("on_start", "replica");
      return true;
    }
    case ActionKind::kRewind: {
      auto source = member(action.target);
      if (!source.ok()) return source.error();
      return done(postgres_.rewind(**source));
    }
    case ActionKind::kCleanDemote: {
      if (pg.running) {
        PGT_TRY(postgres_.demote());
        callbacks_.notify("on_stop", pg.primary ? "primary" : "replica");
      }
      auto token = postgres_.demotionToken();
      if (!token.ok()) return token.error();
      if (demotion_token_ != *token) {
        spdlog::info("stopped cleanly at REDO {} on timeline {} (WAL file {}{})", formatLsn(token->redo_lsn),
                     token->timeline, token->redo_wal_file, token->archived ? "" : ", not archived");
      }
      demotion_token_ = *token;
      return true;
    }
    case ActionKind::kClearFailover:
      if (!cluster.failover) return true;
      return done(lock_.clearFailover(cluster.failover->mod_revision));
  }
  return makeError(ErrorCode::kInternal, "unknown action");
}

}  // namespace pgtandem::agent
