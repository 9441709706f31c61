#include "common/dcs/etcd_dcs.h"

#include "common/dcs/etcd_status.h"
#include "common/util/files.h"

#include <grpc/support/log.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/util/log.h"
#include "etcd.grpc.pb.h"

namespace pgtandem::dcs {

namespace pb = etcdserverpb;

namespace {

using SteadyClock = std::chrono::steady_clock;

// gRPC logs to stderr by default; route it through our logger at low levels
// so that a reconnecting channel does not flood the agent's output.
void grpcLog(gpr_log_func_args* args) {
  if (args->severity == GPR_LOG_SEVERITY_ERROR) {
    spdlog::debug("grpc: {}", args->message);
  } else {
    spdlog::trace("grpc: {}", args->message);
  }
}

bool isRetryable(const grpc::Status& status) { return etcdRetryable(static_cast<int>(status.error_code())); }

// etcd reports several auth problems as INVALID_ARGUMENT; these are cured by
// authenticating again.
bool needsReauthentication(const grpc::Status& status) {
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) return true;
  if (status.error_code() != grpc::StatusCode::INVALID_ARGUMENT) return false;
  const auto& message = status.error_message();
  return message.find("user name is empty") != std::string::npos ||
         message.find("revision of auth store is old") != std::string::npos;
}

Error toError(const grpc::Status& status, const std::string& what, const std::string& endpoint) {
  return etcdError(static_cast<int>(status.error_code()), status.error_message(), what, endpoint);
}

KeyValue fromProto(const pb::KeyValue& kv) {
  return KeyValue{kv.key(), kv.value(), kv.create_revision(), kv.mod_revision(), kv.version(), kv.lease()};
}

void toProto(const Compare& compare, pb::Compare* out) {
  out->set_key(compare.key);
  switch (compare.op) {
    case Compare::Op::kEqual: out->set_result(pb::Compare::EQUAL); break;
    case Compare::Op::kNotEqual: out->set_result(pb::Compare::NOT_EQUAL); break;
    case Compare::Op::kGreater: out->set_result(pb::Compare::GREATER); break;
    case Compare::Op::kLess: out->set_result(pb::Compare::LESS); break;
  }
  switch (compare.target) {
    case Compare::Target::kVersion:
      out->set_target(pb::Compare::VERSION);
      out->set_version(compare.number);
      break;
    case Compare::Target::kCreateRevision:
      out->set_target(pb::Compare::CREATE);
      out->set_create_revision(compare.number);
      break;
    case Compare::Target::kModRevision:
      out->set_target(pb::Compare::MOD);
      out->set_mod_revision(compare.number);
      break;
    case Compare::Target::kValue:
      out->set_target(pb::Compare::VALUE);
      out->set_value(compare.value);
      break;
    case Compare::Target::kLease:
      out->set_target(pb::Compare::LEASE);
      out->set_lease(compare.number);
      break;
  }
}

void toProto(const WriteOp& op, pb::RequestOp* out) {
  switch (op.kind) {
    case WriteOp::Kind::kPut: {
      auto* put = out->mutable_request_put();
      put->set_key(op.key);
      put->set_value(op.value);
      put->set_lease(op.lease);
      break;
    }
    case WriteOp::Kind::kDelete: out->mutable_request_delete_range()->set_key(op.key); break;
    case WriteOp::Kind::kDeletePrefix: {
      auto* del = out->mutable_request_delete_range();
      del->set_key(op.key);
      del->set_range_end(prefixRangeEnd(op.key));
      break;
    }
  }
}

}  // namespace

