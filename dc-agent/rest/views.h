#pragma once
// GET /patroni, built from the published AgentStatus. (GET /cluster is
// common/dcs/cluster_json.h: dcctl renders it too.)

#include <string>

#include "common/dcs/cluster.h"
#include "dc-agent/ha/agent_status.h"

namespace pgtandem::rest {

// GET /patroni (and the body of GET health checks).
std::string patroniJson(const agent::AgentStatus& status);


}  // namespace pgtandem::rest
