#pragma once
// Two data centers, each with its own etcd: DC1 is the three-node primary
// cluster (AgentCluster), DC2 a two-node standby cluster whose standby
// leader streams from DC1 and whose other member cascades from it. Real
// etcd, real PostgreSQL 15, real dc-agents. On loopback, or on the fault lab
// (on_lab_), where DC2 is two hosts of the lab's second DC and
// NetnsLab::cutDcs() cuts the link between the DCs.

#include <regex>

#include "tests/dc-agent/agent_cluster.h"

namespace pgtandem::testing {

using namespace std::chrono_literals;

class TwoDataCenters : public AgentCluster {
 protected:
  void TearDown() override {
    for (auto& n : dr_) stopAgent(n, SIGTERM);
    for (auto& n : dr_) {
      if (auto pid = postmasterPid(n)) ::kill(*pid, SIGKILL);
    }
    etcd2_.reset();
    if (HasFailure()) {
      for (auto& n : dr_) {
        std::cerr << "---- " << n.name << " agent log (tail) ----\n" << tailLines(readFile(n.log_file), 60) << "\n";
        std::cerr << "---- " << n.name << " postgres log (tail) ----\n"
                  << tailLines(readFile(n.data_dir + "/pgtandem-postmaster.log"), 15) << "\n"
                  << "---- recovery: " << readFile(n.data_dir + "/pgtandem.recovery.conf")
                  << "---- following: " << readFile(n.data_dir + "/pgtandem.following") << "\n";
      }
    }
    AgentCluster::TearDown();
  }

  // DC2's nodes: DC1's configuration with another scope, etcd and names,
  // and standby_cluster pointing at `host:port` through slot dr_standby.
  void addStandbyDc(int remote_port) {
    addStandbyDcWith("      host: 127.0.0.1\n      port: " + std::to_string(remote_port) +
                     "\n      primary_slot_name: dr_standby\n");
  }

  // The same with any standby_cluster body (indented six spaces), and
  // `postgresql_extra` (indented two) added to the postgresql section.
  void addStandbyDcWith(const std::string& standby_cluster, const std::string& postgresql_extra = "") {
    etcd2_ = startStandbyDcEtcd();
    ASSERT_TRUE(etcd2_ && waitForEtcd(etcd2_->url(), 20)) << "DC2's etcd did not start";
    auto client = dcs::EtcdDcs::create({{etcd2_->url()}, false, "", "", "", "", "", 3000ms});
    ASSERT_TRUE(client.ok());
    dcs2_ = std::move(*client);
    standby_cluster_ = standby_cluster;
    for (int i = 1; i <= 2; ++i) {
      AgentNode node = makeNode("dr" + std::to_string(i));
      placeStandbyNode(node);
      std::ofstream(node.config_file) << standbyConfigFor(node, postgresql_extra);
      dr_.push_back(std::move(node));
    }
  }

  // DC2's etcd and members run on loopback, or on two hosts of the lab's
  // second DC.
  std::unique_ptr<EtcdProcess> startStandbyDcEtcd() {
    if (lab_) return startStandbyDcEtcdOnLab();
    EtcdProcess::Options options;
    options.name = "n2";
    return EtcdProcess::startSingle(options);
  }
  void placeStandbyNode(AgentNode& node) {
    if (lab_) placeOnLab(node);
  }

  // DC2 on the lab: its standby leader follows DC1's writable host through
  // slot dr_standby (standby_cluster with every DC1 host).
  void addStandbyDcOnLab() {
    std::string hosts;
    for (const auto& n : nodes_) hosts += (hosts.empty() ? "" : ",") + n.address;
    addStandbyDcWith("      host: " + hosts + "\n      port: 5432\n      primary_slot_name: dr_standby\n");
  }

