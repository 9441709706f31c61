#pragma once
// A watchdog device that records what the agent did to it, on the test's
// clock: opens, the timeout asked and taken, keepalives, magic closes.
// It "fires" (fired()) when armed and not kept alive within its timeout.

#include <optional>
#include <vector>

#include "common/util/clock.h"
#include "dc-agent/ha/watchdog.h"

namespace pgtandem::testing {

struct WatchdogLog {
  bool can_open = true;
  std::optional<int> fixed_timeout;  // a driver that ignores WDIOC_SETTIMEOUT
  bool armed = false;
  int opens = 0, closes = 0;
  int timeout = 0;
  std::vector<MonoTime> keepalives;
  std::optional<MonoTime> last_kick;
};

class FakeWatchdogDevice final : public agent::WatchdogDevice {
 public:
  FakeWatchdogDevice(WatchdogLog& log, const Clock& clock) : log_(log), clock_(clock) {}
  Status open() override {
    if (!log_.can_open) return makeError(ErrorCode::kIo, "cannot open /dev/watchdog: No such file or directory");
    if (!log_.armed) ++log_.opens;
    log_.armed = true;
    log_.last_kick = clock_.monotonicNow();
    return okStatus();
  }
  Result<int> setTimeout(int seconds) override {
    log_.timeout = log_.fixed_timeout.value_or(seconds);
    return log_.timeout;
  }
  Status keepalive() override {
    log_.keepalives.push_back(clock_.monotonicNow());
    log_.last_kick = clock_.monotonicNow();
    return okStatus();
  }
  Status close() override {
    ++log_.closes;
    log_.armed = false;
    return okStatus();
  }

 private:
  WatchdogLog& log_;
  const Clock& clock_;
};

// Armed and not kept alive in time: the machine would have been reset.
inline bool fired(const WatchdogLog& log, MonoTime now) {
  return log.armed && log.last_kick && now - *log.last_kick > std::chrono::seconds(log.timeout);
}

}  // namespace pgtandem::testing
