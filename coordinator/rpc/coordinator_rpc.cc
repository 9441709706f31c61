#include "coordinator/rpc/coordinator_rpc.h"

#include <grpcpp/grpcpp.h>

#include <mutex>

#include "common/util/files.h"
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
    const OperationRequest request{in->verb(), in->site(), PromoteOptions{in->while_primary_runs(), in->without_site_keys()}};
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

Result<std::shared_ptr<grpc::ServerCredentials>> serverCredentials(const CoordinatorTls& tls) {
  if (!tls.serverTls()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(tls.cafile.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                                                : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  PGT_ASSIGN(pair.private_key, readWholeFile(tls.keyfile, "coordinator.keyfile"));
  PGT_ASSIGN(pair.cert_chain, readWholeFile(tls.certfile, "coordinator.certfile"));
  options.pem_key_cert_pairs.push_back(std::move(pair));
  if (!tls.cafile.empty()) PGT_ASSIGN(options.pem_root_certs, readWholeFile(tls.cafile, "coordinator.cafile"));
  return grpc::SslServerCredentials(options);
}

Result<std::shared_ptr<grpc::ChannelCredentials>> channelCredentials(const CoordinatorTls& tls) {
  if (!tls.clientTls()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  PGT_ASSIGN(options.pem_root_certs, readWholeFile(tls.cafile, "coordinator.cafile"));
  if (!tls.client_certfile.empty()) {
    PGT_ASSIGN(options.pem_cert_chain, readWholeFile(tls.client_certfile, "coordinator.client_certfile"));
    PGT_ASSIGN(options.pem_private_key, readWholeFile(tls.client_keyfile, "coordinator.client_keyfile"));
  }
  return grpc::SslCredentials(options);
}

}  // namespace

Result<std::unique_ptr<CoordinatorServer>> CoordinatorServer::start(const std::string& listen, const SitesConfig& sites,
                                                                    DcsFactory connect, SitePeers& peers,
                                                                    const Clock& clock) {
  auto service = std::make_unique<Service>(sites, std::move(connect), peers, clock);
  grpc::ServerBuilder builder;
  int port = 0;
  std::shared_ptr<grpc::ServerCredentials> credentials;
  PGT_ASSIGN(credentials, serverCredentials(sites.tls));
  builder.AddListeningPort(listen, credentials, &port);
  builder.RegisterService(service.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) return makeError(ErrorCode::kUnavailable, "cannot listen on " + listen);
  return std::unique_ptr<CoordinatorServer>(std::make_unique<GrpcCoordinatorServer>(std::move(service), std::move(server)));
}

std::optional<Result<std::string>> runRemote(const std::string& address, const CoordinatorTls& tls,
                                             const OperationRequest& request, const SiteOperations::Progress& progress,
                                             std::chrono::milliseconds connect_timeout) {
  auto credentials = channelCredentials(tls);
  if (!credentials.ok()) return Result<std::string>(credentials.error());
  auto channel = grpc::CreateChannel(address, *credentials);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + connect_timeout)) return std::nullopt;
  auto stub = pb::Coordinator::NewStub(channel);
  pb::OperationRequest in;
  in.set_verb(request.verb);
  in.set_site(request.site);
  in.set_while_primary_runs(request.promote.while_primary_runs);
  in.set_without_site_keys(request.promote.without_site_keys);
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
