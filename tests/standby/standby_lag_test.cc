// The standby DC's lag as the standby leader computes it (pure).

#include <gtest/gtest.h>

#include "standby/standby_lag.h"

namespace pgtandem::standby {
namespace {

using namespace std::chrono_literals;

TEST(StandbyLagTest, CaughtUpBehindAndCutOff) {
  LagTracker tracker;
  const WallTime t0 = WallTime{} + 1000s;
  auto lag = tracker.observe({true, true, false, 5000, 5000}, t0);
  EXPECT_EQ(lag.source, "stream");
  EXPECT_EQ(lag.bytes, 0);
  EXPECT_EQ(lag.seconds, 0);

  lag = tracker.observe({true, true, false, 9000, 6000}, t0 + 5s);  // catching up
  EXPECT_EQ(lag.bytes, 3000);
  EXPECT_EQ(lag.seconds, 5);

  lag = tracker.observe({true, false, false, std::nullopt, 6000}, t0 + 65s);  // the primary DC is gone
  EXPECT_EQ(lag.source, "none");
  EXPECT_FALSE(lag.bytes) << "unknown while not streaming";
  EXPECT_EQ(lag.seconds, 65) << "grows from the last time we were caught up";

  lag = tracker.observe({true, false, true, std::nullopt, 6000}, t0 + 70s);
  EXPECT_EQ(lag.source, "archive");
  lag = tracker.observe({false, false, true, std::nullopt, std::nullopt}, t0 + 71s);
  EXPECT_EQ(lag.source, "none");

  lag = tracker.observe({true, true, false, 9000, 9000}, t0 + 80s);
  EXPECT_EQ(lag.seconds, 0) << "back to current";
}

}  // namespace
}  // namespace pgtandem::standby
