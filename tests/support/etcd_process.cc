#include "tests/support/etcd_process.h"

#include <signal.h>

#include <chrono>
#include <functional>
#include <iostream>
#include <thread>

#include "tests/support/ports.h"

namespace pgtandem::testing {

bool waitForEtcd(const std::string& url, int seconds, const std::vector<std::string>& curl_args) {
  PosixProcessRunner runner;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    // A linearizable range through the gateway succeeds only with a leader.
    Command command;
    command.argv = {"/usr/bin/curl", "-sf", "-m", "2", "-X", "POST", url + "/v3/kv/range", "-d", R"({"key":"AA=="})"};
    command.argv.insert(command.argv.end(), curl_args.begin(), curl_args.end());
    command.timeout = std::chrono::seconds(3);
    auto result = runner.run(command);
    if (result.ok() && result->exit_code == 0 && result->output.find("\"revision\"") != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::unique_ptr<EtcdProcess> EtcdProcess::startSingle(Options options) {
  std::unique_ptr<EtcdProcess> etcd(new EtcdProcess());
  etcd->name_ = options.name;
  etcd->dir_ = makeTempDir("etcd");
  etcd->log_file_ = etcd->dir_ + "/etcd.log";
  etcd->client_port_ = freeLoopbackPort();
  etcd->peer_port_ = freeLoopbackPort();
  etcd->initial_cluster_ = options.name + "=http://127.0.0.1:" + std::to_string(etcd->peer_port_);
  etcd->extra_args_ = options.extra_args;
  etcd->https_ = options.https;
  if (!etcd->launch(true)) return nullptr;
  return etcd;
}

std::vector<std::unique_ptr<EtcdProcess>> EtcdProcess::startCluster(int size) {
  std::vector<Placement> loopback(static_cast<std::size_t>(size), Placement{"127.0.0.1", {}});
  return startMembers(loopback, /*own_ports=*/false);
}

std::vector<std::unique_ptr<EtcdProcess>> EtcdProcess::startClusterOn(const std::vector<Placement>& hosts) {
  return startMembers(hosts, /*own_ports=*/true);
}

std::vector<std::unique_ptr<EtcdProcess>> EtcdProcess::startMembers(const std::vector<Placement>& hosts, bool own_ports) {
  std::vector<std::unique_ptr<EtcdProcess>> members;
  std::string initial;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    std::unique_ptr<EtcdProcess> etcd(new EtcdProcess());
    etcd->name_ = "m" + std::to_string(i + 1);
    etcd->host_ = hosts[i].address;
    etcd->prefix_ = hosts[i].prefix;
    etcd->dir_ = makeTempDir("etcd");
    etcd->log_file_ = etcd->dir_ + "/etcd.log";
    etcd->client_port_ = own_ports ? 2379 : freeLoopbackPort();
    etcd->peer_port_ = own_ports ? 2380 : freeLoopbackPort();
    initial += (initial.empty() ? "" : ",") + etcd->name_ + "=http://" + etcd->host_ + ":" + std::to_string(etcd->peer_port_);
    members.push_back(std::move(etcd));
  }
  for (auto& member : members) {
    member->initial_cluster_ = initial;
    member->extra_args_ = {"--heartbeat-interval", "50", "--election-timeout", "500"};
  }
  // Members wait for each other, so start them all before waiting.
  for (auto& member : members) {
    if (!member->launch(true)) return {};
  }
  return members;
}

bool EtcdProcess::launch(bool new_cluster) {
  SpawnOptions spawn;
  const std::string scheme = https_ ? "https://" : "http://";
  spawn.argv = prefix_;
  spawn.argv.insert(spawn.argv.end(), {"/usr/bin/etcd",
                "--name", name_,
                "--data-dir", dir_ + "/data",
                "--listen-client-urls", scheme + endpoint(),
                "--advertise-client-urls", scheme + endpoint(),
                "--listen-peer-urls", "http://" + host_ + ":" + std::to_string(peer_port_),
                "--initial-advertise-peer-urls", "http://" + host_ + ":" + std::to_string(peer_port_),
                "--initial-cluster", initial_cluster_,
                "--initial-cluster-state", new_cluster && !started_once_ ? "new" : "existing",
                "--initial-cluster-token", "pgtandem-test-" + std::to_string(std::hash<std::string>()(initial_cluster_))});
  spawn.argv.insert(spawn.argv.end(), extra_args_.begin(), extra_args_.end());
  spawn.output_file = log_file_;
  auto process = spawnProcess(spawn);
  if (!process.ok()) {
    std::cerr << "cannot start etcd: " << process.error().toString() << "\n";
    return false;
  }
  process_ = std::move(*process);
  started_once_ = true;
  return true;
}

bool EtcdProcess::start() {
  if (process_ && process_->running()) return true;
  return launch(false);
}

bool EtcdProcess::running() { return process_ && process_->running(); }

void EtcdProcess::kill() {
  if (!process_) return;
  (void)process_->signal(SIGKILL);
  (void)process_->waitExit(std::chrono::seconds(10));
}

EtcdProcess::~EtcdProcess() {
  kill();
  removeTree(dir_);
}

}  // namespace pgtandem::testing