Result<std::vector<std::string>> normalizeEtcdEndpoints(const std::vector<std::string>& endpoints, bool* tls) {
  std::vector<std::string> out;
  for (const auto& raw : endpoints) {
    std::string endpoint = raw;
    if (endpoint.rfind("https://", 0) == 0) {
      endpoint = endpoint.substr(8);
      if (tls) *tls = true;
    } else if (endpoint.rfind("http://", 0) == 0) {
      endpoint = endpoint.substr(7);
    } else if (endpoint.find("://") != std::string::npos) {
      return makeError(ErrorCode::kConfig, "etcd endpoint '" + raw + "': only http:// and https:// are supported");
    }
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    if (endpoint.empty()) return makeError(ErrorCode::kConfig, "etcd endpoint '" + raw + "' is empty");
    const auto colon = endpoint.rfind(':');
    const bool bracketed_v6 = endpoint.front() == '[';
    if (colon == std::string::npos || (bracketed_v6 && endpoint.back() == ']')) {
      endpoint += ":2379";
    } else {
      const std::string port = endpoint.substr(colon + 1);
      if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535 ||
          std::stoul(port) == 0) {
        return makeError(ErrorCode::kConfig, "etcd endpoint '" + raw + "' has an invalid port");
      }
    }
    out.push_back(endpoint);
  }
  if (out.empty()) return makeError(ErrorCode::kConfig, "no etcd endpoints configured");
  return out;
}

struct EtcdDcs::Impl {
  struct Endpoint {
    std::string address;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<pb::KV::Stub> kv;
    std::unique_ptr<pb::Lease::Stub> lease;
    std::unique_ptr<pb::Watch::Stub> watch;
    std::unique_ptr<pb::Auth::Stub> auth;
    std::unique_ptr<pb::Maintenance::Stub> maintenance;
  };

  EtcdOptions options;
  // options.request_timeout as set at run time (/config's retry_timeout).
  std::atomic<std::chrono::milliseconds::rep> request_timeout_ms{0};
  std::vector<Endpoint> endpoints;
  std::atomic<std::size_t> preferred{0};  // the endpoint that answered last
  std::mutex token_mutex;
  std::string token;

  std::string currentToken() {
    std::lock_guard lock(token_mutex);
    return token;
  }

