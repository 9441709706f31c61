#pragma once
// AgentCluster on the fault lab (tests/support/netns_lab.h): three hosts in
// one DC, each running an etcd member, a PostgreSQL and its agent on the
// host's own address. The test process reaches every host as an outside
// client would (libpq, HTTP). Losing one etcd member and losing etcd's
// quorum are different faults here, and a partition cuts real links.

#include "tests/dc-agent/agent_cluster.h"
#include "tests/support/netns_lab.h"

namespace pgtandem::testing {

class LabAgentCluster : public AgentCluster {
 protected:
  void SetUp() override {
    if (const std::string why = NetnsLab::unavailableReason(); !why.empty()) GTEST_FAIL() << why;
    lab_ = std::make_unique<NetnsLab>();
    std::vector<EtcdProcess::Placement> placements;
    std::string endpoints;
    std::vector<std::string> urls;
    for (int i = 1; i <= 3; ++i) {
      auto host = lab_->addHost(1, "pg" + std::to_string(i));
      ASSERT_TRUE(host.ok()) << host.error().message;
      placements.push_back({host->address, lab_->execPrefix(host->name)});
      endpoints += (endpoints.empty() ? "" : ",") + host->address + ":2379";
      urls.push_back("http://" + host->address + ":2379");
    }
    auto linked = lab_->reachFromTestProcess();
    ASSERT_TRUE(linked.ok()) << linked.error().message;
    etcd_members_ = EtcdProcess::startClusterOn(placements);
    ASSERT_EQ(etcd_members_.size(), 3u) << "etcd did not start on the lab hosts";
    for (const auto& url : urls) ASSERT_TRUE(waitForEtcd(url, 30)) << url;
    connectDcs(urls);
    clients_ = "10.77.0.0/16";
    for (int i = 1; i <= 3; ++i) etcd_endpoints_["pg" + std::to_string(i)] = endpoints;
    prepareNodes([this](AgentNode& node) {
      node.address = lab_->host(node.name).address;
      node.prefix = lab_->execPrefix(node.name);
      // Each host has its own network, but the Unix sockets share one
      // directory: ports 5431, 5432, 5433; the REST API on Patroni's 8008.
      node.pg_port = 5430 + (node.name.back() - '0');
      node.api_port = 8008;
    });
  }

  void TearDown() override {
    AgentCluster::TearDown();
    etcd_members_.clear();
    lab_.reset();
  }

  // The etcd member on `host`.
  EtcdProcess& etcdOn(const std::string& host) {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].name == host) return *etcd_members_[i];
    }
    throw std::runtime_error("no etcd on " + host);
  }

  std::unique_ptr<NetnsLab> lab_;
  std::vector<std::unique_ptr<EtcdProcess>> etcd_members_;
};

}  // namespace pgtandem::testing