  std::unique_ptr<EtcdProcess> startStandbyDcEtcdOnLab() {
    for (const std::string name : {"dr1", "dr2"}) {
      auto host = lab_->addHost(2, name);
      if (!host.ok()) {
        ADD_FAILURE() << host.error().message;
        return nullptr;
      }
    }
    auto members = EtcdProcess::startClusterOn({{lab_->host("dr1").address, lab_->execPrefix("dr1")}});
    return members.empty() ? nullptr : std::move(members.front());
  }

  std::string standbyConfigFor(const AgentNode& node, const std::string& postgresql_extra = "") {
    etcd_endpoints_[node.name] = etcd2_->endpoint();
    std::string yaml = configFor(node);
    yaml = std::regex_replace(yaml, std::regex("scope: itest"), "scope: itestdr");
    yaml = std::regex_replace(yaml, std::regex("bootstrap:\n  dcs:\n"),
                              "bootstrap:\n  dcs:\n    standby_cluster:\n" + standby_cluster_);
    return std::regex_replace(yaml, std::regex("\npostgresql:\n"), "\npostgresql:\n" + postgresql_extra);
  }

  std::optional<std::string> drLeader() {
    auto got = dcs2_->get("/service/itestdr/leader");
    if (!got.ok() || got->kvs.empty()) return std::nullopt;
    return got->kvs[0].value;
  }

  AgentNode& dr(const std::string& name) {
    for (auto& n : dr_) {
      if (n.name == name) return n;
    }
    throw std::runtime_error(name);
  }

  // Starts DC2's agents and waits until DC2 has a standby leader and every
  // member streams and has the row `row`.
  bool startStandbyDcAndWaitFor(const std::string& row) {
    for (auto& n : dr_) startAgent(n);
    return eventually(
        [&] {
          if (!drLeader()) return false;
          for (auto& n : dr_) {
            if (!isStreaming(n) || !hasRow(n, row)) return false;
          }
          return true;
        },
        180s);
  }

  // The physical slot `name` on a node, if it has one.
  std::optional<pg::SlotRow> slotOn(const AgentNode& node, const std::string& name) {
    auto st = state(node);
    if (!st) return std::nullopt;
    for (const auto& slot : st->slots) {
      if (slot.name == name) return slot;
    }
    return std::nullopt;
  }

  // A sites file naming DC1 "dc1" and DC2 "dc2" (`extra` is appended);
  // returns its path.
  std::string writeSitesFile(const std::string& extra = "") {
    const std::string path = dir_ + "/sites.yml";
    std::ofstream(path) << "sites:\n  dc1:\n    etcd3: {hosts: '" << dc1EtcdHosts() << "'}\n    scope: itest\n"
                        << "  dc2:\n    etcd3: {hosts: " << etcd2_->endpoint() << "}\n    scope: itestdr\n"
                        << extra;
    return path;
  }

  // Runs dcctl with `args`; its exit code (-1 if it did not finish within
  // `limit`) and its output.
  std::pair<int, std::string> dcctl(const std::vector<std::string>& args, std::chrono::seconds limit = 30s) {
    SpawnOptions spawn;
    spawn.argv = {DCCTL_BIN};
    spawn.argv.insert(spawn.argv.end(), args.begin(), args.end());
    const std::string out = dir_ + "/dcctl-" + std::to_string(++dcctl_runs_) + ".out";
    spawn.output_file = out;
    auto ran = spawnProcess(spawn);
    if (!ran.ok()) return {-1, ran.error().toString()};
    auto code = (*ran)->waitExit(limit);
    if (!code.ok()) {
      (void)(*ran)->signal(SIGKILL);
      (void)(*ran)->waitExit(5s);
    }
    return {code.ok() ? *code : -1, readFile(out)};
  }

  std::string standby_cluster_;
  int dcctl_runs_ = 0;
  std::unique_ptr<EtcdProcess> etcd2_;
  std::unique_ptr<dcs::EtcdDcs> dcs2_;
  std::vector<AgentNode> dr_;
};

}  // namespace pgtandem::testing