  void prepare(grpc::ClientContext& context, SteadyClock::time_point deadline, bool with_token) {
    const auto remaining = deadline - SteadyClock::now();
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::duration_cast<std::chrono::system_clock::duration>(remaining));
    // Without it a member that lost its raft leader holds calls until the
    // deadline; with it the member fails them at once and we move on.
    context.AddMetadata("hasleader", "true");
    if (with_token) {
      const auto current = currentToken();
      if (!current.empty()) context.AddMetadata("token", current);
    }
  }

  // Runs `rpc(endpoint, context)` against the endpoints, starting with the
  // preferred one, until one answers or the deadline passes.
  template <typename Rpc>
  Status call(const std::string& what, Rpc&& rpc, bool with_token = true) {
    const auto deadline = callDeadline();
    if (SteadyClock::now() >= deadline) {
      return makeError(ErrorCode::kTimeout, "etcd " + what + ": the caller's deadline has passed");
    }
    const std::size_t count = endpoints.size();
    std::size_t index = preferred.load() % count;
    std::size_t tried = 0;
    bool reauthenticated = false;
    if (with_token && !options.username.empty() && currentToken().empty()) {
      PGT_TRY(authenticate(deadline));
      reauthenticated = true;
    }
    grpc::Status last;
    std::string last_endpoint = endpoints[index].address;
    for (int attempt = 0; attempt < static_cast<int>(count) + 2; ++attempt) {
      const auto now = SteadyClock::now();
      if (now >= deadline) break;
      const auto share = (deadline - now) / static_cast<long>(std::max<std::size_t>(1, count - tried));
      grpc::ClientContext context;
      prepare(context, now + share, with_token);
      last = rpc(endpoints[index], context);
      last_endpoint = endpoints[index].address;
      if (last.ok()) {
        preferred.store(index);
        return okStatus();
      }
      if (with_token && !options.username.empty() && !reauthenticated && needsReauthentication(last)) {
        reauthenticated = true;
        PGT_TRY(authenticate(deadline));
        continue;
      }
      if (!isRetryable(last)) return toError(last, what, last_endpoint);
      if (++tried >= count) break;
      index = (index + 1) % count;
    }
    if (last.ok()) return makeError(ErrorCode::kTimeout, "etcd " + what + ": deadline passed before any attempt");
    return toError(last, what, last_endpoint);
  }

  // Now plus the request timeout, or the caller's CallDeadline if sooner.
  SteadyClock::time_point callDeadline() const {
    auto deadline = SteadyClock::now() + std::chrono::milliseconds(request_timeout_ms.load());
    if (auto scoped = CallDeadline::current(); scoped && *scoped < deadline) deadline = *scoped;
    return deadline;
  }

  Status authenticate(SteadyClock::time_point deadline) {
    pb::AuthenticateRequest request;
    request.set_name(options.username);
    request.set_password(options.password);
    pb::AuthenticateResponse response;
    const std::size_t count = endpoints.size();
    std::size_t index = preferred.load() % count;
    grpc::Status status;
    for (std::size_t tried = 0; tried < count && SteadyClock::now() < deadline; ++tried) {
      grpc::ClientContext context;
      prepare(context, deadline, false);
      status = endpoints[index].auth->Authenticate(&context, request, &response);
      if (status.ok()) {
        std::lock_guard lock(token_mutex);
        token = response.token();
        return okStatus();
      }
      if (!isRetryable(status)) break;
      index = (index + 1) % count;
    }
    // The password never appears here; only the user name does.
    return toError(status, "authenticate as user '" + options.username + "'", endpoints[index].address);
  }

  Result<RangeResult> range(std::string_view key, bool prefix) {
    pb::RangeRequest request;
    request.set_key(std::string(key));
    if (prefix) request.set_range_end(prefixRangeEnd(key));
    pb::RangeResponse response;
    PGT_TRY(call("range " + std::string(key),
                 [&](Endpoint& e, grpc::ClientContext& c) { return e.kv->Range(&c, request, &response); }));
    RangeResult result;
    result.revision = response.header().revision();
    result.kvs.reserve(response.kvs_size());
    for (const auto& kv : response.kvs()) result.kvs.push_back(fromProto(kv));
    return result;
  }
};

class EtcdWatch final : public Watch {
 public:
  EtcdWatch(std::shared_ptr<EtcdDcs::Impl> impl, std::string prefix, Revision start, WatchCallback callback)
      : impl_(std::move(impl)), prefix_(std::move(prefix)), next_revision_(start), callback_(std::move(callback)) {
    thread_ = std::thread([this] { run(); });
  }

