// Side-by-side failover benchmark: pgtandem's dc-agent against Patroni, on
// the same machine, in the same run, from the very same patroni.yml files
// (dc-agent reads Patroni's configuration unchanged).
//
// For each system and trial: etcd + three PostgreSQL 15 nodes on loopback;
// a client inserts every 10 ms into whichever node accepts writes; the
// leader's agent and postmaster are killed with SIGKILL. Measured:
//   failover  - from the kill until another member holds the leader key and
//               is a writable primary;
//   write gap - the longest interval between two acknowledged inserts around
//               the kill;
//   RSS and idle CPU of the agents (the first trial, before the kill);
//   REST throughput - GET /primary and GET /patroni on the leader under wrk
//               (16 connections, 10 s): requests/s and p99 latency (first trial);
//   switchover write gap - the longest interval between two acknowledged
//               inserts around a POST /switchover to a named replica.
//
// Usage (as root): failover_bench --dc-agent PATH [--trials N] [--ttl S]
//                                 [--loop-wait S] [--retry-timeout S]

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "common/dcs/etcd_dcs.h"
#include "common/pg/pg_session.h"
#include "common/util/log.h"
#include "tests/support/etcd_process.h"
#include "common/http/http_client.h"
#include "tests/support/ports.h"

namespace {

using namespace pgtandem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Timings {
  int ttl = 10;
  int loop_wait = 2;
  int retry_timeout = 4;
};

struct Node {
  std::string name;
  int pg_port = 0;
  int api_port = 0;
  std::string data_dir, config_file, log_file;
  std::unique_ptr<ProcessHandle> agent;
};

struct RestRate {
  double requests_per_s = -1;
  double p99_ms = -1;
};

struct TrialResult {
  double failover_s = -1;
  double write_gap_s = -1;
  double switchover_gap_s = -1;
  std::vector<long> rss_kb;
  double idle_cpu_percent = -1;
  RestRate primary_rate, patroni_rate;
};

// Runs wrk against `url` and reads its requests/s and 99th percentile.
RestRate wrk(const std::string& url) {
  RestRate rate;
  const std::string command = "wrk -t1 -c16 -d10s --latency " + url + " 2>&1";
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return rate;
  char line[512];
  while (std::fgets(line, sizeof line, p)) {
    double value = 0;
    char unit[8] = {0};
    if (std::sscanf(line, " Requests/sec: %lf", &value) == 1) rate.requests_per_s = value;
    if (std::sscanf(line, " 99%% %lf%7s", &value, unit) == 2) {
      const std::string u(unit);
      rate.p99_ms = u == "us" ? value / 1000 : u == "ms" ? value : u == "s" ? value * 1000 : -1;
    }
  }
  ::pclose(p);
  return rate;
}

long rssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// utime + stime of a process, in clock ticks.
long cpuTicks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

class Trial {
 public:
  Trial(std::string system, std::string agent_binary, Timings timings)
      : system_(std::move(system)), binary_(std::move(agent_binary)), timings_(timings) {}

  ~Trial() {
    stop_probe_ = true;
    if (probe_.joinable()) probe_.join();
    for (auto& n : nodes_) {
      if (n.agent) {
        (void)n.agent->signal(SIGKILL);
        (void)n.agent->waitExit(10s);
      }
      if (auto pid = postmasterPid(n)) ::kill(*pid, SIGKILL);
    }
    if (!dir_.empty() && !std::getenv("PGT_KEEP_BENCH")) testing::removeTree(dir_);
  }

