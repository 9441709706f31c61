// The Dcs contract (common/dcs/dcs.h), run against every implementation: the
// in-memory one and a real throwaway etcd.

#include <gtest/gtest.h>

#include <thread>

#include "common/dcs/etcd_dcs.h"
#include "common/dcs/memory_dcs.h"
#include "tests/common/dcs/dcs_harness.h"
#include "tests/support/etcd_process.h"

namespace pgtandem::testing {
namespace {

using namespace std::chrono_literals;
using dcs::Compare;
using dcs::WatchEvent;
using dcs::WatchUpdate;
using dcs::WriteOp;

class MemoryHarness final : public DcsHarness {
 public:
  MemoryHarness() : store_(dcs::MemoryStore::create(clock_)), client_(store_->connect()) {}
  dcs::Dcs& client() override { return *client_; }
  std::unique_ptr<dcs::Dcs> newClient() override { return store_->connect(); }
  void letTimePass(std::chrono::milliseconds duration) override {
    clock_.advance(duration);
    store_->expireLeases();
  }
  void compact(dcs::Revision revision) override { store_->compact(revision); }
  std::chrono::milliseconds patience() const override { return 100ms; }

 private:
  SimulatedClock clock_;
  std::shared_ptr<dcs::MemoryStore> store_;
  std::unique_ptr<dcs::MemoryDcs> client_;
};

class EtcdHarness final : public DcsHarness {
 public:
  EtcdHarness() {
    etcd_ = EtcdProcess::startSingle({});
    if (!etcd_ || !waitForEtcd(etcd_->url(), 20)) {
      ADD_FAILURE() << "etcd did not start";
      return;
    }
    client_ = connect();
  }
  dcs::Dcs& client() override { return *client_; }
  std::unique_ptr<dcs::Dcs> newClient() override { return connect(); }
  void letTimePass(std::chrono::milliseconds duration) override { std::this_thread::sleep_for(duration); }
  void compact(dcs::Revision revision) override { ASSERT_TRUE(client_->compact(revision).ok()); }
  std::chrono::milliseconds patience() const override { return 10s; }

 private:
  std::unique_ptr<dcs::EtcdDcs> connect() {
    dcs::EtcdOptions options;
    options.endpoints = {etcd_->url()};
    auto created = dcs::EtcdDcs::create(options);
    EXPECT_TRUE(created.ok());
    return std::move(*created);
  }
  std::unique_ptr<EtcdProcess> etcd_;
  std::unique_ptr<dcs::EtcdDcs> client_;
};

using HarnessFactory = std::function<std::unique_ptr<DcsHarness>()>;

class DcsContractTest : public ::testing::TestWithParam<std::pair<std::string, HarnessFactory>> {
 protected:
  void SetUp() override {
    harness_ = GetParam().second();
    if (::testing::Test::HasFailure()) GTEST_SKIP() << "harness failed to start";
  }
  dcs::Dcs& dcs() { return harness_->client(); }

  std::unique_ptr<DcsHarness> harness_;
  const std::string p_ = "/service/contract/";
};

TEST_P(DcsContractTest, PutThenGetReturnsValueAndRevisions) {
  auto absent = dcs().get(p_ + "leader");
  ASSERT_TRUE(absent.ok()) << absent.error().toString();
  EXPECT_TRUE(absent->kvs.empty());

  auto rev1 = dcs().put(p_ + "leader", "n1", 0);
  ASSERT_TRUE(rev1.ok()) << rev1.error().toString();
  auto rev2 = dcs().put(p_ + "leader", "n2", 0);
  ASSERT_TRUE(rev2.ok());
  EXPECT_GT(*rev2, *rev1);

  auto got = dcs().get(p_ + "leader");
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].value, "n2");
  EXPECT_EQ(got->kvs[0].create_revision, *rev1);
  EXPECT_EQ(got->kvs[0].mod_revision, *rev2);
  EXPECT_EQ(got->kvs[0].version, 2);
  EXPECT_GE(got->revision, *rev2);
}