  ~EtcdWatch() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      if (active_context_) active_context_->TryCancel();
    }
    wakeup_.notify_all();
    thread_.join();
  }

 private:
  bool stopping() {
    std::lock_guard lock(mutex_);
    return stopping_;
  }

  void run() {
    int failures = 0;
    while (!stopping()) {
      if (runStream()) failures = 0;
      else ++failures;
      std::unique_lock lock(mutex_);
      // Back off 100 ms, 200 ms, ... up to 1 s between reconnects.
      const auto delay = std::chrono::milliseconds(std::min(1000, 100 << std::min(failures, 4)));
      wakeup_.wait_for(lock, delay, [&] { return stopping_; });
    }
  }

  // Re-reads the prefix after a compaction and hands the whole state over.
  bool resync() {
    auto range = impl_->range(prefix_, true);
    if (!range.ok()) {
      spdlog::warn("watch {}: re-read after compaction failed: {}", prefix_, range.error().toString());
      return false;
    }
    WatchUpdate update;
    update.kind = WatchUpdate::Kind::kResync;
    update.revision = range->revision;
    update.snapshot = std::move(range->kvs);
    next_revision_ = range->revision + 1;
    callback_(update);
    return true;
  }

  // One watch stream, from creation until it breaks. Returns true when the
  // stream was established (so the next reconnect need not back off long).
  bool runStream() {
    const std::size_t index = impl_->preferred.load() % impl_->endpoints.size();
    auto& endpoint = impl_->endpoints[index];
    grpc::ClientContext context;
    context.AddMetadata("hasleader", "true");
    if (const auto token = impl_->currentToken(); !token.empty()) context.AddMetadata("token", token);
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return false;
      active_context_ = &context;
    }
    bool established = false;
    bool compacted = false;
    auto stream = endpoint.watch->Watch(&context);
    pb::WatchRequest request;
    auto* create = request.mutable_create_request();
    create->set_key(prefix_);
    create->set_range_end(prefixRangeEnd(prefix_));
    create->set_start_revision(next_revision_);
    pb::WatchResponse response;
    if (stream->Write(request)) {
      while (stream->Read(&response)) {
        if (response.compact_revision() > 0) {
          compacted = true;
          break;
        }
        if (response.canceled()) {
          spdlog::warn("watch {}: canceled by etcd: {}", prefix_, response.cancel_reason());
          break;
        }
        if (response.created()) {
          established = true;
          if (next_revision_ == 0) next_revision_ = response.header().revision() + 1;
          continue;
        }
        if (response.events_size() == 0) continue;
        WatchUpdate update;
        update.kind = WatchUpdate::Kind::kEvents;
        for (const auto& event : response.events()) {
          WatchEvent out;
          out.type = event.type() == pb::Event::DELETE ? WatchEvent::Type::kDelete : WatchEvent::Type::kPut;
          out.kv = fromProto(event.kv());
          update.revision = out.kv.mod_revision;
          update.events.push_back(std::move(out));
        }
        next_revision_ = update.revision + 1;
        callback_(update);
      }
    }
    {
      std::lock_guard lock(mutex_);
      active_context_ = nullptr;
    }
    context.TryCancel();
    const grpc::Status status = stream->Finish();
    if (stopping()) return established;
    if (compacted) return resync();
    if (needsReauthentication(status) && !impl_->options.username.empty()) {
      (void)impl_->authenticate(impl_->callDeadline());
    }
    if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
      spdlog::debug("watch {} via {} ended: {}", prefix_, endpoint.address, status.error_message());
    }
    // Try another endpoint next time if this one is the problem.
    if (!established) {
      std::size_t expected = index;
      impl_->preferred.compare_exchange_strong(expected, (index + 1) % impl_->endpoints.size());
    }
    return established;
  }

  std::shared_ptr<EtcdDcs::Impl> impl_;
  const std::string prefix_;
  Revision next_revision_;  // only the watch thread touches it
  WatchCallback callback_;
  std::mutex mutex_;
  std::condition_variable wakeup_;
  bool stopping_ = false;
  grpc::ClientContext* active_context_ = nullptr;
  std::thread thread_;
};

// ---------------------------------------------------------------------------

