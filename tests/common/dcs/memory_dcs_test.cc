// What only the in-memory DCS offers: partitions and injected failures.

#include <gtest/gtest.h>

#include "common/dcs/memory_dcs.h"
#include "tests/common/dcs/dcs_harness.h"

namespace pgtandem::testing {
namespace {

using namespace std::chrono_literals;

class MemoryDcsTest : public ::testing::Test {
 protected:
  SimulatedClock clock_;
  std::shared_ptr<dcs::MemoryStore> store_ = dcs::MemoryStore::create(clock_);
};

TEST_F(MemoryDcsTest, PartitionedClientFailsAndOthersDoNot) {
  auto a = store_->connect();
  auto b = store_->connect();
  a->setPartitioned(true);
  auto put = a->put("/k", "v", 0);
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(b->put("/k", "v", 0).ok());
  a->setPartitioned(false);
  EXPECT_EQ(a->get("/k")->kvs.at(0).value, "v");
}

TEST_F(MemoryDcsTest, PartitionedLeaseHolderLosesItsKeys) {
  auto a = store_->connect();
  auto b = store_->connect();
  auto lease = a->grantLease(10s);
  ASSERT_TRUE(lease.ok());
  ASSERT_TRUE(*dcs::createIfAbsent(*a, "/s/leader", "a", lease->id));
  a->setPartitioned(true);
  clock_.advance(11s);
  EXPECT_TRUE(b->get("/s/leader")->kvs.empty());
  a->setPartitioned(false);
  EXPECT_EQ(a->keepAlive(lease->id).error().code, ErrorCode::kLeaseLost);
}

TEST_F(MemoryDcsTest, WatchCatchesUpAfterPartitionHeals) {
  auto a = store_->connect();
  auto b = store_->connect();
  WatchRecorder recorder;
  auto watch = a->watchPrefix("/s/", 0, recorder.callback());
  ASSERT_TRUE(watch.ok());
  a->setPartitioned(true);
  ASSERT_TRUE(b->put("/s/x", "1", 0).ok());
  ASSERT_TRUE(b->put("/s/x", "2", 0).ok());
  EXPECT_TRUE(recorder.updates().empty());
  a->setPartitioned(false);
  auto events = recorder.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].kv.value, "2");
}

TEST_F(MemoryDcsTest, InjectedFailuresHitTheNextCallsOnly) {
  auto a = store_->connect();
  a->failNextCalls(2, makeError(ErrorCode::kTimeout, "injected"));
  EXPECT_EQ(a->get("/k").error().code, ErrorCode::kTimeout);
  EXPECT_EQ(a->put("/k", "v", 0).error().code, ErrorCode::kTimeout);
  EXPECT_TRUE(a->put("/k", "v", 0).ok());
}

TEST_F(MemoryDcsTest, CallbackMayWriteWithoutDeadlockOrReordering) {
  auto a = store_->connect();
  std::vector<std::string> seen;
  auto watch = a->watchPrefix("/s/", 0, [&](const dcs::WatchUpdate& update) {
    for (const auto& e : update.events) {
      seen.push_back(e.kv.value);
      if (e.kv.value == "1") (void)a->put("/s/y", "2", 0);
    }
  });
  ASSERT_TRUE(watch.ok());
  ASSERT_TRUE(a->put("/s/x", "1", 0).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"1", "2"}));
}

}  // namespace
}  // namespace pgtandem::testing
