#pragma once
// Patroni's watchdog section (mode off|automatic|required, device,
// safety_margin). While this member leads a writable primary, a hardware or
// softdog watchdog is armed to fire ttl - safety_margin after the last
// keepalive, and the loop keeps it alive after each renewal: an agent that
// freezes (SIGSTOP, a hung kernel call, a stuck disk) gets its machine reset
// before its lease can expire, so another member may take over safely.
// Not leading, or in maintenance mode: the device is disarmed (magic close).
//
// `automatic` uses the device when it works and runs without it otherwise;
// `required` never lets this member lead without it (rule watchdog.required).

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/config/config.h"
#include "common/util/clock.h"
#include "common/util/result.h"

namespace pgtandem::agent {

// The Linux watchdog API (linux/watchdog.h): one real implementation and a
// test double (tests/fakes/fake_watchdog.h).
class WatchdogDevice {
 public:
  virtual ~WatchdogDevice() = default;
  virtual Status open() = 0;                        // arms it, with the driver's own timeout
  virtual Result<int> setTimeout(int seconds) = 0;  // WDIOC_SETTIMEOUT: the timeout it took
  virtual Status keepalive() = 0;                   // WDIOC_KEEPALIVE
  virtual Status close() = 0;                       // magic close ('V'): disarmed
};

std::unique_ptr<WatchdogDevice> makeLinuxWatchdogDevice(std::string path);

class Watchdog {
 public:
  // `device` may be null (mode off, or no device): then nothing is armed.
  Watchdog(config::WatchdogConfig config, std::unique_ptr<WatchdogDevice> device, const Clock& clock);
  ~Watchdog();

  bool required() const { return config_.mode == "required"; }
  bool active() const { return active_; }

  // The seconds it fires after a keepalive at this ttl: ttl - safety_margin
  // (ttl / 2 for safety_margin -1, as Patroni).
  int timeoutFor(std::chrono::seconds ttl) const;

  // The leader of a writable DC, after its renewal: arm the device (first
  // time, or ttl changed), then a keepalive. An error when the device cannot
  // be armed at a timeout early enough.
  Status keepalive(std::chrono::seconds ttl);
  // Not leading: disarm. Safe to repeat.
  void disable();
  // Required mode: whether the device can be armed at this ttl. Tried by
  // arming and disarming it, at most once per `retry` while it fails.
  bool usable(std::chrono::seconds ttl, std::chrono::seconds retry);

 private:
  Status arm(std::chrono::seconds ttl);

  config::WatchdogConfig config_;
  std::unique_ptr<WatchdogDevice> device_;
  const Clock& clock_;
  bool active_ = false;
  int armed_timeout_ = 0;
  std::optional<MonoTime> last_probe_;
  bool last_probe_ok_ = false;
  std::string last_error_;
};

}  // namespace pgtandem::agent
