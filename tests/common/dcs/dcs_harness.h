#pragma once
// What the contract tests need from a Dcs implementation under test.

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/dcs/dcs.h"

namespace pgtandem::testing {

class DcsHarness {
 public:
  virtual ~DcsHarness() = default;
  virtual dcs::Dcs& client() = 0;
  virtual std::unique_ptr<dcs::Dcs> newClient() = 0;
  // Lets `duration` of lease time pass (memory: advance the simulated clock
  // and expire; etcd: sleep).
  virtual void letTimePass(std::chrono::milliseconds duration) = 0;
  virtual void compact(dcs::Revision revision) = 0;
  // How long to wait for asynchronous effects (watch delivery, lease expiry).
  virtual std::chrono::milliseconds patience() const = 0;
};

// Collects watch updates from any thread; waits with a bound.
class WatchRecorder {
 public:
  dcs::WatchCallback callback() {
    return [this](const dcs::WatchUpdate& update) {
      std::lock_guard lock(mutex_);
      updates_.push_back(update);
      changed_.notify_all();
    };
  }

  // Waits until `predicate(updates)` holds; false on timeout. The predicate
  // runs under the recorder's lock: it must use its argument only.
  bool waitFor(const std::function<bool(const std::vector<dcs::WatchUpdate>&)>& predicate,
               std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return predicate(updates_); });
  }

  std::vector<dcs::WatchUpdate> updates() {
    std::lock_guard lock(mutex_);
    return updates_;
  }

  // Every event delivered so far, flattened.
  std::vector<dcs::WatchEvent> events();

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<dcs::WatchUpdate> updates_;
};

inline std::vector<dcs::WatchEvent> flatten(const std::vector<dcs::WatchUpdate>& updates) {
  std::vector<dcs::WatchEvent> out;
  for (const auto& u : updates) out.insert(out.end(), u.events.begin(), u.events.end());
  return out;
}

inline std::vector<dcs::WatchEvent> WatchRecorder::events() { return flatten(updates()); }

inline std::size_t eventCount(const std::vector<dcs::WatchUpdate>& updates) {
  std::size_t n = 0;
  for (const auto& u : updates) n += u.events.size();
  return n;
}

}  // namespace pgtandem::testing
