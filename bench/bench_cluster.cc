#include "bench/bench_cluster.h"

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/pg/postgres.h"
#include "tests/support/ports.h"

namespace pgtandem::bench {

using namespace std::chrono_literals;

std::unique_ptr<pg::PgSession> connectTo(int port) {
  auto s = pg::PgSession::connect(pg::conninfo({{"host", "127.0.0.1"}, {"port", std::to_string(port)},
                                                {"user", "postgres"}, {"password", "bench"}, {"dbname", "postgres"},
                                                {"connect_timeout", "1"}}));
  return s.ok() ? std::move(*s) : nullptr;
}

BenchCluster::BenchCluster(std::string scope, std::string prefix, std::string agent_binary, Timings timings)
    : scope_(std::move(scope)), prefix_(std::move(prefix)), binary_(std::move(agent_binary)), timings_(timings) {}

BenchCluster::~BenchCluster() {
  for (auto& n : nodes_) {
    if (n.agent) {
      (void)n.agent->signal(SIGKILL);
      (void)n.agent->waitExit(10s);
    }
    if (auto pid = postmasterPid(n)) ::kill(*pid, SIGKILL);
  }
  if (!dir_.empty() && !std::getenv("PGT_KEEP_BENCH")) testing::removeTree(dir_);
}

bool BenchCluster::start(int members, std::optional<int> standby_of) {
  etcd_ = testing::EtcdProcess::startSingle({});
  if (!etcd_ || !testing::waitForEtcd(etcd_->url(), 20)) return false;
  auto client = dcs::EtcdDcs::create({{etcd_->url()}, false, "", "", "", "", "", 2000ms});
  if (!client.ok()) return false;
  dcs_ = std::move(*client);
  dir_ = testing::makeTempDir("bench-" + scope_);
  const passwd* pw = ::getpwnam("postgres");
  if (!pw || ::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) return false;
  for (int i = 1; i <= members; ++i) {
    BenchNode n;
    n.name = prefix_ + std::to_string(i);
    n.pg_port = testing::freeLoopbackPort();
    n.api_port = testing::freeLoopbackPort();
    n.data_dir = dir_ + "/" + n.name;
    n.config_file = dir_ + "/" + n.name + ".yml";
    n.log_file = dir_ + "/" + n.name + ".log";
    std::ofstream(n.config_file) << configFor(n, standby_of);
    nodes_.push_back(std::move(n));
  }
  for (auto& n : nodes_) {
    SpawnOptions spawn;
    spawn.argv = {"/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", binary_, n.config_file};
    spawn.output_file = n.log_file;
    auto process = spawnProcess(spawn);
    if (!process.ok()) return false;
    n.agent = std::move(*process);
  }
  return eventually([&] { return healthy(standby_of.has_value()); }, 240s);
}

void BenchCluster::stopAgents(int signo) {
  const auto first = leader();
  std::vector<BenchNode*> order;
  for (auto& n : nodes_) {
    if (!first || n.name != *first) order.push_back(&n);
  }
  for (auto& n : nodes_) {
    if (first && n.name == *first) order.push_back(&n);
  }
  for (BenchNode* n : order) {
    if (!n->agent) continue;
    (void)n->agent->signal(signo);
    (void)n->agent->waitExit(60s);
  }
}

std::string BenchCluster::configFor(const BenchNode& n, std::optional<int> standby_of) const {
  std::ostringstream y;
  y << "scope: " << scope_ << "\nname: " << n.name << "\nwatchdog:\n  mode: off\n"  // the bench kills leaders
    << "restapi:\n  listen: 127.0.0.1:" << n.api_port << "\n  connect_address: 127.0.0.1:" << n.api_port << "\n"
    << "etcd3:\n  hosts: " << etcd_->endpoint() << "\n"
    << "bootstrap:\n  dcs:\n    ttl: " << timings_.ttl << "\n    loop_wait: " << timings_.loop_wait
    << "\n    retry_timeout: " << timings_.retry_timeout << "\n    maximum_lag_on_failover: 1048576\n"
    << "    postgresql:\n      use_pg_rewind: true\n      parameters:\n        shared_buffers: 16MB\n"
    << "        dynamic_shared_memory_type: mmap\n        wal_keep_size: 256MB\n";
  if (standby_of) y << "    standby_cluster:\n      host: 127.0.0.1\n      port: " << *standby_of << "\n";
  y << "  initdb:\n  - data-checksums\n"
    << "  pg_hba:\n  - local all all trust\n  - host all all 127.0.0.1/32 trust\n  - host replication all 127.0.0.1/32 trust\n"
    << "postgresql:\n  listen: 127.0.0.1:" << n.pg_port << "\n  connect_address: 127.0.0.1:" << n.pg_port << "\n"
    << "  data_dir: " << n.data_dir << "\n  bin_dir: /usr/lib/postgresql/15/bin\n  pgpass: " << dir_ << "/pgpass-"
    << n.name << "\n"
    << "  use_pg_rewind: true\n"
    << "  parameters:\n    unix_socket_directories: " << dir_ << "\n"
    << "  authentication:\n    superuser:\n      username: postgres\n      password: bench\n"
    << "    replication:\n      username: replicator\n      password: bench\n";
  return y.str();
}

BenchNode& BenchCluster::byName(const std::string& name) {
  for (auto& n : nodes_) {
    if (n.name == name) return n;
  }
  return nodes_.front();
}

std::optional<pid_t> BenchCluster::postmasterPid(const BenchNode& n) const { return pg::livePostmasterPid(n.data_dir); }

std::optional<std::string> BenchCluster::leader() {
  auto got = dcs_->get("/service/" + scope_ + "/leader");
  if (!got.ok() || got->kvs.empty()) return std::nullopt;
  return got->kvs[0].value;
}

std::unique_ptr<pg::PgSession> BenchCluster::session(const BenchNode& n) const { return connectTo(n.pg_port); }

bool BenchCluster::isPrimary(const BenchNode& n) const {
  auto s = session(n);
  if (!s) return false;
  auto st = s->queryState();
  return st.ok() && !st->in_recovery;
}

bool BenchCluster::isStreaming(const BenchNode& n) const {
  auto s = session(n);
  if (!s) return false;
  auto st = s->queryState();
  return st.ok() && st->in_recovery && st->wal_receiver_status == "streaming";
}

bool BenchCluster::healthy(bool standby_cluster) {
  const auto l = leader();
  if (!l) return false;
  if (standby_cluster ? !isStreaming(byName(*l)) : !isPrimary(byName(*l))) return false;
  return std::all_of(nodes_.begin(), nodes_.end(), [&](const BenchNode& n) { return n.name == *l || isStreaming(n); });
}

void WriteProbe::start() {
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void WriteProbe::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void WriteProbe::run() {
  std::unique_ptr<pg::PgSession> s;
  std::size_t target = 0;
  long next_id = 1;
  {
    std::lock_guard lock(mutex_);
    if (!acked_ids_.empty()) next_id = acked_ids_.back() + 1;
  }
  while (!stop_) {
    if (!s) s = connectTo(ports_[target]);
    if (s && s->execute("INSERT INTO bench VALUES (" + std::to_string(next_id) + ", now())").ok()) {
      std::lock_guard lock(mutex_);
      acked_at_.push_back(BenchClock::now());
      acked_ids_.push_back(next_id++);
      acked_ports_.push_back(ports_[target]);
    } else {
      s.reset();
      target = (target + 1) % ports_.size();
    }
    std::this_thread::sleep_for(10ms);
  }
}

double WriteProbe::largestGap() const {
  std::lock_guard lock(mutex_);
  double gap = 0;
  for (std::size_t i = 1; i < acked_at_.size(); ++i) {
    gap = std::max(gap, std::chrono::duration<double>(acked_at_[i] - acked_at_[i - 1]).count());
  }
  return gap;
}

double WriteProbe::firstAckAfter(BenchClock::time_point t, int excluded_port) const {
  std::lock_guard lock(mutex_);
  for (auto i = static_cast<std::size_t>(std::upper_bound(acked_at_.begin(), acked_at_.end(), t) - acked_at_.begin());
       i < acked_at_.size(); ++i) {
    if (acked_ports_[i] != excluded_port) return std::chrono::duration<double>(acked_at_[i] - t).count();
  }
  return -1;
}

std::vector<long> WriteProbe::acknowledged() const {
  std::lock_guard lock(mutex_);
  return acked_ids_;
}

double median(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return x < 0; }), v.end());
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace pgtandem::bench
