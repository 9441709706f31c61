// failsafe_mode on the fault lab: real etcd (one member per host), real
// PostgreSQL and agents, each on its own host. etcd loses its quorum while
// every host is up: the primary keeps taking writes (without failsafe mode
// it would demote). Then the primary's host is also cut from one replica's:
// it demotes within a loop, and nobody promotes until etcd returns. A probe
// asks every node directly for a write every 20 ms throughout: never two
// writable at once.

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "tests/dc-agent/lab_agent_cluster.h"

namespace pgtandem::testing {
namespace {

class FailsafeLab : public LabAgentCluster {
 protected:
  FailsafeLab() {
    failsafe_ = true;
    ttl_ = 20;
    loop_wait_ = 2;
    retry_timeout_ = 3;
  }
};

TEST_F(FailsafeLab, QuorumLostWithEveryHostUpKeepsThePrimaryAndOneMemberCutDemotesIt) {
  rewriteConfigs();
  for (auto& node : nodes_) startAgent(node);
  ASSERT_TRUE(eventually([&] { return healthy(3) && memberKeysRunning(); }, 180s)) << "cluster never became healthy";
  const std::string primary = *leader();
  AgentNode& p = byName(primary);
  ASSERT_TRUE(eventually(
      [&] {
        auto shown = api(p, "GET", "/failsafe");
        return shown.status == 200 && boost::json::parse(shown.body).as_object().size() == 3;
      },
      30s))
      << "/failsafe does not list the three members";
  {
    auto s = session(p);
    ASSERT_TRUE(s && s->execute("CREATE TABLE failsafe_probe (node text, at timestamptz DEFAULT now())").ok());
  }
  WriteProbe probe("failsafe_probe");
  probe.start(probeTargets());

  // etcd loses its quorum: the members on the two replicas' hosts die; the
  // primary's own member lives on, without a quorum.
  std::vector<std::string> replicas;
  for (auto& n : nodes_) {
    if (n.name != primary) replicas.push_back(n.name);
  }
  for (const auto& r : replicas) etcdOn(r).kill();
  const auto lost_at = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(2 * ttl_));
  const auto last = probe.lastAck(primary);
  ASSERT_TRUE(last);
  EXPECT_LT(WriteProbe::ms(*last, std::chrono::steady_clock::now()), 1000)
      << "without etcd the primary stopped taking writes (failsafe mode should keep it)";
  EXPECT_GT(WriteProbe::ms(lost_at, *last), 2 * ttl_ * 1000 - 1000);
  auto patroni = api(p, "GET", "/patroni");
  ASSERT_EQ(patroni.status, 200);
  const auto doc = boost::json::parse(patroni.body).as_object();
  EXPECT_TRUE(doc.contains("failsafe_mode_is_active") && doc.at("failsafe_mode_is_active").as_bool()) << patroni.body;
  EXPECT_EQ(api(p, "GET", "/primary").status, 200);

  // One member cut from the primary as well: the primary cannot hear from
  // every member, and must demote.
  ASSERT_TRUE(lab_->partition(primary, replicas[0]).ok());
  const auto cut_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return !isPrimary(p); }, std::chrono::seconds(ttl_))) << "the primary kept running";
  std::this_thread::sleep_for(std::chrono::seconds(ttl_));
  const auto demoted = probe.lastAck(primary);
  ASSERT_TRUE(demoted);
  std::cout << "failsafe: quorum lost, " << primary << " kept writing for " << WriteProbe::ms(lost_at, cut_at)
            << " ms; cut from " << replicas[0] << ", its last write came " << WriteProbe::ms(cut_at, *demoted)
            << " ms later" << std::endl;
  EXPECT_LT(WriteProbe::ms(cut_at, *demoted), (loop_wait_ + retry_timeout_ + 2) * 1000 + 2000)
      << "the primary should demote within one loop of the cut";
  EXPECT_EQ(writablePrimaries(), 0) << "nobody may promote without etcd";

  // etcd back, link healed: one primary again, and the probe never saw two.
  ASSERT_TRUE(lab_->heal(primary, replicas[0]).ok());
  for (const auto& r : replicas) ASSERT_TRUE(etcdOn(r).start());
  ASSERT_TRUE(eventually([&] { return healthy(3); }, 180s)) << "the cluster did not recover";
  std::this_thread::sleep_for(2s);
  probe.stop();
  for (const auto& o : probe.writableOverlaps(std::chrono::milliseconds(100))) {
    ADD_FAILURE() << "two writable primaries: " << o.a << " and " << o.b << " " << WriteProbe::ms(o.a_at, o.b_at) << " ms apart";
  }
  EXPECT_EQ(writablePrimaries(), 1);
}

}  // namespace
}  // namespace pgtandem::testing
