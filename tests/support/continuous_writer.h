#pragma once
// The acknowledged-write ledger shared by the fault tests: a client that
// writes continuously (as an application on a multi-host DSN with
// target_session_attrs=read-write would) and remembers which writes were
// acknowledged. Whatever the fault, each of them must be found afterwards
// (synchronous mode); in asynchronous mode the ones missing are the RPO.

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/pg/pg_session.h"

namespace pgtandem::testing {

using namespace std::chrono_literals;

// Inserts 1, 2, 3, ... one row per statement, reconnecting when the
// connection breaks, to the next of `conninfos` when one fails (as a client
// of two DC entry points does: libpq does not move on to the next host when
// a load balancer with no server up accepts and closes). Remembers which ids
// were acknowledged and the longest time between two acknowledged writes.
class ContinuousWriter {
 public:
  // Ids start at `first_id` (several writers in turn on one table).
  explicit ContinuousWriter(std::vector<std::string> conninfos, long first_id = 1)
      : conninfos_(std::move(conninfos)), first_id_(first_id) {
    thread_ = std::thread([this] { run(); });
  }
  ~ContinuousWriter() { stop(); }

  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  // The longest gap between acknowledged writes since the last reset.
  std::chrono::milliseconds takeLongestGap() {
    std::lock_guard lock(mutex_);
    auto gap = longest_gap_;
    longest_gap_ = {};
    return gap;
  }
  std::vector<long> acknowledged() {
    std::lock_guard lock(mutex_);
    return acknowledged_;
  }
  // When each acknowledged write was acknowledged (same order).
  std::vector<std::chrono::steady_clock::time_point> acknowledgedAt() {
    std::lock_guard lock(mutex_);
    return acknowledged_at_;
  }
  long failures() const { return failures_; }
  std::string lastError() {
    std::lock_guard lock(mutex_);
    return last_error_;
  }

 private:
  void run() {
    std::unique_ptr<pg::PgSession> session;
    auto last_ok = std::chrono::steady_clock::now();
    long next = first_id_;
    // Bounded in count and time: at most 20 minutes of 10 ms rounds.
    for (int round = 0; round < 120000 && !stop_; ++round) {
      if (!session) {
        auto connected = pg::PgSession::connect(conninfos_[which_]);
        if (!connected.ok()) {
          setLastError(connected.error().message);
          which_ = (which_ + 1) % conninfos_.size();
          ++failures_;
          std::this_thread::sleep_for(50ms);
          continue;
        }
        session = std::move(*connected);
      }
      auto inserted = session->execute("INSERT INTO w VALUES (" + std::to_string(next) + ")");
      if (!inserted.ok()) setLastError(inserted.error().message);
      if (inserted.ok()) {
        const auto now = std::chrono::steady_clock::now();
        std::lock_guard lock(mutex_);
        acknowledged_.push_back(next);
        acknowledged_at_.push_back(now);
        longest_gap_ = std::max(longest_gap_, std::chrono::duration_cast<std::chrono::milliseconds>(now - last_ok));
        last_ok = now;
        ++next;
      } else {
        ++failures_;
        ++next;  // it may or may not have committed: never reuse the id
        session.reset();
      }
      std::this_thread::sleep_for(10ms);
    }
  }

  std::vector<std::string> conninfos_;
  long first_id_ = 1;
  std::vector<std::chrono::steady_clock::time_point> acknowledged_at_;
  std::size_t which_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<long> failures_{0};
  std::mutex mutex_;
  std::vector<long> acknowledged_;
  std::chrono::milliseconds longest_gap_{0};
  std::string last_error_;

  void setLastError(const std::string& message) {
    std::lock_guard lock(mutex_);
    last_error_ = message;
  }
};

}  // namespace pgtandem::testing
