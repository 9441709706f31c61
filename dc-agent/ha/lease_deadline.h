#pragma once
// The leader's lease deadline: the promise "a leader's PostgreSQL refuses
// writes before its lease can expire, so no other member can be writable
// meanwhile" as time.
//
// The DCS starts a lease's countdown when a keepalive arrives; the agent only
// knows when it sent it. So the lease cannot expire before
//   sent + ttl                                  (LeaderLock::leaseExpiresNoSoonerThan)
// and the leader must refuse writes by
//   deadline = sent + ttl - safety margin.
// Three things enforce it, in order:
//  1. the HA loop wakes at the deadline at the latest and every DCS call it
//     makes is bounded by it (dcs::CallDeadline), so a black-holed etcd
//     cannot hold the loop past it;
//  2. the rule leader.lease_deadline demotes once it has passed;
//  3. a guard thread (ThreadLeaseGuard) makes PostgreSQL refuse writes
//     shortly after the deadline when the loop could not (blocked in a crash
//     recovery, a slow callback, a stuck query).

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "common/util/clock.h"

namespace pgtandem::agent {

// 2.5 s, or less when the timings leave less room: the loop must still get a
// renewal through (one loop plus one call of retry_timeout) before the
// deadline, or every hiccup would demote. ttl >= loop_wait + 2*retry_timeout
// (validateTiming) leaves at least retry_timeout.
std::chrono::milliseconds leaseSafetyMargin(std::chrono::seconds ttl, std::chrono::seconds loop_wait,
                                            std::chrono::seconds retry_timeout);

// The last line of defence: fires once `deadline` passes unless re-armed
// (a renewal moved it) or disarmed (we no longer lead a writable primary).
class LeaseGuard {
 public:
  virtual ~LeaseGuard() = default;
  virtual void arm(MonoTime deadline) = 0;
  virtual void disarm() = 0;
};

// A thread that waits for the armed deadline on the steady clock (the
// agent's real clock) and then calls `refuse_writes`, which must be
// thread-safe and must not block (RealPostgres::refuseWritesNow signals the
// postmaster). Fires at most once per arming.
class ThreadLeaseGuard final : public LeaseGuard {
 public:
  // `slack`: how long after the deadline it fires, so that the loop's own
  // demotion (which runs the callbacks) normally comes first.
  ThreadLeaseGuard(std::function<void()> refuse_writes, std::chrono::milliseconds slack);
  ~ThreadLeaseGuard() override;
  ThreadLeaseGuard(const ThreadLeaseGuard&) = delete;
  ThreadLeaseGuard& operator=(const ThreadLeaseGuard&) = delete;

  void arm(MonoTime deadline) override;
  void disarm() override;
  // How many times it fired (tests, metrics).
  int firedCount() const;

 private:
  void run();
  std::function<void()> refuse_writes_;
  const std::chrono::milliseconds slack_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<MonoTime> deadline_;
  bool stopping_ = false;
  int fired_ = 0;
  std::thread thread_;
};

}  // namespace pgtandem::agent
