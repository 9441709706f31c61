// The standby DC's lag as the standby leader computes it (pure).

#include <gtest/gtest.h>

#include "standby/standby_lag.h"

namespace pgtandem::standby {
namespace {

using namespace std::chrono_literals;

TEST(StandbyLagTest, CaughtUpBehindAndCutOff) {
  LagTracker tracker;
  const WallTime t0 = WallTime{} + 1000s;
  const MonoTime m0 = MonoTime{} + 1000s;
  auto lag = tracker.observe({true, true, false, 5000, 5000, std::nullopt}, t0, m0);
  EXPECT_EQ(lag.source, "stream");
  EXPECT_EQ(lag.bytes, 0);
  EXPECT_EQ(lag.seconds, 0);

  lag = tracker.observe({true, true, false, 9000, 6000, std::nullopt}, t0 + 5s, m0 + 5s);  // catching up
  EXPECT_EQ(lag.bytes, 3000);
  EXPECT_EQ(lag.seconds, 5);

  lag = tracker.observe({true, false, false, std::nullopt, 6000, std::nullopt}, t0 + 65s, m0 + 65s);  // the primary DC is gone
  EXPECT_EQ(lag.source, "none");
  EXPECT_FALSE(lag.bytes) << "unknown while not streaming";
  EXPECT_EQ(lag.seconds, 65) << "grows from the last time we were caught up";

  lag = tracker.observe({true, false, true, std::nullopt, 6000, std::nullopt}, t0 + 70s, m0 + 70s);
  EXPECT_EQ(lag.source, "archive");
  lag = tracker.observe({false, false, true, std::nullopt, std::nullopt, std::nullopt}, t0 + 71s, m0 + 71s);
  EXPECT_EQ(lag.source, "none");

  lag = tracker.observe({true, true, false, 9000, 9000, std::nullopt}, t0 + 80s, m0 + 80s);
  EXPECT_EQ(lag.seconds, 0) << "back to current";
}

// The loss bound of a disaster promotion: how long ago the primary DC was
// last heard from, on the agent's monotonic clock; unknown to an agent that
// never saw the stream.
TEST(StandbyLagTest, ContactAgeCountsFromTheLastMessageAndIsUnknownBeforeTheFirst) {
  LagTracker tracker;
  const WallTime t0 = WallTime{} + 1000s;
  const MonoTime m0 = MonoTime{} + 1000s;
  auto lag = tracker.observe({true, false, false, std::nullopt, 6000, std::nullopt}, t0, m0);
  EXPECT_FALSE(lag.contact_age) << "an agent that started with the primary DC down does not know";
  // Streaming, but the last message came 4 s ago (a black-holed link keeps
  // the receiver "streaming" until wal_receiver_timeout).
  lag = tracker.observe({true, true, false, 9000, 9000, 4.0}, t0 + 10s, m0 + 10s);
  EXPECT_EQ(lag.bytes, 0) << "what the upstream last said";
  ASSERT_TRUE(lag.contact_age);
  EXPECT_DOUBLE_EQ(*lag.contact_age, 4.0);
  lag = tracker.observe({true, true, false, 9000, 9000, 7.0}, t0 + 13s, m0 + 13s);
  EXPECT_DOUBLE_EQ(*lag.contact_age, 7.0) << "the same last message, 3 s later";
  lag = tracker.observe({true, false, false, std::nullopt, 9000, std::nullopt}, t0 + 20s, m0 + 20s);
  EXPECT_DOUBLE_EQ(*lag.contact_age, 14.0) << "keeps growing once the receiver stopped";
  lag = tracker.observe({true, true, false, 9500, 9500, 0.0}, t0 + 30s, m0 + 30s);
  EXPECT_DOUBLE_EQ(*lag.contact_age, 0.0);
}

}  // namespace
}  // namespace pgtandem::standby
