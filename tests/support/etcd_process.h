#pragma once
// Throwaway etcd members for tests: real etcd 3.4 on free loopback ports with
// a tmpfs data directory, killed by PID when the test is done.

#include <memory>
#include <string>
#include <vector>

#include "common/process/process.h"

namespace pgtandem::testing {

class EtcdProcess {
 public:
  struct Options {
    std::string name = "n1";
    std::vector<std::string> extra_args;  // e.g. TLS or --auth-token-ttl
    bool https = false;                   // client URLs use https (needs cert args)
  };

  // A single-member cluster, started (null when etcd could not be started;
  // the reason goes to stderr). Use waitForEtcd() for readiness.
  static std::unique_ptr<EtcdProcess> startSingle(Options options);
  // A `size`-member cluster on loopback.
  static std::vector<std::unique_ptr<EtcdProcess>> startCluster(int size);

  // Where one member of a cluster runs: a host's address, and the argv
  // prefix that runs a command there (the netns lab: `ip netns exec NS`).
  // Each host has its own network, so the ports are etcd's own 2379/2380.
  struct Placement {
    std::string address;
    std::vector<std::string> prefix;
  };
  static std::vector<std::unique_ptr<EtcdProcess>> startClusterOn(const std::vector<Placement>& hosts);

  ~EtcdProcess();

  std::string endpoint() const { return host_ + ":" + std::to_string(client_port_); }
  std::string url() const { return (https_ ? "https://" : "http://") + endpoint(); }
  int clientPort() const { return client_port_; }

  void kill();     // SIGKILL, wait for exit
  bool start();    // (re)start with the same data directory and ports
  bool running();
  const std::string& logFile() const { return log_file_; }

 private:
  EtcdProcess() = default;
  // `own_ports`: each host has its own network (2379/2380), else free loopback ports.
  static std::vector<std::unique_ptr<EtcdProcess>> startMembers(const std::vector<Placement>& hosts, bool own_ports);
  bool launch(bool new_cluster);

  std::string name_;
  std::string host_ = "127.0.0.1";
  std::vector<std::string> prefix_;
  std::string dir_;
  std::string log_file_;
  int client_port_ = 0;
  int peer_port_ = 0;
  std::string initial_cluster_;
  std::vector<std::string> extra_args_;
  bool https_ = false;
  bool started_once_ = false;
  std::unique_ptr<ProcessHandle> process_;
};

// Waits until `endpoint` serves a linearizable read, up to `seconds`.
bool waitForEtcd(const std::string& url, int seconds, const std::vector<std::string>& curl_args = {});

}  // namespace pgtandem::testing
