// The lease deadline's pieces: the safety margin, and the guard thread that
// makes PostgreSQL refuse writes when the loop misses the deadline.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "dc-agent/ha/lease_deadline.h"

namespace pgtandem::agent {
namespace {

using namespace std::chrono_literals;

TEST(LeaseSafetyMargin, TwoAndAHalfSecondsWhereTheTimingsLeaveRoom) {
  EXPECT_EQ(leaseSafetyMargin(10s, 1s, 3s), 2500ms);
  EXPECT_EQ(leaseSafetyMargin(30s, 10s, 10s), 2500ms);
  EXPECT_EQ(leaseSafetyMargin(20s, 2s, 5s), 2500ms);
  // ttl - loop_wait - retry_timeout is all the room a renewal has left.
  EXPECT_EQ(leaseSafetyMargin(5s, 1s, 2s), 2000ms);
  EXPECT_EQ(leaseSafetyMargin(4s, 1s, 1s), 2000ms);
  EXPECT_EQ(leaseSafetyMargin(3s, 1s, 1s), 1000ms);
  // Never below half a second, whatever the timings.
  EXPECT_EQ(leaseSafetyMargin(3s, 2s, 1s), 500ms);
}

// Real time, short deadlines: this is the thread the daemon runs.
class ThreadLeaseGuardTest : public ::testing::Test {
 protected:
  std::atomic<int> refused_{0};
  ThreadLeaseGuard guard_{[this] { ++refused_; }, 20ms};

  bool waitForRefusal(std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (refused_ == 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
    return refused_ > 0;
  }
};

TEST_F(ThreadLeaseGuardTest, FiresOnceWhenTheDeadlinePassesUnrenewed) {
  guard_.arm(std::chrono::steady_clock::now() + 50ms);
  ASSERT_TRUE(waitForRefusal(5000ms));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(refused_, 1) << "fires once per arming";
  EXPECT_EQ(guard_.firedCount(), 1);
}

TEST_F(ThreadLeaseGuardTest, ARenewalMovesTheDeadlineAndDisarmingCancelsIt) {
  guard_.arm(std::chrono::steady_clock::now() + 150ms);
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(50ms);
    guard_.arm(std::chrono::steady_clock::now() + 150ms);  // renewed in time
  }
  EXPECT_EQ(refused_, 0) << "fired although every renewal came in time";
  guard_.disarm();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(refused_, 0) << "fired after it was disarmed";
  // A deadline already past fires at once.
  guard_.arm(std::chrono::steady_clock::now() - 1s);
  EXPECT_TRUE(waitForRefusal(5000ms));
}

}  // namespace
}  // namespace pgtandem::agent