  bool start() {
    etcd_ = testing::EtcdProcess::startSingle({});
    if (!etcd_ || !testing::waitForEtcd(etcd_->url(), 20)) return false;
    auto client = dcs::EtcdDcs::create({{etcd_->url()}, false, "", "", "", "", "", 2000ms});
    if (!client.ok()) return false;
    dcs_ = std::move(*client);
    dir_ = testing::makeTempDir("bench");
    const passwd* pw = ::getpwnam("postgres");
    if (!pw || ::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) return false;
    for (int i = 1; i <= 3; ++i) {
      Node n;
      n.name = "pg" + std::to_string(i);
      n.pg_port = testing::freeLoopbackPort();
      n.api_port = testing::freeLoopbackPort();
      n.data_dir = dir_ + "/" + n.name;
      n.config_file = dir_ + "/" + n.name + ".yml";
      n.log_file = dir_ + "/" + n.name + ".log";
      std::ofstream(n.config_file) << configFor(n);
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
    return eventually([&] { return healthy(); }, 180s);
  }

  TrialResult run(bool measure_resources) {
    TrialResult result;
    if (measure_resources) {
      std::this_thread::sleep_for(5s);  // settle after the bootstrap
      std::vector<long> before;
      for (auto& n : nodes_) before.push_back(cpuTicks(n.agent->pid()));
      const auto window = 20s;
      std::this_thread::sleep_for(window);
      long ticks = 0;
      for (std::size_t i = 0; i < nodes_.size(); ++i) {
        ticks += cpuTicks(nodes_[i].agent->pid()) - before[i];
        result.rss_kb.push_back(rssKb(nodes_[i].agent->pid()));
      }
      const double seconds = std::chrono::duration<double>(window).count() * static_cast<double>(nodes_.size());
      result.idle_cpu_percent = 100.0 * static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK)) / seconds;
    }
    if (measure_resources) {
      const std::string base = "http://127.0.0.1:" + std::to_string(byName(*leader()).api_port);
      result.primary_rate = wrk(base + "/primary");
      result.patroni_rate = wrk(base + "/patroni");
    }
    auto setup = session(byName(*leader()));
    if (!setup || !setup->execute("CREATE TABLE IF NOT EXISTS bench (at timestamptz)").ok()) return result;

    // A planned switchover to a named replica, under writes.
    probe_ = std::thread([this] { probe(); });
    std::this_thread::sleep_for(2s);
    {
      const std::string from = *leader();
      std::string to;
      for (auto& n : nodes_) {
        if (n.name != from) to = n.name;
      }
      const auto answer = http::call("http://127.0.0.1:" + std::to_string(byName(from).api_port), "POST", "/switchover",
                                     R"({"leader":")" + from + R"(","candidate":")" + to + "\"}");
      const bool switched = answer.ok() && answer->status == 200 && eventually([&] { return leader() == to && isPrimary(byName(to)); }, 60s);
      std::this_thread::sleep_for(2s);
      stop_probe_ = true;
      probe_.join();
      if (switched) result.switchover_gap_s = largestGap();
      if (!switched) {
        std::cerr << system_ << ": switchover failed: "
                  << (answer.ok() ? std::to_string(answer->status) + " " + answer->body : answer.error().message) << "\n";
      }
      if (!eventually([&] { return healthy(); }, 120s)) return result;
    }
    {
      std::lock_guard lock(acked_mutex_);
      acked_.clear();
    }
    stop_probe_ = false;
    probe_ = std::thread([this] { probe(); });
    // Kill at a random phase of the agents' loop: how long before the kill
    // the leader last refreshed its lease decides most of the failover time.
    std::mt19937 random(std::random_device{}());
    std::uniform_int_distribution<int> phase_ms(0, timings_.loop_wait * 1000);
    std::this_thread::sleep_for(3s + std::chrono::milliseconds(phase_ms(random)));

