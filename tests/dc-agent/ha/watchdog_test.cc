// The watchdog controller (dc-agent/ha/watchdog.h) on a recording device.

#include "dc-agent/ha/watchdog.h"

#include <gtest/gtest.h>

#include "tests/fakes/fake_watchdog.h"

namespace pgtandem::agent {
namespace {

using namespace std::chrono_literals;
using testing::FakeWatchdogDevice;
using testing::WatchdogLog;

config::WatchdogConfig mode(const std::string& m, int safety_margin = 5) {
  config::WatchdogConfig c;
  c.mode = m;
  c.safety_margin = safety_margin;
  return c;
}

struct Rig {
  SimulatedClock clock;
  WatchdogLog log;
  Watchdog make(const config::WatchdogConfig& c) { return Watchdog(c, std::make_unique<FakeWatchdogDevice>(log, clock), clock); }
};

TEST(Watchdog, ArmedAtTtlMinusTheSafetyMarginKeptAliveThenDisarmed) {
  Rig r;
  Watchdog w = r.make(mode("automatic"));
  EXPECT_EQ(w.timeoutFor(30s), 25);
  ASSERT_TRUE(w.keepalive(30s).ok());
  EXPECT_TRUE(w.active());
  EXPECT_TRUE(r.log.armed);
  EXPECT_EQ(r.log.timeout, 25);
  r.clock.advance(10s);
  ASSERT_TRUE(w.keepalive(30s).ok());
  EXPECT_EQ(r.log.keepalives.size(), 2u);
  EXPECT_EQ(r.log.opens, 1) << "armed once";
  w.disable();
  EXPECT_FALSE(r.log.armed) << "magic close";
  EXPECT_FALSE(w.active());
  w.disable();
  EXPECT_EQ(r.log.closes, 1);
}

TEST(Watchdog, ANewTtlArmsItAgain) {
  Rig r;
  Watchdog w = r.make(mode("required"));
  ASSERT_TRUE(w.keepalive(30s).ok());
  ASSERT_TRUE(w.keepalive(10s).ok());
  EXPECT_EQ(r.log.timeout, 5);
  EXPECT_EQ(r.log.opens, 2);
  EXPECT_EQ(Watchdog(mode("required", -1), nullptr, r.clock).timeoutFor(30s), 15) << "safety_margin -1: ttl / 2, as Patroni";
}

TEST(Watchdog, ADeviceThatFiresTooLateIsNotUsed) {
  Rig r;
  r.log.fixed_timeout = 60;
  Watchdog automatic = r.make(mode("automatic"));
  EXPECT_TRUE(automatic.keepalive(30s).ok()) << "automatic runs without it";
  EXPECT_FALSE(automatic.active());
  EXPECT_FALSE(r.log.armed) << "disarmed again";
  Watchdog required = r.make(mode("required"));
  auto refused = required.keepalive(30s);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("fires after 60 s, later than the 25 s"), std::string::npos) << refused.error().message;
  EXPECT_FALSE(required.usable(30s, 10s));
}

TEST(Watchdog, UsableProbesAtMostOncePerRetryAndLeavesItDisarmed) {
  Rig r;
  r.log.can_open = false;
  Watchdog w = r.make(mode("required"));
  EXPECT_FALSE(w.usable(30s, 10s));
  r.log.can_open = true;
  EXPECT_FALSE(w.usable(30s, 10s)) << "not tried again before the retry interval";
  r.clock.advance(10s);
  EXPECT_TRUE(w.usable(30s, 10s));
  EXPECT_FALSE(r.log.armed) << "a probe disarms";
  EXPECT_FALSE(w.keepalive(5s).ok()) << "ttl 5 - safety_margin 5: too short";
}

TEST(Watchdog, OffArmsNothing) {
  Rig r;
  Watchdog w = r.make(mode("off"));
  EXPECT_TRUE(w.keepalive(30s).ok());
  EXPECT_FALSE(w.active());
  EXPECT_EQ(r.log.opens, 0);
}

}  // namespace
}  // namespace pgtandem::agent
