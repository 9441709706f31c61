#pragma once
// The Dcs contract over etcd's v3 gRPC API. gRPC stays out of this header so
// that only etcd_dcs.cc pays for its compile time.
//
// - Endpoints: several; a call that finds one unavailable (down, or a member
//   that lost its raft leader, which `hasleader` metadata makes fail fast)
//   moves on to the next within the same deadline.
// - Auth: with a username, the client authenticates and sends the token with
//   every call; an expired token (UNAUTHENTICATED) is renewed and the call
//   retried once.
// - TLS: server verification with a CA file, optional client certificate.
// - Watches resume after a reconnect from the last delivered revision and
//   re-read the prefix when that revision was compacted.

#include <memory>
#include <string>
#include <vector>

#include "common/dcs/dcs.h"

namespace pgtandem::dcs {

struct EtcdOptions {
  // "host:port", "http://host:port" or "https://host:port" (https turns TLS on).
  std::vector<std::string> endpoints;
  bool tls = false;
  std::string ca_file;    // PEM; empty: the system roots
  std::string cert_file;  // client certificate (PEM), optional
  std::string key_file;   // its private key (PEM)
  std::string username;   // empty: no etcd auth
  std::string password;
  // Deadline of one call, all endpoint attempts included.
  std::chrono::milliseconds request_timeout{3000};
};

class EtcdDcs final : public Dcs {
 public:
  // Validates the options and prepares channels; does not contact etcd (the
  // first call does), so an agent can start while its etcd is down.
  static Result<std::unique_ptr<EtcdDcs>> create(EtcdOptions options);
  ~EtcdDcs() override;

  // Maintenance.Status of the first endpoint that answers: the server version.
  Result<std::string> serverVersion();
  // Compacts history up to `revision` (tests and maintenance tools).
  Status compact(Revision revision);

  // Dcs
  Result<RangeResult> get(std::string_view key) override;
  Result<RangeResult> getPrefix(std::string_view prefix) override;
  Result<Revision> put(std::string_view key, std::string_view value, LeaseId lease) override;
  Result<std::int64_t> erasePrefix(std::string_view prefix) override;
  Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<WriteOp>& on_success,
                        const std::vector<WriteOp>& on_failure) override;
  Result<Lease> grantLease(std::chrono::seconds ttl) override;
  Result<std::chrono::seconds> keepAlive(LeaseId lease) override;
  Status revokeLease(LeaseId lease) override;
  Result<std::unique_ptr<Watch>> watchPrefix(std::string_view prefix, Revision start_revision,
                                             WatchCallback callback) override;
  void setRequestTimeout(std::chrono::milliseconds timeout) override;

  struct Impl;

 private:
  explicit EtcdDcs(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// Normalizes endpoint strings ("http://h:p", "h:p", "h" with port 2379) to
// "h:p"; sets *tls when any uses https. Errors name the bad endpoint.
Result<std::vector<std::string>> normalizeEtcdEndpoints(const std::vector<std::string>& endpoints, bool* tls);

}  // namespace pgtandem::dcs
