#pragma once
// The dc-coordinator's gRPC service and dcctl's client for it. gRPC stays
// out of this header (the build is slow enough).

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "coordinator/run_operation.h"

namespace pgtandem::coordinator {

// Serves proto/coordinator.proto on `listen` (host:port) until stop().
class CoordinatorServer {
 public:
  static Result<std::unique_ptr<CoordinatorServer>> start(const std::string& listen, const SitesConfig& sites,
                                                          DcsFactory connect, SitePeers& peers, const Clock& clock);
  virtual ~CoordinatorServer() = default;
  virtual void wait() = 0;  // until stop()
  virtual void stop() = 0;
};

// Asks the daemon at `address` to run `request`: its outcome, or nullopt
// when no daemon answers within `connect_timeout` (the caller may then run
// the operation itself).
std::optional<Result<std::string>> runRemote(const std::string& address, const OperationRequest& request,
                              const SiteOperations::Progress& progress,
                              std::chrono::milliseconds connect_timeout = std::chrono::milliseconds(2000));

}  // namespace pgtandem::coordinator
