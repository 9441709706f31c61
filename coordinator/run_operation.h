#pragma once
// One entry point for every site operation, the same whether dcctl runs it
// in-process or the dc-coordinator daemon runs it for a gRPC caller.

#include <string>

#include "common/util/clock.h"
#include "common/util/result.h"
#include "coordinator/site_operations.h"

namespace pgtandem::coordinator {

struct OperationRequest {
  std::string verb;  // "init", "switchover" (to `site`), "promote", "rejoin" (`site`)
  std::string site;
  PromoteOptions promote;  // promote only
};

// Runs it; `progress` gets one line per journaled step. The summary for the
// operator, or the error (what is wrong and what state the DCs are in).
Result<std::string> runOperation(const SitesConfig& sites, const DcsFactory& connect, SitePeers& peers, const Clock& clock,
                                 const OperationRequest& request, const SiteOperations::Progress& progress);

// Each DC's etcd, from the sites file.
DcsFactory etcdDcsFactory();

}  // namespace pgtandem::coordinator