TEST_P(DcsContractTest, PrefixReadIsSortedAndBounded) {
  ASSERT_TRUE(dcs().put(p_ + "members/b", "2", 0).ok());
  ASSERT_TRUE(dcs().put(p_ + "members/a", "1", 0).ok());
  ASSERT_TRUE(dcs().put(p_ + "membersX", "outside", 0).ok());
  ASSERT_TRUE(dcs().put("/service/other/members/c", "other", 0).ok());
  auto range = dcs().getPrefix(p_ + "members/");
  ASSERT_TRUE(range.ok());
  ASSERT_EQ(range->kvs.size(), 2u);
  EXPECT_EQ(range->kvs[0].key, p_ + "members/a");
  EXPECT_EQ(range->kvs[1].key, p_ + "members/b");
  ASSERT_NE(range->find(p_ + "members/b"), nullptr);
  EXPECT_EQ(range->find(p_ + "members/zzz"), nullptr);
}

TEST_P(DcsContractTest, CreateIfAbsentCreatesOnce) {
  auto first = dcs::createIfAbsent(dcs(), p_ + "initialize", "7001", 0);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(*first);
  auto second = dcs::createIfAbsent(dcs(), p_ + "initialize", "7002", 0);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(*second);
  EXPECT_EQ(dcs().get(p_ + "initialize")->kvs.at(0).value, "7001");
}

TEST_P(DcsContractTest, FailedTxnReportsCurrentValues) {
  ASSERT_TRUE(dcs().put(p_ + "leader", "holder", 0).ok());
  auto result = dcs().txn({Compare::absent(p_ + "leader")}, {WriteOp::put(p_ + "leader", "me")}, {});
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->succeeded);
  ASSERT_EQ(result->current.size(), 1u);
  EXPECT_EQ(result->current[0].value, "holder");
}

TEST_P(DcsContractTest, CompareAndSetOnModRevision) {
  auto created = dcs::compareAndSet(dcs(), p_ + "config", "{\"ttl\":30}", 0);
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE(*created);
  const auto kv = dcs().get(p_ + "config")->kvs.at(0);
  EXPECT_TRUE(*dcs::compareAndSet(dcs(), p_ + "config", "{\"ttl\":20}", kv.mod_revision));
  // The revision we read is stale now.
  EXPECT_FALSE(*dcs::compareAndSet(dcs(), p_ + "config", "{\"ttl\":10}", kv.mod_revision));
  EXPECT_FALSE(*dcs::compareAndSet(dcs(), p_ + "config", "{}", 0));  // 0 means absent; it exists
  EXPECT_EQ(dcs().get(p_ + "config")->kvs.at(0).value, "{\"ttl\":20}");

  const auto now = dcs().get(p_ + "config")->kvs.at(0);
  EXPECT_FALSE(*dcs::compareAndDelete(dcs(), p_ + "config", kv.mod_revision));
  EXPECT_TRUE(*dcs::compareAndDelete(dcs(), p_ + "config", now.mod_revision));
  EXPECT_TRUE(dcs().get(p_ + "config")->kvs.empty());
}

TEST_P(DcsContractTest, DeleteIfValue) {
  ASSERT_TRUE(dcs().put(p_ + "leader", "n1", 0).ok());
  EXPECT_FALSE(*dcs::deleteIfValue(dcs(), p_ + "leader", "n2"));
  EXPECT_TRUE(*dcs::deleteIfValue(dcs(), p_ + "leader", "n1"));
  EXPECT_FALSE(*dcs::deleteIfValue(dcs(), p_ + "leader", "n1"));  // absent never matches a value
}

TEST_P(DcsContractTest, TxnAppliesExactlyOneBranchAtomically) {
  auto ok = dcs().txn({Compare::absent(p_ + "a")}, {WriteOp::put(p_ + "a", "1"), WriteOp::put(p_ + "b", "1")},
                      {WriteOp::put(p_ + "c", "1")});
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->succeeded);
  auto range = dcs().getPrefix(p_);
  ASSERT_EQ(range->kvs.size(), 2u);
  EXPECT_EQ(range->kvs[0].mod_revision, range->kvs[1].mod_revision);  // one revision

  auto failed = dcs().txn({Compare::absent(p_ + "a")}, {WriteOp::put(p_ + "d", "1")}, {WriteOp::erase(p_ + "b")});
  ASSERT_TRUE(failed.ok());
  EXPECT_FALSE(failed->succeeded);
  range = dcs().getPrefix(p_);
  ASSERT_EQ(range->kvs.size(), 1u);
  EXPECT_EQ(range->kvs[0].key, p_ + "a");
}

TEST_P(DcsContractTest, DuplicateKeyInTxnIsRejected) {
  auto result = dcs().txn({}, {WriteOp::put(p_ + "a", "1"), WriteOp::put(p_ + "a", "2")}, {});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
}

