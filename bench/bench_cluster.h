#pragma once
// What the benchmarks share: one DC (its own etcd, PostgreSQL 15 nodes
// under an agent binary, started from the same patroni.yml whether that
// binary is dc-agent or Patroni) and a client that inserts every 10 ms.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/dcs/etcd_dcs.h"
#include "common/pg/pg_session.h"
#include "common/process/process.h"
#include "tests/support/etcd_process.h"

namespace pgtandem::bench {

using BenchClock = std::chrono::steady_clock;

struct Timings {
  int ttl = 10;
  int loop_wait = 2;
  int retry_timeout = 4;
};

struct BenchNode {
  std::string name;
  int pg_port = 0;
  int api_port = 0;
  std::string data_dir, config_file, log_file;
  std::unique_ptr<ProcessHandle> agent;
};

class BenchCluster {
 public:
  // `scope` is the DC's cluster name; member names are `prefix`1..N.
  BenchCluster(std::string scope, std::string prefix, std::string agent_binary, Timings timings);
  ~BenchCluster();  // kills what it started, by PID, and removes its directory

  // Starts the DC's etcd and `members` agents. `standby_of`: the port of
  // the other DC's primary, making this DC a standby cluster of it.
  bool start(int members, std::optional<int> standby_of = std::nullopt);
  // Ends every agent with `signo` (replicas first, the leader last).
  void stopAgents(int signo);

  std::optional<std::string> leader();
  BenchNode& byName(const std::string& name);
  std::vector<BenchNode>& nodes() { return nodes_; }
  std::unique_ptr<pg::PgSession> session(const BenchNode& n) const;
  bool isPrimary(const BenchNode& n) const;
  bool isStreaming(const BenchNode& n) const;
  // The leader runs (a writable primary, or in a standby cluster a standby
  // leader) and every other member streams.
  bool healthy(bool standby_cluster = false);
  std::optional<pid_t> postmasterPid(const BenchNode& n) const;
  std::string etcdEndpoint() const { return etcd_->endpoint(); }
  const std::string& scope() const { return scope_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string configFor(const BenchNode& n, std::optional<int> standby_of) const;

  std::string scope_, prefix_, binary_;
  Timings timings_;
  std::unique_ptr<testing::EtcdProcess> etcd_;
  std::unique_ptr<dcs::EtcdDcs> dcs_;
  std::string dir_;
  std::vector<BenchNode> nodes_;
};

// Inserts a numbered row every 10 ms into whichever of `ports` takes
// writes (moving to the next port when one refuses), from start() to stop().
class WriteProbe {
 public:
  explicit WriteProbe(std::vector<int> ports) : ports_(std::move(ports)) {}
  ~WriteProbe() { stop(); }
  void start();
  void stop();
  // The longest interval between two acknowledged inserts, in seconds.
  double largestGap() const;
  // Seconds from `t` to the first insert acknowledged after it by a node
  // other than the one on `excluded_port` (the victim, which may still
  // acknowledge one in flight); -1 if none.
  double firstAckAfter(BenchClock::time_point t, int excluded_port) const;
  // The ids of acknowledged inserts.
  std::vector<long> acknowledged() const;

 private:
  void run();

  std::vector<int> ports_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<BenchClock::time_point> acked_at_;
  std::vector<long> acked_ids_;
  std::vector<int> acked_ports_;
};

std::unique_ptr<pg::PgSession> connectTo(int port);

template <typename Predicate>
bool eventually(Predicate predicate, std::chrono::seconds limit) {
  const auto deadline = BenchClock::now() + limit;
  while (BenchClock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return predicate();
}

double median(std::vector<double> v);

}  // namespace pgtandem::bench