Result<std::unique_ptr<EtcdDcs>> EtcdDcs::create(EtcdOptions options) {
  static std::once_flag log_once;
  std::call_once(log_once, [] { gpr_set_log_function(grpcLog); });

  bool tls = options.tls;
  auto endpoints = normalizeEtcdEndpoints(options.endpoints, &tls);
  if (!endpoints.ok()) return endpoints.error();
  options.tls = tls;
  if (options.request_timeout.count() <= 0) {
    return makeError(ErrorCode::kConfig, "etcd request timeout must be positive");
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return makeError(ErrorCode::kConfig, "etcd client certificate and key must be given together");
  }

  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (options.tls || !options.ca_file.empty() || !options.cert_file.empty()) {
    options.tls = true;
    grpc::SslCredentialsOptions ssl;
    if (!options.ca_file.empty()) {
      auto ca = readWholeFile(options.ca_file, "etcd CA certificate");
      if (!ca.ok()) return ca.error();
      ssl.pem_root_certs = *ca;
    }
    if (!options.cert_file.empty()) {
      auto cert = readWholeFile(options.cert_file, "etcd client certificate");
      if (!cert.ok()) return cert.error();
      auto key = readWholeFile(options.key_file, "etcd client key");
      if (!key.ok()) return key.error();
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    credentials = grpc::SslCredentials(ssl);
  }

  grpc::ChannelArguments args;
  // Detect a dead TCP peer under an open watch; etcd refuses pings more often
  // than every 5 s, and pings without an open stream.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  // Reconnect quickly after an etcd restart. GRPC_ARG_MIN_RECONNECT_BACKOFF_MS
  // is left alone: gRPC uses it as the connect timeout, and a low value kept
  // a channel from ever reconnecting to a restarted etcd (tested).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);

  auto impl = std::make_shared<Impl>();
  impl->options = options;
  impl->request_timeout_ms = options.request_timeout.count();
  for (const auto& address : *endpoints) {
    Impl::Endpoint endpoint;
    endpoint.address = address;
    endpoint.channel = grpc::CreateCustomChannel(address, credentials, args);
    endpoint.kv = pb::KV::NewStub(endpoint.channel);
    endpoint.lease = pb::Lease::NewStub(endpoint.channel);
    endpoint.watch = pb::Watch::NewStub(endpoint.channel);
    endpoint.auth = pb::Auth::NewStub(endpoint.channel);
    endpoint.maintenance = pb::Maintenance::NewStub(endpoint.channel);
    impl->endpoints.push_back(std::move(endpoint));
  }
  return std::unique_ptr<EtcdDcs>(new EtcdDcs(std::move(impl)));
}

EtcdDcs::EtcdDcs(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
EtcdDcs::~EtcdDcs() = default;

Result<std::string> EtcdDcs::serverVersion() {
  pb::StatusRequest request;
  pb::StatusResponse response;
  PGT_TRY(impl_->call("status", [&](Impl::Endpoint& e, grpc::ClientContext& c) {
    return e.maintenance->Status(&c, request, &response);
  }));
  return response.version();
}

Status EtcdDcs::compact(Revision revision) {
  pb::CompactionRequest request;
  request.set_revision(revision);
  request.set_physical(true);
  pb::CompactionResponse response;
  return impl_->call("compact", [&](Impl::Endpoint& e, grpc::ClientContext& c) {
    return e.kv->Compact(&c, request, &response);
  });
}

Result<RangeResult> EtcdDcs::get(std::string_view key) { return impl_->range(key, false); }

Result<RangeResult> EtcdDcs::getPrefix(std::string_view prefix) { return impl_->range(prefix, true); }

Result<Revision> EtcdDcs::put(std::string_view key, std::string_view value, LeaseId lease) {
  pb::PutRequest request;
  request.set_key(std::string(key));
  request.set_value(std::string(value));
  request.set_lease(lease);
  pb::PutResponse response;
  PGT_TRY(impl_->call("put " + std::string(key),
                      [&](Impl::Endpoint& e, grpc::ClientContext& c) { return e.kv->Put(&c, request, &response); }));
  return response.header().revision();
}

Result<std::int64_t> EtcdDcs::erasePrefix(std::string_view prefix) {
  pb::DeleteRangeRequest request;
  request.set_key(std::string(prefix));
  request.set_range_end(prefixRangeEnd(prefix));
  pb::DeleteRangeResponse response;
  PGT_TRY(impl_->call("delete prefix " + std::string(prefix), [&](Impl::Endpoint& e, grpc::ClientContext& c) {
    return e.kv->DeleteRange(&c, request, &response);
  }));
  return response.deleted();
}

Result<TxnResult> EtcdDcs::txn(const std::vector<Compare>& compares, const std::vector<WriteOp>& on_success,
                               const std::vector<WriteOp>& on_failure) {
  pb::TxnRequest request;
  std::vector<std::string> compared_keys;
  for (const auto& compare : compares) {
    toProto(compare, request.add_compare());
    if (std::find(compared_keys.begin(), compared_keys.end(), compare.key) == compared_keys.end()) {
      compared_keys.push_back(compare.key);
    }
  }
  for (const auto& op : on_success) toProto(op, request.add_success());
  // Reads first, so they see the state the compares saw.
  for (const auto& key : compared_keys) request.add_failure()->mutable_request_range()->set_key(key);
  for (const auto& op : on_failure) toProto(op, request.add_failure());
  pb::TxnResponse response;
  PGT_TRY(impl_->call("txn", [&](Impl::Endpoint& e, grpc::ClientContext& c) { return e.kv->Txn(&c, request, &response); }));
  TxnResult result;
  result.succeeded = response.succeeded();
  result.revision = response.header().revision();
  if (!result.succeeded) {
    for (std::size_t i = 0; i < compared_keys.size() && static_cast<int>(i) < response.responses_size(); ++i) {
      for (const auto& kv : response.responses(static_cast<int>(i)).response_range().kvs()) {
        result.current.push_back(fromProto(kv));
      }
    }
  }
  return result;
}

Result<Lease> EtcdDcs::grantLease(std::chrono::seconds ttl) {
  if (ttl.count() <= 0) return makeError(ErrorCode::kInvalidArgument, "lease TTL must be positive");
  pb::LeaseGrantRequest request;
  request.set_ttl(ttl.count());
  pb::LeaseGrantResponse response;
  PGT_TRY(impl_->call("lease grant", [&](Impl::Endpoint& e, grpc::ClientContext& c) {
    return e.lease->LeaseGrant(&c, request, &response);
  }));
  if (!response.error().empty()) return makeError(ErrorCode::kInternal, "etcd lease grant: " + response.error());
  return Lease{response.id(), std::chrono::seconds(response.ttl())};
}

Result<std::chrono::seconds> EtcdDcs::keepAlive(LeaseId lease) {
  pb::LeaseKeepAliveRequest request;
  request.set_id(lease);
  pb::LeaseKeepAliveResponse response;
  bool answered = false;
  PGT_TRY(impl_->call("lease keepalive", [&](Impl::Endpoint& e, grpc::ClientContext& c) {
    auto stream = e.lease->LeaseKeepAlive(&c);
    answered = stream->Write(request) && stream->Read(&response);
    stream->WritesDone();
    if (answered) c.TryCancel();  // we have our answer; do not wait for the server to close
    const grpc::Status status = stream->Finish();
    if (answered) return grpc::Status::OK;
    return status.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "keepalive stream closed") : status;
  }));
  // etcd answers an expired or unknown lease with TTL 0, not an error.
  if (response.ttl() <= 0) return makeError(ErrorCode::kLeaseLost, "etcd lease " + std::to_string(lease) + " expired");
  return std::chrono::seconds(response.ttl());
}

Status EtcdDcs::revokeLease(LeaseId lease) {
  pb::LeaseRevokeRequest request;
  request.set_id(lease);
  pb::LeaseRevokeResponse response;
  auto status = impl_->call("lease revoke", [&](Impl::Endpoint& e, grpc::ClientContext& c) {
    return e.lease->LeaseRevoke(&c, request, &response);
  });
  if (!status.ok() && status.error().code == ErrorCode::kLeaseLost) return okStatus();
  return status;
}

void EtcdDcs::setRequestTimeout(std::chrono::milliseconds timeout) {
  if (timeout.count() > 0) impl_->request_timeout_ms = timeout.count();
}

Result<std::unique_ptr<Watch>> EtcdDcs::watchPrefix(std::string_view prefix, Revision start_revision,
                                                    WatchCallback callback) {
  if (!callback) return makeError(ErrorCode::kInvalidArgument, "watch needs a callback");
  return std::unique_ptr<Watch>(new EtcdWatch(impl_, std::string(prefix), start_revision, std::move(callback)));
}

}  // namespace pgtandem::dcs
