#pragma once
// The dc-coordinator's gRPC service and dcctl's client for it. gRPC stays
// out of this header (the build is slow enough).

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "coordinator/run_operation.h"

namespace pgtandem::coordinator {

// Serves proto/coordinator.proto on `listen` (host:port) until stop(), with
// TLS and client certificates as `sites.tls` says.
class CoordinatorServer {
 public:
  static Result<std::unique_ptr<CoordinatorServer>> start(const std::string& listen, const SitesConfig& sites,
                                                          DcsFactory connect, SitePeers& peers, const Clock& clock);
  virtual ~CoordinatorServer() = default;
  virtual void wait() = 0;  // until stop()
  virtual void stop() = 0;
};

// Asks the daemon at `address` to run `request` (over TLS when `tls` says
// so): its outcome, or nullopt when no daemon answers within
// `connect_timeout` (the caller may then run the operation itself). A TLS
// handshake the daemon refuses also ends as nullopt: gRPC cannot tell it
// from a daemon that is down.
std::optional<Result<std::string>> runRemote(const std::string& address, const CoordinatorTls& tls,
                                             const OperationRequest& request, const SiteOperations::Progress& progress,
                              std::chrono::milliseconds connect_timeout = std::chrono::milliseconds(2000));

}  // namespace pgtandem::coordinator
