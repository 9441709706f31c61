#pragma once
// The JSON documents of Patroni's monitoring endpoints, built from state the
// agent already holds: GET /patroni from the published AgentStatus, GET
// /cluster from a DCS snapshot (dcctl renders the same document).

#include <string>

#include "common/dcs/cluster.h"
#include "dc-agent/ha/agent_status.h"

namespace pgtandem::rest {

// GET /patroni (and the body of GET health checks).
std::string patroniJson(const agent::AgentStatus& status);

// What /cluster needs from the dynamic configuration.
struct ClusterFlags {
  bool standby_cluster = false;
  bool synchronous_mode = false;
  bool pause = false;
};

// GET /cluster: members sorted by name with role, state, host, port,
// timeline, tags and LSN/lag against the /status optime.
std::string clusterJson(const dcs::ClusterSnapshot& cluster, const ClusterFlags& flags);

}  // namespace pgtandem::rest
