#include "dc-agent/ha/lease_deadline.h"

#include <algorithm>

#include "common/util/log.h"

namespace pgtandem::agent {

std::chrono::milliseconds leaseSafetyMargin(std::chrono::seconds ttl, std::chrono::seconds loop_wait,
                                            std::chrono::seconds retry_timeout) {
  constexpr std::chrono::milliseconds kPreferred{2500};
  const auto room = std::chrono::duration_cast<std::chrono::milliseconds>(ttl - loop_wait - retry_timeout);
  return std::clamp(room, std::chrono::milliseconds(500), kPreferred);
}

ThreadLeaseGuard::ThreadLeaseGuard(std::function<void()> refuse_writes, std::chrono::milliseconds slack)
    : refuse_writes_(std::move(refuse_writes)), slack_(slack) {
  thread_ = std::thread([this] { run(); });
}

ThreadLeaseGuard::~ThreadLeaseGuard() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void ThreadLeaseGuard::arm(MonoTime deadline) {
  {
    std::lock_guard lock(mutex_);
    deadline_ = deadline;
  }
  changed_.notify_all();
}

void ThreadLeaseGuard::disarm() {
  {
    std::lock_guard lock(mutex_);
    deadline_.reset();
  }
  changed_.notify_all();
}

int ThreadLeaseGuard::firedCount() const {
  std::lock_guard lock(mutex_);
  return fired_;
}

void ThreadLeaseGuard::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (!deadline_) {
      changed_.wait(lock);
      continue;
    }
    const MonoTime fire_at = *deadline_ + slack_;
    if (std::chrono::steady_clock::now() < fire_at) {
      changed_.wait_until(lock, fire_at);  // re-checked: a renewal may have moved it
      continue;
    }
    deadline_.reset();
    ++fired_;
    lock.unlock();
    spdlog::error("[lease_guard] the leader lock was not renewed by its deadline and the HA loop has not demoted: "
                  "making PostgreSQL refuse writes now");
    refuse_writes_();
    lock.lock();
  }
}

}  // namespace pgtandem::agent
