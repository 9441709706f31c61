#pragma once
// Patroni's health checks (GET /primary, /replica?lag=..., ...), as a pure
// function of the agent's published status: 200 or 503, decided without a
// PostgreSQL query or a DCS read, so load balancers can poll as often as
// they like.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dc-agent/ha/agent_status.h"

namespace pgtandem::rest {

// Decoded query parameters, in request order.
using QueryParams = std::vector<std::pair<std::string, std::string>>;

const std::string* findParam(const QueryParams& query, std::string_view name);

// "1048576", "16kB", "10MB", "1GB", "1TB" (powers of 1024, as PostgreSQL and
// Patroni read them). nullopt when it does not parse.
std::optional<std::int64_t> parseByteSize(std::string_view text);

// The status code of a health endpoint. `path` has no query string; "/" is
// "/primary". Unknown paths are 503, as in Patroni.
int healthStatus(std::string_view path, const QueryParams& query, const agent::AgentStatus& status, MonoTime now);

// GET /liveness: the HA loop ran within ttl (leader) or 2*ttl (replica);
// always 200 in pause.
int livenessStatus(const agent::AgentStatus& status, MonoTime now);

// GET /readiness?lag=&mode=apply|write: the leader, or a streaming replica
// within `lag` (default maximum_lag_on_failover) of the leader.
int readinessStatus(const QueryParams& query, const agent::AgentStatus& status, MonoTime now);

}  // namespace pgtandem::rest
