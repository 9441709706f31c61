#pragma once
// A Dcs that forwards to another, with faults on demand: keepalives that
// fail while reads still work (a leader whose renewals cannot get through),
// or a hook run after a get (another client writing in between), or no
// answer at all while `unreachable` says so (a link cut).

#include <atomic>
#include <functional>
#include <memory>

#include "common/dcs/dcs.h"

namespace pgtandem::testing {

class FaultyDcs final : public dcs::Dcs {
 public:
  explicit FaultyDcs(dcs::Dcs& inner) : inner_(inner) {}
  explicit FaultyDcs(std::unique_ptr<dcs::Dcs> owned) : owned_(std::move(owned)), inner_(*owned_) {}

  std::atomic<bool> fail_keepalive{false};
  std::function<void(std::string_view key)> after_get;
  std::function<bool()> unreachable = [] { return false; };

  Result<dcs::RangeResult> get(std::string_view key) override {
    if (unreachable()) return cut();
    auto result = inner_.get(key);
    if (after_get) after_get(key);
    return result;
  }
  Result<dcs::RangeResult> getPrefix(std::string_view prefix) override {
    if (unreachable()) return cut();
    return inner_.getPrefix(prefix);
  }
  Result<dcs::Revision> put(std::string_view key, std::string_view value, dcs::LeaseId lease) override {
    if (unreachable()) return cut();
    return inner_.put(key, value, lease);
  }
  Result<std::int64_t> erasePrefix(std::string_view prefix) override {
    if (unreachable()) return cut();
    return inner_.erasePrefix(prefix);
  }
  Result<dcs::TxnResult> txn(const std::vector<dcs::Compare>& compares, const std::vector<dcs::WriteOp>& on_success,
                             const std::vector<dcs::WriteOp>& on_failure) override {
    if (unreachable()) return cut();
    return inner_.txn(compares, on_success, on_failure);
  }
  Result<dcs::Lease> grantLease(std::chrono::seconds ttl) override { return inner_.grantLease(ttl); }
  Result<std::chrono::seconds> keepAlive(dcs::LeaseId lease) override {
    if (fail_keepalive) return makeError(ErrorCode::kUnavailable, "keepalive failed (injected)");
    return inner_.keepAlive(lease);
  }
  Status revokeLease(dcs::LeaseId lease) override { return inner_.revokeLease(lease); }
  Result<std::unique_ptr<dcs::Watch>> watchPrefix(std::string_view prefix, dcs::Revision start_revision,
                                                  dcs::WatchCallback callback) override {
    return inner_.watchPrefix(prefix, start_revision, std::move(callback));
  }

 private:
  static Error cut() { return makeError(ErrorCode::kUnavailable, "no route to host (injected)"); }

  std::unique_ptr<dcs::Dcs> owned_;
  dcs::Dcs& inner_;
};

}  // namespace pgtandem::testing