    const std::string victim = *leader();
    Node& node = byName(victim);
    const auto postmaster = postmasterPid(node);
    const auto killed_at = Clock::now();
    (void)node.agent->signal(SIGKILL);
    if (postmaster) ::kill(*postmaster, SIGKILL);
    const bool ok = eventually(
        [&] {
          const auto l = leader();
          return l && *l != victim && isPrimary(byName(*l));
        },
        120s);
    if (ok) result.failover_s = std::chrono::duration<double>(Clock::now() - killed_at).count();
    std::this_thread::sleep_for(3s);
    stop_probe_ = true;
    probe_.join();
    if (ok) result.write_gap_s = largestGap();
    return result;
  }

 private:
  // The longest interval between two acknowledged inserts.
  double largestGap() {
    std::lock_guard lock(acked_mutex_);
    double gap = 0;
    for (std::size_t i = 1; i < acked_.size(); ++i) {
      gap = std::max(gap, std::chrono::duration<double>(acked_[i] - acked_[i - 1]).count());
    }
    return gap;
  }

  std::string configFor(const Node& n) {
    std::ostringstream y;
    y << "scope: bench\nname: " << n.name << "\n"
      << "restapi:\n  listen: 127.0.0.1:" << n.api_port << "\n  connect_address: 127.0.0.1:" << n.api_port << "\n"
      << "etcd3:\n  hosts: " << etcd_->endpoint() << "\n"
      << "bootstrap:\n  dcs:\n    ttl: " << timings_.ttl << "\n    loop_wait: " << timings_.loop_wait
      << "\n    retry_timeout: " << timings_.retry_timeout << "\n    maximum_lag_on_failover: 1048576\n"
      << "    postgresql:\n      use_pg_rewind: true\n      parameters:\n        shared_buffers: 16MB\n"
      << "        dynamic_shared_memory_type: mmap\n"
      << "  initdb:\n  - data-checksums\n"
      << "  pg_hba:\n  - local all all trust\n  - host all all 127.0.0.1/32 trust\n  - host replication all 127.0.0.1/32 trust\n"
      << "postgresql:\n  listen: 127.0.0.1:" << n.pg_port << "\n  connect_address: 127.0.0.1:" << n.pg_port << "\n"
      << "  data_dir: " << n.data_dir << "\n  bin_dir: /usr/lib/postgresql/15/bin\n  pgpass: " << dir_ << "/pgpass-"
      << n.name << "\n"
      << "  parameters:\n    unix_socket_directories: " << dir_ << "\n"
      << "  authentication:\n    superuser:\n      username: postgres\n      password: bench\n"
      << "    replication:\n      username: replicator\n      password: bench\n";
    return y.str();
  }

  Node& byName(const std::string& name) {
    for (auto& n : nodes_) {
      if (n.name == name) return n;
    }
    return nodes_.front();
  }

  std::optional<pid_t> postmasterPid(const Node& n) { return pg::livePostmasterPid(n.data_dir); }

  std::optional<std::string> leader() {
    auto got = dcs_->get("/service/bench/leader");
    if (!got.ok() || got->kvs.empty()) return std::nullopt;
    return got->kvs[0].value;
  }

  std::unique_ptr<pg::PgSession> session(const Node& n) {
    auto s = pg::PgSession::connect(pg::conninfo({{"host", "127.0.0.1"}, {"port", std::to_string(n.pg_port)},
                                                  {"user", "postgres"}, {"password", "bench"}, {"dbname", "postgres"},
                                                  {"connect_timeout", "1"}}));
    return s.ok() ? std::move(*s) : nullptr;
  }

  bool isPrimary(const Node& n) {
    auto s = session(n);
    if (!s) return false;
    auto st = s->queryState();
    return st.ok() && !st->in_recovery;
  }

  bool healthy() {
    const auto l = leader();
    if (!l || !isPrimary(byName(*l))) return false;
    int streaming = 0;
    for (auto& n : nodes_) {
      if (n.name == *l) continue;
      auto s = session(n);
      if (!s) return false;
      auto st = s->queryState();
      if (st.ok() && st->in_recovery && st->wal_receiver_status == "streaming") ++streaming;
    }
    return streaming == 2;
  }

  // Inserts every 10 ms into whichever node takes writes.
  void probe() {
    std::unique_ptr<pg::PgSession> s;
    std::size_t target = 0;
    while (!stop_probe_) {
      if (!s) s = session(nodes_[target]);
      if (s && s->execute("INSERT INTO bench VALUES (now())").ok()) {
        std::lock_guard lock(acked_mutex_);
        acked_.push_back(Clock::now());
      } else {
        s.reset();
        target = (target + 1) % nodes_.size();
      }
      std::this_thread::sleep_for(10ms);
    }
  }

  template <typename Predicate>
  bool eventually(Predicate predicate, std::chrono::seconds limit) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (predicate()) return true;
      std::this_thread::sleep_for(50ms);
    }
    return predicate();
  }

  std::string system_, binary_;
  Timings timings_;
  std::unique_ptr<testing::EtcdProcess> etcd_;
  std::unique_ptr<dcs::EtcdDcs> dcs_;
  std::string dir_;
  std::vector<Node> nodes_;
  std::thread probe_;
  std::atomic<bool> stop_probe_{false};
  std::mutex acked_mutex_;
  std::vector<Clock::time_point> acked_;
};

