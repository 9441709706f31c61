#pragma once
// Patroni's GET /cluster document, built from a DCS snapshot: the agent
// serves it and dcctl renders the same document (list, topology).

#include <string>

#include "common/dcs/cluster.h"

namespace pgtandem::dcs {

// What /cluster needs from the dynamic configuration.
struct ClusterFlags {
  bool standby_cluster = false;
  bool synchronous_mode = false;
  bool pause = false;
};

// Members sorted by name with role, state, host, port, timeline, tags and
// LSN/lag against the /status optime.
std::string clusterJson(const ClusterSnapshot& cluster, const ClusterFlags& flags);

}  // namespace pgtandem::dcs
