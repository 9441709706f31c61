#pragma once
// Performs a Decision's actions in order and stops at the first that fails
// or loses a race (kRaceInitialize, kAcquireLock): later actions may depend
// on earlier ones (promote needs the lock). Each action is idempotent.

#include <optional>
#include <string>
#include <vector>

#include "dc-agent/ha/callbacks.h"
#include "dc-agent/ha/decision.h"
#include "dc-agent/ha/leader_lock.h"
#include "dc-agent/ha/postgres_control.h"

namespace pgtandem::agent {

struct ExecutionResult {
  std::vector<ActionKind> done;
  std::optional<ActionKind> stopped_at;  // failed or lost a race
  std::optional<Error> error;            // when it failed
  bool lock_renewal_failed = false;
};

class Executor {
 public:
  Executor(LeaderLock& lock, PostgresControl& postgres, Callbacks& callbacks, std::string bootstrap_config_json);

  ExecutionResult run(const Decision& decision, const dcs::ClusterSnapshot& cluster, const PgObservation& pg);

  // How to reach an upstream: `local` for members of this DC (and for no
  // upstream); `remote` is the other DC's primary behind kRemotePrimary
  // (standby cluster; conn_url "" when it is fed from the archive only),
  // reached with `remote_settings`.
  void setUpstreams(UpstreamSettings local, std::optional<dcs::MemberInfo> remote, UpstreamSettings remote_settings) {
    local_settings_ = std::move(local);
    remote_ = std::move(remote);
    remote_settings_ = std::move(remote_settings);
  }

 // Where this member's primary last stopped cleanly (kCleanDemote); reset
  // when it runs as a primary again.
  const std::optional<dcs::DemotionToken>& demotionToken() const { return demotion_token_; }
  void forgetDemotionToken() { demotion_token_.reset(); }

 private:
  // Ok(true): done, go on; Ok(false): lost a race, stop quietly.
  Result<bool> runOne(const Action& action, const dcs::ClusterSnapshot& cluster, const PgObservation& pg);

  LeaderLock& lock_;
  PostgresControl& postgres_;
  Callbacks& callbacks_;
  std::string bootstrap_config_json_;
  UpstreamSettings local_settings_;
  std::optional<dcs::MemberInfo> remote_;
  UpstreamSettings remote_settings_;
  std::optional<dcs::DemotionToken> demotion_token_;
};

}  // namespace pgtandem::agent
