#pragma once
// A three-node dc-agent cluster for integration tests: real etcd, real
// PostgreSQL 15, agents run as the postgres user. On loopback (each node
// with its own PostgreSQL and REST ports, one etcd), or, with on_lab_, on
// the fault lab (tests/support/netns_lab.h): three hosts in one DC, each
// running an etcd member, a PostgreSQL and its agent on the host's own
// address, and the test process reaching every host as an outside client
// would. On the lab, losing one etcd member and losing etcd's quorum are
// different faults, a partition cuts real links, and each host's data
// directory is on a disk of its own (a tmpfs), which can fill.

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
#include "tests/support/netns_lab.h"
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
  std::string socket_dir;  // PostgreSQL's Unix socket; default: the cluster's directory
  std::string config_file;
  std::string data_dir;
  std::string log_file;
  std::unique_ptr<ProcessHandle> process;
};

class AgentCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    if (on_lab_) {
      setUpOnLab();
      return;
    }
    etcd_ = EtcdProcess::startSingle({});
    ASSERT_TRUE(etcd_ && waitForEtcd(etcd_->url(), 20));
    connectDcs({etcd_->url()});
    prepareNodes({});
  }

  void setUpOnLab() {
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
    prepareNodes([this](AgentNode& node) { placeOnLab(node); });
  }

  // A node on its lab host's address. Each host has its own network, so
  // every PostgreSQL listens on 5432 and every REST API on Patroni's 8008;
  // the Unix socket is on the host's own disk, which holds its data
  // directory (a disk per host, so that one host's disk can fill up).
  void placeOnLab(AgentNode& node) {
    node.address = lab_->host(node.name).address;
    node.prefix = lab_->execPrefix(node.name);
    node.pg_port = 5432;
    node.api_port = 8008;
    const std::string disk = diskOf(node.name);
    ASSERT_TRUE(mountDisk(disk)) << disk;
    node.socket_dir = disk;
    node.data_dir = disk + "/data";
  }

  // A tmpfs of kDiskMb owned by postgres at `path`.
  bool mountDisk(const std::string& path) {
    const passwd* pw = ::getpwnam("postgres");
    if (!pw || ::mkdir(path.c_str(), 0700) != 0) return false;
    const std::string options = "size=" + std::to_string(kDiskMb) + "m,mode=0700,uid=" + std::to_string(pw->pw_uid) +
                                ",gid=" + std::to_string(pw->pw_gid);
    if (::mount("tmpfs", path.c_str(), "tmpfs", 0, options.c_str()) != 0) return false;
    mounts_.push_back(path);
    return true;
  }

  std::string diskOf(const std::string& host) const { return dir_ + "/" + host + "-disk"; }

  // DC1's etcd, as a sites file or patroni.yml names it.
  std::string dc1EtcdHosts() { return lab_ ? etcd_endpoints_[nodes_.front().name] : etcd_->endpoint(); }

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
    etcd_members_.clear();
    lab_.reset();
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
      << "  parameters:\n    unix_socket_directories: " << (node.socket_dir.empty() ? dir_ : node.socket_dir) << "\n"
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

  // Rows in `table` on `node`; -1 when it cannot be read (no table, down).
  long rowCount(const AgentNode& node, const std::string& table) {
    auto s = session(node);
    if (!s) return -1;
    auto rows = s->query("SELECT count(*) FROM " + table);
    return rows.ok() && !rows->empty() && (*rows)[0][0] ? std::stol(*(*rows)[0][0]) : -1;
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

  static constexpr int kDiskMb = 1024;  // a lab host's disk; tmpfs takes only what is written
  bool on_lab_ = false;                 // set by the fixture's constructor
  std::unique_ptr<NetnsLab> lab_;
  std::vector<std::unique_ptr<EtcdProcess>> etcd_members_;  // on the lab: DC1's, one per host
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