double median(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return x < 0; }), v.end());
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"failover benchmark: pgtandem dc-agent vs Patroni"};
  std::string dc_agent, patroni = "/usr/bin/patroni";
  int trials = 5;
  Timings timings;
  app.add_option("--dc-agent", dc_agent, "dc-agent binary (a Release build)")->required();
  app.add_option("--patroni", patroni, "patroni executable");
  app.add_option("--trials", trials, "kills per system");
  app.add_option("--ttl", timings.ttl);
  app.add_option("--loop-wait", timings.loop_wait);
  app.add_option("--retry-timeout", timings.retry_timeout);
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  ::signal(SIGPIPE, SIG_IGN);

  struct Summary {
    std::string system;
    std::vector<double> failover, gap, switchover_gap;
    std::vector<long> rss;
    double cpu = -1;
    RestRate primary_rate, patroni_rate;
  };
  std::vector<Summary> summaries;
  for (const auto& [system, binary] : std::vector<std::pair<std::string, std::string>>{{"pgtandem", dc_agent}, {"patroni", patroni}}) {
    Summary summary{system, {}, {}, {}, {}, -1, {}, {}};
    for (int t = 0; t < trials; ++t) {
      Trial trial(system, binary, timings);
      if (!trial.start()) {
        std::cerr << system << " trial " << t << ": cluster did not become healthy\n";
        continue;
      }
      auto r = trial.run(t == 0);
      std::cerr << system << " trial " << t << ": switchover gap " << r.switchover_gap_s << " s, failover "
                << r.failover_s << " s, write gap " << r.write_gap_s << " s\n";
      summary.failover.push_back(r.failover_s);
      summary.gap.push_back(r.write_gap_s);
      summary.switchover_gap.push_back(r.switchover_gap_s);
      if (t == 0) {
        summary.rss = r.rss_kb;
        summary.cpu = r.idle_cpu_percent;
        summary.primary_rate = r.primary_rate;
        summary.patroni_rate = r.patroni_rate;
      }
    }
    summaries.push_back(summary);
  }
  std::cout << "\nttl " << timings.ttl << " s, loop_wait " << timings.loop_wait << " s, retry_timeout "
            << timings.retry_timeout << " s, " << trials << " kills each (median)\n\n";
  std::cout << "| system | failover after kill -9 | write gap | agent RSS (max of 3) | agent idle CPU |\n|---|---|---|---|---|\n";
  for (const auto& s : summaries) {
    const long rss = s.rss.empty() ? -1 : *std::max_element(s.rss.begin(), s.rss.end());
    std::cout << "| " << s.system << " | " << median(s.failover) << " s | " << median(s.gap) << " s | "
              << rss / 1024.0 << " MB | " << s.cpu << " % |\n";
  }
  std::cout << "\n| system | switchover write gap | GET /primary | GET /patroni |\n|---|---|---|---|\n";
  for (const auto& s : summaries) {
    std::cout << "| " << s.system << " | " << median(s.switchover_gap) << " s | " << s.primary_rate.requests_per_s
              << " req/s, p99 " << s.primary_rate.p99_ms << " ms | " << s.patroni_rate.requests_per_s << " req/s, p99 "
              << s.patroni_rate.p99_ms << " ms |\n";
  }
  if (summaries.size() == 2) {
    const auto ratio = [](const char* what, double ours, double theirs) {
      if (ours > 0 && theirs > 0) std::cout << what << ": pgtandem/patroni = " << ours / theirs << "\n";
    };
    std::cout << "\n";
    ratio("failover", median(summaries[0].failover), median(summaries[1].failover));
    ratio("write gap after kill -9", median(summaries[0].gap), median(summaries[1].gap));
    ratio("switchover write gap", median(summaries[0].switchover_gap), median(summaries[1].switchover_gap));
    ratio("GET /primary requests/s", summaries[0].primary_rate.requests_per_s, summaries[1].primary_rate.requests_per_s);
    ratio("GET /patroni requests/s", summaries[0].patroni_rate.requests_per_s, summaries[1].patroni_rate.requests_per_s);
  }
  return 0;
}
