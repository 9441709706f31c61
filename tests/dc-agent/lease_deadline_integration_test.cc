// The lease deadline on real etcd and PostgreSQL: the leader's link to etcd
// is black-holed (a proxy that stops forwarding, right after some renewal)
// while clients still reach its PostgreSQL. It must refuse writes before any
// other member can take the lock: a probe writes to every node directly
// every 20 ms, and no acknowledged write of the old leader may come after
// the first one of the new leader. Run at several Patroni timings.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "tests/dc-agent/agent_cluster.h"
#include "tests/support/tcp_proxy.h"
#include "tests/support/write_probe.h"

namespace pgtandem::testing {
namespace {

using SteadyTime = WriteProbe::SteadyTime;

struct Timings {
  int ttl, loop_wait, retry_timeout, cuts;
};

class LeaseDeadline : public AgentCluster, public ::testing::WithParamInterface<Timings> {
 protected:
  void SetUp() override {
    AgentCluster::SetUp();
    if (HasFatalFailure()) return;
    ttl_ = GetParam().ttl;
    loop_wait_ = GetParam().loop_wait;
    retry_timeout_ = GetParam().retry_timeout;
    // Each agent reaches etcd through its own link, which the test can cut.
    for (auto& node : nodes_) {
      proxies_[node.name] = std::make_unique<TcpProxy>(etcd_->clientPort());
      ASSERT_NE(proxies_[node.name]->port(), 0);
      etcd_endpoints_[node.name] = proxies_[node.name]->endpoint();
    }
    rewriteConfigs();
  }

  void TearDown() override {
    for (auto& [name, proxy] : proxies_) proxy->heal();
    AgentCluster::TearDown();
  }

  std::map<std::string, std::unique_ptr<TcpProxy>> proxies_;
};

TEST_P(LeaseDeadline, ALeaderCutFromEtcdRefusesWritesBeforeAnyoneElseCanTakeThem) {
  const Timings timings = GetParam();
  for (auto& node : nodes_) startAgent(node);
  ASSERT_TRUE(eventually([&] { return healthy(3); }, 120s)) << "cluster never became healthy";
  {
    auto s = session(byName(*leader()));
    ASSERT_TRUE(s && s->execute("CREATE TABLE lease_probe (node text, at timestamptz DEFAULT now())").ok());
  }
  std::mt19937 random(std::random_device{}());
  for (int cut = 1; cut <= timings.cuts; ++cut) {
    ASSERT_TRUE(eventually([&] { return healthy(3) && memberKeysRunning(); }, 120s)) << "cut " << cut << ": not healthy";
    const std::string old_leader = *leader();
    WriteProbe probe("lease_probe");
    probe.start(probeTargets());
    // Cut at a random phase of the leader's loop.
    std::this_thread::sleep_for(1500ms + std::chrono::milliseconds(random() % (1000 * timings.loop_wait)));
    const SteadyTime cut_at = std::chrono::steady_clock::now();
    proxies_[old_leader]->cut();
    const bool replaced = eventually([&] { return newPrimaryOtherThan(old_leader); }, std::chrono::seconds(3 * timings.ttl));
    std::this_thread::sleep_for(2s);  // writes of the new leader, and any late one of the old
    probe.stop();
    ASSERT_TRUE(replaced) << "cut " << cut << ": nobody took over from " << old_leader;

    std::optional<SteadyTime> old_last, new_first;
    std::string new_leader;
    for (const auto& ack : probe.acks()) {
      if (ack.node == old_leader) {
        old_last = std::max(old_last.value_or(ack.at), ack.at);
      } else if (!new_first || ack.at < *new_first) {
        new_first = ack.at;
        new_leader = ack.node;
      }
    }
    ASSERT_TRUE(old_last && new_first) << "cut " << cut << ": the probe saw no writes";
    const auto ms = [&](SteadyTime t) { return std::chrono::duration_cast<std::chrono::milliseconds>(t - cut_at).count(); };
    std::cout << "ttl " << timings.ttl << "/" << timings.loop_wait << "/" << timings.retry_timeout << ", cut " << cut
              << ": " << old_leader << " took its last write at +" << ms(*old_last) << " ms, " << new_leader
              << " its first at +" << ms(*new_first) << " ms: " << (ms(*new_first) - ms(*old_last))
              << " ms with no writable primary" << std::endl;
    EXPECT_LT(*old_last, *new_first) << "cut " << cut << ": two writable primaries for "
                                     << ms(*old_last) - ms(*new_first) << " ms";
    // The lease of a renewal sent at the very moment of the cut expires at
    // +ttl; the old leader refused writes at least 2 s before even that.
    EXPECT_LT(ms(*old_last), timings.ttl * 1000 - 2000) << "cut " << cut << ": the old leader wrote too late";

    proxies_[old_leader]->heal();
    ASSERT_TRUE(eventually([&] { return healthy(3); }, 120s)) << "cut " << cut << ": " << old_leader << " did not rejoin";
    EXPECT_EQ(writablePrimaries(), 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Timings, LeaseDeadline,
                         ::testing::Values(Timings{10, 1, 3, 3}, Timings{20, 2, 5, 1}, Timings{30, 10, 10, 1}),
                         [](const auto& timing) {
                           return "ttl" + std::to_string(timing.param.ttl) + "_loop" + std::to_string(timing.param.loop_wait) +
                                  "_retry" + std::to_string(timing.param.retry_timeout);
                         });

}  // namespace
}  // namespace pgtandem::testing
