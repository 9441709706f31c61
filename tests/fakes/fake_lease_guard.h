#pragma once
// A LeaseGuard that only records what the agent armed it with (scenario
// tests run on simulated time, where no thread can wait for a deadline).

#include <optional>

#include "dc-agent/ha/lease_deadline.h"

namespace pgtandem::testing {

class FakeLeaseGuard final : public agent::LeaseGuard {
 public:
  void arm(MonoTime deadline) override {
    deadline_ = deadline;
    ++arms;
  }
  void disarm() override { deadline_.reset(); }

  // The armed deadline, if any.
  const std::optional<MonoTime>& deadline() const { return deadline_; }
  int arms = 0;

 private:
  std::optional<MonoTime> deadline_;
};

}  // namespace pgtandem::testing
