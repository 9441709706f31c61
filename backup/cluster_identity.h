#pragma once
// What a data directory says about its cluster, read from its files (no
// running server needed): the system identifier in global/pg_control and
// the major version in PG_VERSION.

#include <string>

#include "common/util/result.h"

namespace pgtandem::backup {

struct ClusterIdentity {
  std::string system_identifier;
  int pg_version = 0;
};

Result<ClusterIdentity> readClusterIdentity(const std::string& data_dir);

}  // namespace pgtandem::backup
