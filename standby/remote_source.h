#pragma once
// The standby cluster's source: the other data center's primary, described
// by standby_cluster in the dynamic configuration, as a member the standby
// leader can clone and stream from.

#include <optional>
#include <string>

#include "common/config/config.h"
#include "common/dcs/cluster.h"

namespace pgtandem::standby {

// postgres://h1,h2:port/postgres named `name`; nullopt when the
// configuration is not a standby cluster. With no host (fed from the archive
// only) the conn_url is empty.
std::optional<dcs::MemberInfo> remotePrimary(const config::DynamicConfig& dynamic, const std::string& name);

}  // namespace pgtandem::standby
