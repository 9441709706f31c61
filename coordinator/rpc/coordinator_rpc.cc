#include "coordinator/rpc/coordinator_rpc.h"

#include <grpcpp/grpcpp.h>

#include <mutex>

#include "common/util/log.h"
#include "coordinator.grpc.pb.h"

namespace pgtandem::coordinator {

namespace pb = ::pgtandem::coordinator::v1;

namespace {

class Service final : public pb::Coordinator::Service {
 public:
  Service(const SitesConfig& sites, DcsFactory connect, SitePeers& peers, const Clock& clock)
      : sites_(sites), connect_(std::move(connect)), peers_(peers), clock_(clock) {}

  grpc::Status Run(grpc::ServerContext*, const pb::OperationRequest* in,
                   grpc::ServerWriter<pb::OperationEvent>* writer) override {
    const OperationRequest request{in->verb(), in->site(), in->while_primary_runs()};
    std::unique_lock lock(busy_, std::try_to_lock);
    if (!lock.owns_lock()) {
      std::lock_guard guard(running_mutex_);
      writeOutcome(writer, makeError(ErrorCode::kConflict, "this coordinator is running a " + running_ + ": try again when it is done"));
      return grpc::Status::OK;
    }
    {
      std::lock_guard guard(running_mutex_);
      running_ = request.verb + (request.site.empty() ? "" : " " + request.site);
    }
    spdlog::info("running site {} {}", request.verb, request.site);
    auto result = runOperation(sites_, connect_, peers_, clock_, request, [&](const std::string& line) {
      pb::OperationEvent event;
      event.set_progress(line);
      writer->Write(event);  // a caller that went away does not stop the operation
    });
    if (!result.ok()) spdlog::warn("site {} {} failed: {}", request.verb, request.site, result.error().message);
    writeOutcome(writer, result);
    return grpc::Status::OK;
  }

 private:
  static void writeOutcome(grpc::ServerWriter<pb::OperationEvent>* writer, const Result<std::string>& result) {
    pb::OperationEvent event;
    auto* outcome = event.mutable_outcome();
    outcome->set_ok(result.ok());
    outcome->set_text(result.ok() ? *result : result.error().message);
    if (!result.ok()) outcome->set_error_code(errorCodeName(result.error().code));
    writer->Write(event);
  }

  const SitesConfig& sites_;
  DcsFactory connect_;
  SitePeers& peers_;
  const Clock& clock_;
  std::mutex busy_;
  std::mutex running_mutex_;
  std::string running_;
};

class GrpcCoordinatorServer final : public CoordinatorServer {
 public:
  GrpcCoordinatorServer(std::unique_ptr<Service> service, std::unique_ptr<grpc::Server> server)
      : service_(std::move(service)), server_(std::move(server)) {}
  ~GrpcCoordinatorServer() override { stop(); }
  void wait() override { server_->Wait(); }
  void stop() override { server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5)); }

 private:
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace

Result<std::unique_ptr<CoordinatorServer>> CoordinatorServer::start(const std::string& listen, const SitesConfig& sites,
                                                                    DcsFactory connect, SitePeers& peers,
                                                                    const Clock& clock) {
  auto service = std::make_unique<Service>(sites, std::move(connect), peers, clock);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) return makeError(ErrorCode::kUnavailable, "cannot listen on " + listen);
  return std::unique_ptr<CoordinatorServer>(std::make_unique<GrpcCoordinatorServer>(std::move(service), std::move(server)));
}

std::optional<Result<std::string>> runRemote(const std::string& address, const OperationRequest& request,
                                             const SiteOperations::Progress& progress,
                                             std::chrono::milliseconds connect_timeout) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + connect_timeout)) return std::nullopt;
  auto stub = pb::Coordinator::NewStub(channel);
  pb::OperationRequest in;
  in.set_verb(request.verb);
  in.set_site(request.site);
  in.set_while_primary_runs(request.while_primary_runs);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::hours(2));  // a rejoin may re-clone
  auto reader = stub->Run(&context, in);
  pb::OperationEvent event;
  std::optional<pb::Outcome> outcome;
  while (reader->Read(&event)) {
    if (event.has_outcome()) {
      outcome = event.outcome();
    } else if (progress) {
      progress(event.progress());
    }
  }
  const grpc::Status status = reader->Finish();
  if (!outcome) {
    return Result<std::string>(makeError(ErrorCode::kUnavailable,
                                         "the coordinator at " + address + " stopped answering (" + status.error_message() +
                                             "): the operation may be half done; run the command again to resume it"));
  }
  if (!outcome->ok()) return Result<std::string>(makeError(ErrorCode::kConflict, outcome->text()));
  return Result<std::string>(outcome->text());
}

}  // namespace pgtandem::coordinator