TEST_P(DcsContractTest, ErasePrefix) {
  ASSERT_TRUE(dcs().put(p_ + "members/a", "1", 0).ok());
  ASSERT_TRUE(dcs().put(p_ + "members/b", "1", 0).ok());
  ASSERT_TRUE(dcs().put(p_ + "leader", "a", 0).ok());
  auto deleted = dcs().erasePrefix(p_ + "members/");
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 2);
  EXPECT_EQ(dcs().getPrefix(p_)->kvs.size(), 1u);
}

TEST_P(DcsContractTest, LeaseBindsKeysUntilRevoked) {
  auto lease = dcs().grantLease(10s);
  ASSERT_TRUE(lease.ok()) << lease.error().toString();
  EXPECT_GE(lease->ttl, 10s);
  ASSERT_TRUE(dcs().put(p_ + "members/n1", "{}", lease->id).ok());
  ASSERT_TRUE(*dcs::createIfAbsent(dcs(), p_ + "leader", "n1", lease->id));
  EXPECT_EQ(dcs().get(p_ + "leader")->kvs.at(0).lease, lease->id);

  auto ttl = dcs().keepAlive(lease->id);
  ASSERT_TRUE(ttl.ok()) << ttl.error().toString();
  EXPECT_GE(*ttl, 10s);

  ASSERT_TRUE(dcs().revokeLease(lease->id).ok());
  EXPECT_TRUE(dcs().getPrefix(p_)->kvs.empty());
  auto after = dcs().keepAlive(lease->id);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().code, ErrorCode::kLeaseLost);
  auto put = dcs().put(p_ + "leader", "n1", lease->id);
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.error().code, ErrorCode::kLeaseLost);
  EXPECT_TRUE(dcs().revokeLease(lease->id).ok());  // already gone: still fine
}

TEST_P(DcsContractTest, LeaseExpiresWithoutKeepAlive) {
  auto lease = dcs().grantLease(2s);
  ASSERT_TRUE(lease.ok());
  ASSERT_TRUE(dcs().put(p_ + "leader", "n1", lease->id).ok());
  harness_->letTimePass(1000ms);
  ASSERT_TRUE(dcs().keepAlive(lease->id).ok());  // refreshed to full TTL
  harness_->letTimePass(1500ms);
  EXPECT_EQ(dcs().get(p_ + "leader")->kvs.size(), 1u) << "a refreshed lease must not expire early";
  harness_->letTimePass(2500ms);
  // etcd expires leases on its own schedule: allow it some patience.
  const auto deadline = std::chrono::steady_clock::now() + harness_->patience();
  while (!dcs().get(p_ + "leader")->kvs.empty() && std::chrono::steady_clock::now() < deadline) {
    harness_->letTimePass(100ms);
  }
  EXPECT_TRUE(dcs().get(p_ + "leader")->kvs.empty());
  auto keepalive = dcs().keepAlive(lease->id);
  ASSERT_FALSE(keepalive.ok());
  EXPECT_EQ(keepalive.error().code, ErrorCode::kLeaseLost);
}

TEST_P(DcsContractTest, WatchDeliversChangesUnderPrefixInOrder) {
  WatchRecorder recorder;
  auto watch = dcs().watchPrefix(p_, 0, recorder.callback());
  ASSERT_TRUE(watch.ok());
  auto other = harness_->newClient();
  // etcd creates the watch asynchronously; a write made before it exists
  // would not be seen with start revision 0, so wait for our own marker.
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(other->put(p_ + "marker", std::to_string(i), 0).ok());
    if (recorder.waitFor([](const auto& u) { return !u.empty(); }, 100ms)) break;
  }
  ASSERT_TRUE(other->put("/service/elsewhere/x", "1", 0).ok());
  ASSERT_TRUE(other->put(p_ + "leader", "n1", 0).ok());
  ASSERT_TRUE(other->put(p_ + "leader", "n2", 0).ok());
  ASSERT_TRUE(*dcs::deleteIfValue(*other, p_ + "leader", "n2"));
  ASSERT_TRUE(recorder.waitFor(
      [](const auto& updates) {
        auto events = flatten(updates);
        return !events.empty() && events.back().type == WatchEvent::Type::kDelete;
      },
      harness_->patience()));
  std::vector<std::string> seen;
  dcs::Revision last = 0;
  for (const auto& event : recorder.events()) {
    EXPECT_EQ(event.kv.key.rfind(p_, 0), 0u) << event.kv.key;
    EXPECT_GT(event.kv.mod_revision, last);
    last = event.kv.mod_revision;
    if (event.kv.key == p_ + "leader") {
      seen.push_back(event.type == WatchEvent::Type::kPut ? "put " + event.kv.value : "delete");
    }
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"put n1", "put n2", "delete"}));
}

