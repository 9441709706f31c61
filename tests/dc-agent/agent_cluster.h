#pragma once
// A three-node dc-agent cluster on loopback for integration tests: real etcd,
// real PostgreSQL 15, agents run as the postgres user. Each node has its own
// PostgreSQL port and REST port.

#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "common/dcs/cluster.h"
#include "common/dcs/etcd_dcs.h"
#include "common/pg/pg_session.h"
#include "tests/support/etcd_process.h"
#include "common/http/http_client.h"
#include "tests/support/ports.h"
#include "tests/support/write_probe.h"

namespace pgtandem::testing {

using namespace std::chrono_literals;

struct AgentNode {
  std::string name;
  std::string address = "127.0.0.1";  // where its PostgreSQL and REST API listen
  std::vector<std::string> prefix;    // argv prefix that runs it on its host (the lab: `ip netns exec NS`)
  int pg_port = 0;
  int api_port = 0;
  std::string config_file;
  std::string data_dir;
  std::string log_file;
  std::unique_ptr<ProcessHandle> process;
};

class AgentCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    etcd_ = EtcdProcess::startSingle({});
    ASSERT_TRUE(etcd_ && waitForEtcd(etcd_->url(), 20));
    connectDcs({etcd_->url()});
    prepareNodes({});
  }

  void connectDcs(const std::vector<std::string>& urls) {
    auto client = dcs::EtcdDcs::create({urls, false, "", "", "", "", "", 3000ms});
    ASSERT_TRUE(client.ok());
    dcs_ = std::move(*client);
  }

  // The working directory, the callback script and three nodes (pg1..pg3)
  // with their patroni.yml; `place` may move a node onto a lab host first.
  void prepareNodes(const std::function<void(AgentNode&)>& place) {
    dir_ = makeTempDir("agents");
    const passwd* pw = ::getpwnam("postgres");
    ASSERT_NE(pw, nullptr) << "no postgres user";
    ASSERT_EQ(::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid), 0);
    {
      std::ofstream script(dir_ + "/callback.sh");
      script << "#!/bin/sh\necho \"$@\" >> " << dir_ << "/callbacks.log\n";
    }
    ::chmod((dir_ + "/callback.sh").c_str(), 0755);
    for (int i = 1; i <= 3; ++i) {
      AgentNode node = makeNode("pg" + std::to_string(i));
      if (place) place(node);
      std::ofstream(node.config_file) << configFor(node);
      nodes_.push_back(std::move(node));
    }
  }

  // HAProxy 2.6 in front of `nodes` (default: this DC's) with Patroni's
  // standard check (GET /primary, on-marked-down shutdown-sessions); returns
  // its port, or 0. Stopped in TearDown.
  int startHaproxy() { return startHaproxyFor(nodes_, "haproxy"); }
  int startHaproxyFor(const std::vector<AgentNode>& nodes, const std::string& name,
                      const std::string& check_timing = "inter 500ms fall 2 rise 1") {
    const int front = freeLoopbackPort();
    const std::string cfg_file = dir_ + "/" + name + ".cfg";
    {
      std::ofstream cfg(cfg_file);
      cfg << "global\n  maxconn 100\n"
          << "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 30m\n  timeout server 30m\n  timeout check 2s\n"
          << "listen primary\n  bind 127.0.0.1:" << front << "\n  option httpchk GET /primary\n"
          << "  http-check expect status 200\n"
          << "  default-server " << check_timing << " on-marked-down shutdown-sessions\n";
      for (const auto& n : nodes) {
        cfg << "  server " << n.name << " " << n.address << ":" << n.pg_port << " maxconn 100 check port " << n.api_port << "\n";
      }
    }
    SpawnOptions spawn;
    spawn.argv = {"/usr/sbin/haproxy", "-db", "-f", cfg_file};
    spawn.output_file = dir_ + "/" + name + ".log";
    auto haproxy = spawnProcess(spawn);
    if (!haproxy.ok()) return 0;
    haproxies_.push_back(std::move(*haproxy));
    return front;
  }

  // A node with free ports and its files under dir_ (no configuration yet).
  AgentNode makeNode(const std::string& name) {
    AgentNode node;
    node.name = name;
    node.pg_port = freeLoopbackPort();
    node.api_port = freeLoopbackPort();
    node.data_dir = dir_ + "/" + name;
    node.config_file = dir_ + "/" + name + ".yml";
    node.log_file = dir_ + "/" + name + ".log";
    return node;
  }

  void TearDown() override {
    for (auto& haproxy : haproxies_) {
      (void)haproxy->signal(SIGTERM);
      (void)haproxy->waitExit(10s);
    }
    haproxies_.clear();
    for (auto& node : nodes_) stopAgent(node, SIGTERM);
    for (auto& node : nodes_) {
      if (auto pid = postmasterPid(node)) ::kill(*pid, SIGKILL);
    }
    if (HasFailure()) {
      for (auto& node : nodes_) {
        std::ifstream log(node.log_file);
        std::stringstream text;
        text << log.rdbuf();
        std::cerr << "---- " << node.name << " agent log (tail) ----\n" << tailLines(text.str(), 80) << "\n";
        std::ifstream pglog(node.data_dir + "/pgtandem-postmaster.log");
        std::stringstream pgtext;
        pgtext << pglog.rdbuf();
        std::cerr << "---- " << node.name << " postgres log (tail) ----\n" << tailLines(pgtext.str(), 15) << "\n";
      }
    }
    // Mounts under dir_ (the lab's per-host disks) go before the tree.
    for (const auto& mount : mounts_) ::umount2(mount.c_str(), MNT_DETACH);
    mounts_.clear();
    removeTree(dir_);
  }

  std::string configFor(const AgentNode& node) {
    std::ostringstream y;
    // No watchdog: the tests kill leaders on purpose, and a machine with
    // /dev/watchdog would be reset for it.
    y << "scope: itest\nname: " << node.name << "\nwatchdog:\n  mode: off\n"
      << "restapi:\n  listen: " << node.address << ":" << node.api_port << "\n  connect_address: " << node.address << ":"
      << node.api_port << "\n"
      << "  authentication:\n    username: admin\n    password: secret\n"
      << "etcd3:\n  hosts: " << (etcd_endpoints_.count(node.name) ? etcd_endpoints_[node.name] : etcd_->endpoint()) << "\n"
      << "bootstrap:\n  dcs:\n    ttl: " << ttl_ << "\n    loop_wait: " << loop_wait_ << "\n    retry_timeout: " << retry_timeout_ << "\n"
      << (synchronous_ ? "    synchronous_mode: true\n" : "") << (failsafe_ ? "    failsafe_mode: true\n" : "")
      << "    slots:\n      dr_standby:\n        type: physical\n"
      << "    postgresql:\n      use_pg_rewind: " << (rewind_ ? "true" : "false") << "\n      parameters:\n        shared_buffers: 16MB\n        fsync: 'off'\n"
      << "        dynamic_shared_memory_type: mmap\n"
      << "  initdb:\n  - data-checksums\n"
      << "  pg_hba:\n  - host all all " << clients_ << " trust\n  - host replication all " << clients_ << " trust\n"
      << "postgresql:\n  listen: " << node.address << ":" << node.pg_port << "\n  connect_address: " << node.address << ":"
      << node.pg_port << "\n"
      << "  data_dir: " << node.data_dir << "\n  bin_dir: /usr/lib/postgresql/15/bin\n"
      << "  use_pg_rewind: " << (rewind_ ? "true" : "false") << "\n"
      << "  parameters:\n    unix_socket_directories: " << dir_ << "\n"
      << "  callbacks:\n    on_role_change: " << dir_ << "/callback.sh " << node.name << "\n"
      << "    on_reload: " << dir_ << "/callback.sh " << node.name << "\n"
      << "    on_restart: " << dir_ << "/callback.sh " << node.name << "\n"
      << "    on_start: " << dir_ << "/callback.sh " << node.name << "\n"
      << "  authentication:\n    superuser:\n      username: postgres\n    replication:\n      username: replicator\n";
    return y.str();
  }

  void startAgent(AgentNode& node) {
    SpawnOptions spawn;
    spawn.argv = node.prefix;
    for (const std::string arg : {"/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", DC_AGENT_BIN}) {
      spawn.argv.push_back(arg);
    }
    spawn.argv.push_back(node.config_file);
    spawn.output_file = node.log_file;
    auto process = spawnProcess(spawn);
    ASSERT_TRUE(process.ok()) << process.error().toString();
    node.process = std::move(*process);
  }

  void stopAgent(AgentNode& node, int signo) {
    if (!node.process) return;
    (void)node.process->signal(signo);
    if (!node.process->waitExit(60s).ok()) {
      (void)node.process->signal(SIGKILL);
      (void)node.process->waitExit(10s);
    }
    node.process.reset();
  }

  std::optional<pid_t> postmasterPid(const AgentNode& node) { return pg::livePostmasterPid(node.data_dir); }

  AgentNode& byName(const std::string& name) {
    for (auto& n : nodes_) {
      if (n.name == name) return n;
    }
    throw std::runtime_error(name);
  }

  std::optional<std::string> leader() {
    auto got = dcs_->get("/service/itest/leader");
    if (!got.ok() || got->kvs.empty()) return std::nullopt;
    return got->kvs[0].value;
  }

  std::unique_ptr<pg::PgSession> session(const AgentNode& node) {
    auto s = pg::PgSession::connect(pg::conninfo({{"host", node.address}, {"port", std::to_string(node.pg_port)},
                                                  {"user", "postgres"}, {"dbname", "postgres"}, {"connect_timeout", "2"}}));
    return s.ok() ? std::move(*s) : nullptr;
  }

  std::optional<pg::ServerState> state(const AgentNode& node) {
    auto s = session(node);
    if (!s) return std::nullopt;
    auto st = s->queryState();
    if (!st.ok()) return std::nullopt;
    return *st;
  }

  bool isPrimary(const AgentNode& node) {
    auto st = state(node);
    return st && !st->in_recovery;
  }

  bool isStreaming(const AgentNode& node) {
    auto st = state(node);
    return st && st->in_recovery && st->wal_receiver_status == "streaming";
  }

  bool hasRow(const AgentNode& node, const std::string& value) { return hasRowIn(node, "t", value); }

  bool hasRowIn(const AgentNode& node, const std::string& table, const std::string& value) {
    auto s = session(node);
    if (!s) return false;
    auto rows = s->query("SELECT count(*) FROM " + table + " WHERE v = '" + value + "'");
    return rows.ok() && !rows->empty() && (*rows)[0][0] == "1";
  }

  static std::string readFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  template <typename Predicate>
  bool eventually(Predicate predicate, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (predicate()) return true;
      std::this_thread::sleep_for(200ms);
    }
    return predicate();
  }

  // One leader that is a primary, every other node streaming.
  bool healthy(std::size_t expected_nodes) {
    const auto l = leader();
    if (!l) return false;
    if (!isPrimary(byName(*l))) return false;
    std::size_t streaming = 0;
    for (auto& n : nodes_) {
      if (n.name != *l && n.process && isStreaming(n)) ++streaming;
    }
    return streaming + 1 == expected_nodes;
  }

  // A REST call to `node`'s agent (HTTP/1.0, Basic auth as admin).
  // (status 0: no answer.)
  http::Response api(const AgentNode& node, const std::string& method, const std::string& target,
                     const std::string& body = "", bool with_auth = true) {
    http::CallOptions options;
    if (with_auth) options.authorization = http::basicAuthorization("admin", "secret");
    auto answer = http::call("http://" + node.address + ":" + std::to_string(node.api_port), method, target, body, options);
    return answer.ok() ? *answer : http::Response{};
  }

  std::string callbackLog() {
    std::ifstream log(dir_ + "/callbacks.log");
    std::stringstream text;
    text << log.rdbuf();
    return text.str();
  }

  // Every started member's key says "running" (member keys can lag the
  // PostgreSQL states healthy() looks at by a loop).
  bool memberKeysRunning() {
    auto cluster = dcs::loadCluster(*dcs_, dcs::ClusterPaths("/service/", "itest"), member_key_log_);
    if (!cluster.ok()) return false;
    for (auto& n : nodes_) {
      if (!n.process) continue;
      const dcs::MemberInfo* m = cluster->member(n.name);
      if (!m || m->state != "running") return false;
    }
    return true;
  }

  // Another member than `old` holds the lock and is a writable primary.
  bool newPrimaryOtherThan(const std::string& old) {
    const auto l = leader();
    return l && *l != old && isPrimary(byName(*l));
  }

  // Every started node, for the single-writer probe.
  std::vector<WriteProbe::Target> probeTargets() {
    std::vector<WriteProbe::Target> out;
    for (const auto& n : nodes_) out.push_back({n.name, n.address, n.pg_port});
    return out;
  }

  int writablePrimaries() {
    int count = 0;
    for (auto& n : nodes_) count += isPrimary(n) ? 1 : 0;
    return count;
  }

  void killLeader(const std::string& name) { killNode(byName(name)); }

  // kill -9 of a node's agent and postmaster.
  void killNode(AgentNode& node) {
    const auto postmaster = postmasterPid(node);
    (void)node.process->signal(SIGKILL);
    (void)node.process->waitExit(10s);
    node.process.reset();
    if (postmaster) ::kill(*postmaster, SIGKILL);
  }

  // Rewrites every node's patroni.yml (after changing the settings below).
  void rewriteConfigs() {
    for (auto& node : nodes_) std::ofstream(node.config_file) << configFor(node);
  }

  std::map<std::string, std::string> etcd_endpoints_;  // by node name; default: etcd_ itself
  int ttl_ = 8, loop_wait_ = 1, retry_timeout_ = 3;
  dcs::MalformedValueLog member_key_log_;
  std::vector<std::unique_ptr<ProcessHandle>> haproxies_;
  std::vector<std::string> mounts_;  // unmounted in TearDown, before dir_ is removed
  bool synchronous_ = false;
  bool failsafe_ = false;                 // failsafe_mode in bootstrap.dcs
  std::string clients_ = "127.0.0.1/32";  // pg_hba's trusted network
  bool rewind_ = true;  // use_pg_rewind
  std::unique_ptr<EtcdProcess> etcd_;
  std::unique_ptr<dcs::EtcdDcs> dcs_;
  std::string dir_;
  std::vector<AgentNode> nodes_;
};

class NoRewindAgentCluster : public AgentCluster {
 protected:
  NoRewindAgentCluster() { rewind_ = false; }
};

class SyncAgentCluster : public AgentCluster {
 protected:
  SyncAgentCluster() { synchronous_ = true; }
};

}  // namespace pgtandem::testing
