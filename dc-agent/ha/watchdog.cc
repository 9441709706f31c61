#include "dc-agent/ha/watchdog.h"

#include <fcntl.h>
#include <linux/watchdog.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/util/log.h"

namespace pgtandem::agent {
namespace {

class LinuxWatchdogDevice final : public WatchdogDevice {
 public:
  explicit LinuxWatchdogDevice(std::string path) : path_(std::move(path)) {}
  ~LinuxWatchdogDevice() override { (void)close(); }

  Status open() override {
    if (fd_ >= 0) return okStatus();
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd_ < 0) return makeError(ErrorCode::kIo, "cannot open " + path_ + ": " + std::strerror(errno));
    return okStatus();
  }
  Result<int> setTimeout(int seconds) override {
    if (fd_ < 0) return makeError(ErrorCode::kIo, path_ + " is not open");
    int timeout = seconds;
    if (::ioctl(fd_, WDIOC_SETTIMEOUT, &timeout) != 0) {
      // Some drivers have a fixed timeout: report the one they have.
      if (::ioctl(fd_, WDIOC_GETTIMEOUT, &timeout) != 0) {
        return makeError(ErrorCode::kIo, "cannot set or read the timeout of " + path_ + ": " + std::strerror(errno));
      }
    }
    return timeout;
  }
  Status keepalive() override {
    if (fd_ < 0) return makeError(ErrorCode::kIo, path_ + " is not open");
    if (::ioctl(fd_, WDIOC_KEEPALIVE, 0) != 0) {
      return makeError(ErrorCode::kIo, "keepalive on " + path_ + " failed: " + std::strerror(errno));
    }
    return okStatus();
  }
  Status close() override {
    if (fd_ < 0) return okStatus();
    // The magic close: without the 'V' the driver keeps counting and resets the machine.
    const bool magic = ::write(fd_, "V", 1) == 1;
    ::close(fd_);
    fd_ = -1;
    if (!magic) return makeError(ErrorCode::kIo, "the magic close of " + path_ + " failed: it may still fire");
    return okStatus();
  }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

std::unique_ptr<WatchdogDevice> makeLinuxWatchdogDevice(std::string path) {
  return std::make_unique<LinuxWatchdogDevice>(std::move(path));
}

Watchdog::Watchdog(config::WatchdogConfig config, std::unique_ptr<WatchdogDevice> device, const Clock& clock)
    : config_(std::move(config)), device_(config_.mode == "off" ? nullptr : std::move(device)), clock_(clock) {}

Watchdog::~Watchdog() { disable(); }

int Watchdog::timeoutFor(std::chrono::seconds ttl) const {
  const int t = static_cast<int>(ttl.count());
  return config_.safety_margin < 0 ? t / 2 : t - config_.safety_margin;
}

Status Watchdog::arm(std::chrono::seconds ttl) {
  if (!device_) return makeError(ErrorCode::kUnavailable, "no watchdog device (watchdog.mode off, or none configured)");
  const int wanted = timeoutFor(ttl);
  if (wanted < 1) {
    return makeError(ErrorCode::kConfig, "watchdog timeout ttl - safety_margin = " + std::to_string(wanted) + " s is too short");
  }
  PGT_TRY(device_->open());
  auto took = device_->setTimeout(wanted);
  if (!took.ok() || *took > wanted || *took < 1) {
    const std::string why = !took.ok() ? took.error().message
                                       : config_.device + " fires after " + std::to_string(*took) + " s, later than the " +
                                             std::to_string(wanted) + " s before the leader key can expire";
    (void)device_->close();
    return makeError(ErrorCode::kUnavailable, why);
  }
  armed_timeout_ = wanted;
  active_ = true;
  return okStatus();
}

Status Watchdog::keepalive(std::chrono::seconds ttl) {
  if (!device_) return required() ? makeError(ErrorCode::kUnavailable, "no watchdog device") : okStatus();
  if (!active_ || armed_timeout_ != timeoutFor(ttl)) {
    if (active_) disable();
    if (auto armed = arm(ttl); !armed.ok()) {
      if (armed.error().message != last_error_) {
        if (required()) spdlog::error("watchdog required but not usable: {}", armed.error().message);
        else spdlog::warn("running without a watchdog: {}", armed.error().message);
      }
      last_error_ = armed.error().message;
      return required() ? armed : okStatus();
    }
    last_error_.clear();
    spdlog::info("watchdog {} armed: fires {} s after the last keepalive", config_.device, armed_timeout_);
  }
  auto kept = device_->keepalive();
  if (!kept.ok()) {
    spdlog::error("{}", kept.error().message);
    disable();  // in an unknown state: armed again (or found unusable) next time
  }
  return required() ? kept : okStatus();
}

void Watchdog::disable() {
  if (!active_ || !device_) return;
  if (auto closed = device_->close(); !closed.ok()) spdlog::error("{}", closed.error().message);
  else spdlog::info("watchdog {} disarmed", config_.device);
  active_ = false;
  armed_timeout_ = 0;
}

bool Watchdog::usable(std::chrono::seconds ttl, std::chrono::seconds retry) {
  if (active_) return true;
  const MonoTime now = clock_.monotonicNow();
  if (last_probe_ && now - *last_probe_ < retry) return last_probe_ok_;
  last_probe_ = now;
  auto armed = arm(ttl);
  last_probe_ok_ = armed.ok();
  if (armed.ok()) disable();
  else if (armed.error().message != last_error_) spdlog::error("watchdog required but not usable: {}", armed.error().message);
  last_error_ = armed.ok() ? "" : armed.error().message;
  return last_probe_ok_;
}

}  // namespace pgtandem::agent
