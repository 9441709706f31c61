#pragma once
// GET /metrics: Prometheus text exposition of the agent's published status,
// with Patroni's metric names (labels scope and name) plus pgtandem's own.
// Rendered by prometheus-cpp's serializer from one status snapshot.

#include <string>

#include "dc-agent/ha/agent_status.h"

namespace pgtandem::rest {

std::string renderMetrics(const agent::AgentStatus& status, MonoTime now_mono, WallTime now_wall);

}  // namespace pgtandem::rest
