// The fault loop's first faults on the lab, in synchronous mode: the leader
// isolated from the other hosts (its etcd member in the minority, its
// replicas out of reach, its clients still reaching it), and kill -9 of the
// leader (agent and postmaster). A client on a multi-host DSN with
// target_session_attrs=read-write writes throughout (the acknowledged-write
// ledger); the single-writer probe asks every node directly for a write
// every 20 ms. Each fault: 0 acknowledged writes lost, 0 instants with two
// writable primaries; the time to writable is printed as a table row.

#include <gtest/gtest.h>

#include <set>

#include "tests/dc-agent/lab_agent_cluster.h"
#include "tests/support/continuous_writer.h"

namespace pgtandem::testing {
namespace {

class FaultLab : public LabAgentCluster {
 protected:
  FaultLab() {
    synchronous_ = true;
    ttl_ = 10;
    loop_wait_ = 1;
    retry_timeout_ = 3;
  }

  std::string everyNodeDsn() {
    std::string hosts, ports;
    for (const auto& n : nodes_) {
      hosts += (hosts.empty() ? "" : ",") + n.address;
      ports += (ports.empty() ? "" : ",") + std::to_string(n.pg_port);
    }
    return "host=" + hosts + " port=" + ports +
           " user=postgres dbname=postgres connect_timeout=2 target_session_attrs=read-write";
  }

  bool syncStandbyChosen() {
    auto got = dcs_->get("/service/itest/sync");
    if (!got.ok() || got->kvs.empty()) return false;
    auto sync = dcs::parseSync(got->kvs[0].value);
    return sync.ok() && sync->leader == leader() && !sync->sync_standby.empty();
  }

  // Runs `fault` on the leader, waits for another writable leader, runs
  // `heal`, waits for three healthy members, then checks the ledger and
  // the probe and prints the row.
  void cycle(const std::string& fault_name, const std::function<void(const std::string&)>& fault,
             const std::function<void(const std::string&)>& heal) {
    ASSERT_TRUE(eventually([&] { return healthy(3) && syncStandbyChosen(); }, 180s)) << fault_name << ": not healthy";
    const std::string victim = *leader();
    WriteProbe probe("probe");
    probe.start(probeTargets());
    ContinuousWriter writer({everyNodeDsn()});
    ASSERT_TRUE(eventually([&] { return writer.acknowledged().size() > 20; }, 30s)) << "the ledger does not write";
    const auto fault_at = std::chrono::steady_clock::now();
    fault(victim);
    ASSERT_TRUE(eventually([&] { return newPrimaryOtherThan(victim); }, std::chrono::seconds(6 * ttl_)))
        << fault_name << ": nobody took over from " << victim;
    const std::size_t before = writer.acknowledged().size();
    ASSERT_TRUE(eventually([&] { return writer.acknowledged().size() > before + 10; }, 60s)) << "writes did not resume";
    heal(victim);
    ASSERT_TRUE(eventually([&] { return healthy(3); }, 180s)) << fault_name << ": " << victim << " did not rejoin";
    std::this_thread::sleep_for(1s);
    writer.stop();
    probe.stop();

    const auto acked = writer.acknowledged();
    const auto acked_at = writer.acknowledgedAt();
    std::optional<std::chrono::milliseconds::rep> to_writable;
    for (std::size_t i = 0; i < acked_at.size(); ++i) {
      if (acked_at[i] > fault_at && i > 0 && acked_at[i] - acked_at[i - 1] > 300ms) {
        to_writable = WriteProbe::ms(fault_at, acked_at[i]);
        break;
      }
    }
    auto rows = session(byName(*leader()))->query("SELECT id FROM w");
    ASSERT_TRUE(rows.ok());
    std::set<long> present;
    for (const auto& row : *rows) present.insert(std::stol(row.at(0).value_or("0")));
    std::size_t lost = 0;
    for (long id : acked) lost += present.count(id) ? 0 : 1;
    const auto overlaps = probe.writableOverlaps(100ms);
    std::cout << "| " << fault_name << " | 1 | " << (to_writable ? std::to_string(*to_writable) + " ms" : "-") << " | "
              << overlaps.size() << " | " << lost << " of " << acked.size() << " |" << std::endl;
    EXPECT_EQ(lost, 0u) << fault_name << ": acknowledged writes lost in synchronous mode";
    for (const auto& o : overlaps) {
      ADD_FAILURE() << fault_name << ": two writable primaries, " << o.a << " and " << o.b << ", "
                    << WriteProbe::ms(o.a_at, o.b_at) << " ms apart";
    }
  }
};

TEST_F(FaultLab, SynchronousModeLosesNothingAndNeverHasTwoWriters) {
  rewriteConfigs();
  for (auto& node : nodes_) startAgent(node);
  ASSERT_TRUE(eventually([&] { return healthy(3) && memberKeysRunning(); }, 180s)) << "cluster never became healthy";
  {
    auto s = session(byName(*leader()));
    ASSERT_TRUE(s && s->execute("CREATE TABLE w (id bigint primary key)").ok());
    ASSERT_TRUE(s->execute("CREATE TABLE probe (node text, at timestamptz DEFAULT now())").ok());
  }
  std::cout << "| fault | cycles | time to writable | two-writer instants | acknowledged writes lost |\n|---|---|---|---|---|"
            << std::endl;
  cycle(
      "leader isolated from the other hosts",
      [&](const std::string& victim) {
        for (auto& n : nodes_) {
          if (n.name != victim) ASSERT_TRUE(lab_->partition(victim, n.name).ok());
        }
      },
      [&](const std::string& victim) {
        for (auto& n : nodes_) {
          if (n.name != victim) ASSERT_TRUE(lab_->heal(victim, n.name).ok());
        }
      });
  cycle(
      "kill -9 of the leader (agent and postmaster)", [&](const std::string& victim) { killLeader(victim); },
      [&](const std::string& victim) { startAgent(byName(victim)); });
}

}  // namespace
}  // namespace pgtandem::testing