TEST_P(DcsContractTest, WatchFromRevisionReplaysHistory) {
  auto r1 = dcs().put(p_ + "a", "1", 0);
  ASSERT_TRUE(r1.ok());
  ASSERT_TRUE(dcs().put(p_ + "a", "2", 0).ok());
  WatchRecorder recorder;
  auto watch = dcs().watchPrefix(p_, *r1, recorder.callback());
  ASSERT_TRUE(watch.ok());
  ASSERT_TRUE(recorder.waitFor([](const auto& u) { return eventCount(u) >= 2; }, harness_->patience()));
  auto events = recorder.events();
  EXPECT_EQ(events[0].kv.value, "1");
  EXPECT_EQ(events[1].kv.value, "2");
}

TEST_P(DcsContractTest, WatchSeesLeaseExpiryAsDelete) {
  auto lease = dcs().grantLease(2s);
  ASSERT_TRUE(lease.ok());
  auto rev = dcs().put(p_ + "leader", "n1", lease->id);
  ASSERT_TRUE(rev.ok());
  WatchRecorder recorder;
  auto watch = dcs().watchPrefix(p_, *rev + 1, recorder.callback());
  ASSERT_TRUE(watch.ok());
  harness_->letTimePass(3000ms);
  bool deleted = false;
  const auto deadline = std::chrono::steady_clock::now() + harness_->patience();
  while (!deleted && std::chrono::steady_clock::now() < deadline) {
    deleted = recorder.waitFor(
        [](const auto& u) {
          for (const auto& update : u)
            for (const auto& e : update.events)
              if (e.type == WatchEvent::Type::kDelete) return true;
          return false;
        },
        200ms);
    if (!deleted) harness_->letTimePass(100ms);
  }
  EXPECT_TRUE(deleted);
}

TEST_P(DcsContractTest, WatchFromCompactedRevisionResyncs) {
  auto r1 = dcs().put(p_ + "a", "1", 0);
  ASSERT_TRUE(r1.ok());
  ASSERT_TRUE(dcs().put(p_ + "a", "2", 0).ok());
  auto r3 = dcs().put(p_ + "b", "3", 0);
  ASSERT_TRUE(r3.ok());
  harness_->compact(*r3);
  WatchRecorder recorder;
  auto watch = dcs().watchPrefix(p_, *r1, recorder.callback());
  ASSERT_TRUE(watch.ok());
  ASSERT_TRUE(recorder.waitFor([](const auto& u) { return !u.empty(); }, harness_->patience()));
  auto first = recorder.updates().front();
  ASSERT_EQ(first.kind, WatchUpdate::Kind::kResync);
  ASSERT_EQ(first.snapshot.size(), 2u);
  EXPECT_EQ(first.snapshot[0].value, "2");
  EXPECT_EQ(first.snapshot[1].value, "3");
  // And the watch goes on after the resync.
  ASSERT_TRUE(dcs().put(p_ + "c", "4", 0).ok());
  ASSERT_TRUE(recorder.waitFor(
      [](const auto& u) {
        for (const auto& update : u)
          for (const auto& e : update.events)
            if (e.kv.value == "4") return true;
        return false;
      },
      harness_->patience()));
}

TEST_P(DcsContractTest, DestroyedWatchStopsDelivering) {
  WatchRecorder recorder;
  {
    auto watch = dcs().watchPrefix(p_, 0, recorder.callback());
    ASSERT_TRUE(watch.ok());
  }
  ASSERT_TRUE(dcs().put(p_ + "a", "1", 0).ok());
  EXPECT_FALSE(recorder.waitFor([](const auto& u) { return !u.empty(); }, 300ms));
}

INSTANTIATE_TEST_SUITE_P(
    Implementations, DcsContractTest,
    ::testing::Values(std::make_pair(std::string("memory"), HarnessFactory([] { return std::unique_ptr<DcsHarness>(new MemoryHarness()); })),
                      std::make_pair(std::string("etcd"), HarnessFactory([] { return std::unique_ptr<DcsHarness>(new EtcdHarness()); }))),
    [](const auto& param_info) { return param_info.param.first; });

}  // namespace
}  // namespace pgtandem::testing
