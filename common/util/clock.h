#pragma once
// Time is injected: only RealClock reads the system clocks, so decision code
// and the in-memory DCS run on simulated time in tests.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <mutex>

namespace pgtandem {

using MonoTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;
using Millis = std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time, for deadlines and lease expiry. Thread-safe.
  virtual MonoTime monotonicNow() const = 0;
  // Wall-clock time, for timestamps shown to people and stored in the DCS.
  virtual WallTime wallNow() const = 0;
  // Waits: every wait of the decision and coordination code goes through
  // here, so that simulated time moves instead.
  virtual void sleepFor(std::chrono::milliseconds duration) const = 0;
};

class RealClock final : public Clock {
 public:
  MonoTime monotonicNow() const override { return std::chrono::steady_clock::now(); }
  WallTime wallNow() const override { return std::chrono::system_clock::now(); }
  void sleepFor(std::chrono::milliseconds duration) const override;
  static RealClock& instance();
};

// A clock that moves only when told. Thread-safe.
class SimulatedClock final : public Clock {
 public:
  SimulatedClock() : mono_(std::chrono::hours(1)), wall_(std::chrono::seconds(1'700'000'000)) {}
  MonoTime monotonicNow() const override {
    std::lock_guard lock(mutex_);
    return mono_;
  }
  WallTime wallNow() const override {
    std::lock_guard lock(mutex_);
    return wall_;
  }
  void advance(std::chrono::nanoseconds step) const {
    std::lock_guard lock(mutex_);
    mono_ += step;
    wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(step);
  }
  // A wait moves simulated time by its length, at once, then lets the test
  // act (what other processes do meanwhile).
  void sleepFor(std::chrono::milliseconds duration) const override {
    advance(duration);
    if (on_sleep) on_sleep();
  }
  std::function<void()> on_sleep;

 private:
  mutable std::mutex mutex_;
  mutable MonoTime mono_;
  mutable WallTime wall_;
};

// "2026-11-22T10:00:00.123Z" (UTC, milliseconds): timestamps in DCS values.
std::string formatIsoTime(WallTime time);

// Parses ISO 8601 as Patroni writes it ("2026-11-22T10:00:00+00:00", also
// with a 'Z' or fractional seconds, which are dropped). nullopt when it does
// not parse.
std::optional<WallTime> parseIsoTime(const std::string& text);

}  // namespace pgtandem
