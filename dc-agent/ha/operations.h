#pragma once
// Operations asked of the agent from outside its HA loop (the REST API's
// POST /restart, /reload, /reinitialize). The asking thread submits and waits
// on a future; the HA loop takes the requests at the start of a cycle and
// answers each. The loop is the only thread that touches PostgreSQL.

#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/util/clock.h"
#include "common/util/result.h"

namespace pgtandem::agent {

struct OperationRequest {
  enum class Kind { kRestart, kCancelRestart, kReload, kReinitialize };
  Kind kind = Kind::kReload;
  // restart:
  bool only_if_pending = false;  // restart only when a parameter is pending restart
  std::string role;              // restart only a member in this role ("" any)
  std::string postgres_version;  // restart only when the running version is older
  std::optional<WallTime> scheduled_at;  // restart at this time, not now
  std::string schedule;                   // the same, as the caller wrote it (ISO 8601)
  // reinitialize:
  bool force = false;        // even while PostgreSQL runs / in pause
  bool from_leader = false;  // clone from the leader, not a clonefrom member
};

// The outcome: a message for the caller, or an error whose code says why
// (kConflict: already in progress or not applicable to this member;
// kNotFound: nothing to cancel).
using OperationOutcome = Result<std::string>;

class OperationMailbox {
 public:
  // `wake` is called after each submit so the loop runs a cycle at once.
  explicit OperationMailbox(std::function<void()> wake = {}) : wake_(std::move(wake)) {}

  std::future<OperationOutcome> submit(const OperationRequest& request) {
    std::promise<OperationOutcome> promise;
    auto future = promise.get_future();
    {
      std::lock_guard lock(mutex_);
      pending_.push_back({request, std::move(promise)});
    }
    if (wake_) wake_();
    return future;
  }

  struct Pending {
    OperationRequest request;
    std::promise<OperationOutcome> reply;
  };
  std::vector<Pending> takeAll() {
    std::lock_guard lock(mutex_);
    std::vector<Pending> out(std::make_move_iterator(pending_.begin()), std::make_move_iterator(pending_.end()));
    pending_.clear();
    return out;
  }

  void wake() const {
    if (wake_) wake_();
  }

 private:
  std::function<void()> wake_;
  std::mutex mutex_;
  std::deque<Pending> pending_;
};

}  // namespace pgtandem::agent
