#pragma once
// Patroni's REST API, routed as Patroni does (`<METHOD> /<first segment>`,
// everything else GET is a health check). Health checks and GET /patroni
// answer from the agent's published status; /cluster, /history and /config
// read the DCS; actions write the DCS (/failover, /config) or hand an
// operation to the HA loop (restart, reload, reinitialize).
//
// handle() never throws and never blocks on PostgreSQL. Requests for which
// needsWorker() is true may block on the DCS (or wait for a switchover), so
// the server runs them off its I/O thread.

#include <memory>
#include <mutex>
#include <string>

#include "common/config/config.h"
#include "common/dcs/cluster.h"
#include "common/util/clock.h"
#include "dc-agent/ha/agent_status.h"
#include "dc-agent/ha/failsafe.h"
#include "dc-agent/ha/operations.h"
#include "dc-agent/rest/access.h"
#include "dc-agent/rest/health.h"
#include "dc-agent/rest/http.h"

namespace pgtandem::rest {

class RestApi {
 public:
  // Fails when the access settings (allowlist) are invalid.
  static Result<std::unique_ptr<RestApi>> create(const config::Config& config, dcs::Dcs& dcs,
                                                 const agent::StatusBoard& board, agent::OperationMailbox& operations,
                                                 const Clock& clock);

  HttpResponse handle(const HttpRequest& request);
  static bool needsWorker(const HttpRequest& request);

  // A re-read patroni.yml's authentication and allowlist, for the next
  // requests (config/reload.h). On error nothing changes.
  Status applyConfig(const config::Config& config);

  // Where POST /failsafe records a leader's heartbeat (failsafe.h). Without
  // it the endpoint answers 502, as with failsafe mode off.
  void attachFailsafeHeartbeats(agent::FailsafeHeartbeats* heartbeats) { failsafe_heartbeats_ = heartbeats; }

  // How long a switchover/failover request waits for the new leader.
  void setSwitchoverWait(std::chrono::milliseconds wait) { switchover_wait_ = wait; }

 private:
  RestApi(const config::Config& config, dcs::Dcs& dcs, const agent::StatusBoard& board,
          agent::OperationMailbox& operations, const Clock& clock, AccessPolicy policy);

  static Result<AccessPolicy> accessPolicy(const config::Config& config);
  std::shared_ptr<const AccessPolicy> policy();

  HttpResponse handleRead(const HttpRequest& request, const std::string& path, const QueryParams& query);
  HttpResponse handleChange(const HttpRequest& request, const std::string& path);
  HttpResponse failover(const HttpRequest& request, bool switchover);
  HttpResponse cancelSwitchover();
  HttpResponse patchConfig(const HttpRequest& request, bool replace);
  HttpResponse restart(const HttpRequest& request);
  HttpResponse cancelRestart();
  HttpResponse reload();
  HttpResponse reinitialize(const HttpRequest& request);
  HttpResponse readConfig();
  HttpResponse readFailsafe(const agent::AgentStatus& status);
  HttpResponse failsafeHeartbeat(const HttpRequest& request);
  HttpResponse clusterView();
  HttpResponse history();
  std::vector<IpNetwork> memberNetworks();
  Result<dcs::ClusterSnapshot> loadSnapshot();
  std::string statusDocument(const std::shared_ptr<const agent::AgentStatus>& status);

  const config::Config config_;  // a copy: patroni.yml re-read elsewhere changes only applyConfig's parts
  dcs::Dcs& dcs_;
  const agent::StatusBoard& board_;
  agent::OperationMailbox& operations_;
  const Clock& clock_;
  std::mutex policy_mutex_;
  std::shared_ptr<const AccessPolicy> policy_;  // swapped whole by applyConfig
  dcs::ClusterPaths paths_;
  dcs::MalformedValueLog malformed_;
  std::chrono::milliseconds switchover_wait_{0};
  agent::FailsafeHeartbeats* failsafe_heartbeats_ = nullptr;
  std::mutex document_mutex_;
  std::shared_ptr<const agent::AgentStatus> document_status_;
  std::string document_;
};

}  // namespace pgtandem::rest
