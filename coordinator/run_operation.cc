#include "coordinator/run_operation.h"

#include "common/config/etcd_options.h"
#include "common/dcs/etcd_dcs.h"

namespace pgtandem::coordinator {

namespace {

template <typename Report>
Result<std::string> summaryOf(Result<Report> report) {
  if (!report.ok()) return report.error();
  return report->summary;
}

}  // namespace

Result<std::string> runOperation(const SitesConfig& sites, const DcsFactory& connect, SitePeers& peers, const Clock& clock,
                                 const OperationRequest& request, const SiteOperations::Progress& progress) {
  SiteOperations operations(sites, connect, peers, clock, {}, progress);
  if (request.verb == "init") return operations.init();
  if (request.verb == "switchover") return summaryOf(operations.switchover(request.site));
  if (request.verb == "promote") return summaryOf(operations.promote(request.site, request.promote));
  if (request.verb == "rejoin") return summaryOf(operations.rejoin(request.site));
  return makeError(ErrorCode::kInvalidArgument, "unknown site operation '" + request.verb + "'");
}

DcsFactory etcdDcsFactory() {
  return [](const Site& s) -> Result<std::unique_ptr<dcs::Dcs>> {
    auto client = dcs::EtcdDcs::create(config::etcdOptions(s.etcd, std::chrono::seconds(3)));
    if (!client.ok()) return client.error();
    return std::unique_ptr<dcs::Dcs>(std::move(*client));
  };
}

}  // namespace pgtandem::coordinator
