#pragma once
// Who may take the leader role: one rule, used by the HA decision (a
// switchover's target, the failover race), the REST API's /switchover and
// /failover checks, and dcctl before it asks.

#include <optional>
#include <string>

#include "common/dcs/cluster.h"

namespace pgtandem::dcs {

// Its tags allow promotion: not nofailover, failover_priority not 0.
bool promotable(const MemberInfo& member);

// Promotable, and its PostgreSQL runs (state running or streaming).
bool eligibleCandidate(const MemberInfo& member);

// Why `name` cannot be a switchover or failover target in `cluster`
// (not a member, tagged nofailover, not running); nullopt when it can.
// Whether it is the leader already is the caller's to say.
std::optional<std::string> whyNotCandidate(const ClusterSnapshot& cluster, const std::string& name);

}  // namespace pgtandem::dcs
