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
//                                 [--patroni-ttl S] [--patroni-loop-wait S]
//                                 [--patroni-retry-timeout S]
// Patroni's timings default to the same; its documented minimum ttl is 20 s,
// so comparing at a smaller ttl of ours is done against Patroni at its own.

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "bench/bench_cluster.h"
#include "bench/options.h"
#include "common/http/http_client.h"

namespace {

using namespace pgtandem;
using namespace pgtandem::bench;
using namespace std::chrono_literals;
using Clock = BenchClock;

struct RestRate {
  double requests_per_s = -1;
  double p99_ms = -1;
};

struct TrialResult {
  double failover_s = -1;
  double write_gap_s = -1;
  double first_write_s = -1;  // from the kill to the first insert another node acknowledged
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
  Trial(const std::string& agent_binary, Timings timings)
      : cluster_("bench", "pg", agent_binary, timings), timings_(timings) {}

  bool start() { return cluster_.start(3); }

  TrialResult run(bool measure_resources) {
    TrialResult result;
    auto& nodes = cluster_.nodes();
    if (measure_resources) {
      std::this_thread::sleep_for(5s);  // settle after the bootstrap
      std::vector<long> before;
      for (auto& n : nodes) before.push_back(cpuTicks(n.agent->pid()));
      const auto window = 20s;
      std::this_thread::sleep_for(window);
      long ticks = 0;
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        ticks += cpuTicks(nodes[i].agent->pid()) - before[i];
        result.rss_kb.push_back(rssKb(nodes[i].agent->pid()));
      }
      const double seconds = std::chrono::duration<double>(window).count() * static_cast<double>(nodes.size());
      result.idle_cpu_percent = 100.0 * static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK)) / seconds;
    }
    if (measure_resources) {
      const std::string base = "http://127.0.0.1:" + std::to_string(cluster_.byName(*cluster_.leader()).api_port);
      result.primary_rate = wrk(base + "/primary");
      result.patroni_rate = wrk(base + "/patroni");
    }
    auto setup = cluster_.session(cluster_.byName(*cluster_.leader()));
    if (!setup || !setup->execute("CREATE TABLE IF NOT EXISTS bench (id bigint, at timestamptz)").ok()) return result;
    std::vector<int> ports;
    for (auto& n : nodes) ports.push_back(n.pg_port);

    // A planned switchover to a named replica, under writes.
    {
      WriteProbe probe(ports);
      probe.start();
      std::this_thread::sleep_for(2s);
      const std::string from = *cluster_.leader();
      std::string to;
      for (auto& n : nodes) {
        if (n.name != from) to = n.name;
      }
      const auto answer = http::call("http://127.0.0.1:" + std::to_string(cluster_.byName(from).api_port), "POST",
                                     "/switchover", R"({"leader":")" + from + R"(","candidate":")" + to + "\"}");
      const bool switched = answer.ok() && answer->status == 200 &&
                            eventually([&] { return cluster_.leader() == to && cluster_.isPrimary(cluster_.byName(to)); }, 60s);
      std::this_thread::sleep_for(2s);
      probe.stop();
      if (switched) result.switchover_gap_s = probe.largestGap();
      if (!switched) {
        std::cerr << "switchover failed: "
                  << (answer.ok() ? std::to_string(answer->status) + " " + answer->body : answer.error().message) << "\n";
      }
      if (!eventually([&] { return cluster_.healthy(); }, 120s)) return result;
    }
    WriteProbe probe(ports);
    probe.start();
    // Kill at a random phase of the agents' loop: how long before the kill
    // the leader last refreshed its lease decides most of the failover time.
    std::mt19937 random(std::random_device{}());
    std::uniform_int_distribution<int> phase_ms(0, timings_.loop_wait * 1000);
    std::this_thread::sleep_for(3s + std::chrono::milliseconds(phase_ms(random)));

    const std::string victim = *cluster_.leader();
    BenchNode& node = cluster_.byName(victim);
    const auto postmaster = cluster_.postmasterPid(node);
    const auto killed_at = Clock::now();
    (void)node.agent->signal(SIGKILL);
    if (postmaster) ::kill(*postmaster, SIGKILL);
    const bool ok = eventually(
        [&] {
          const auto l = cluster_.leader();
          return l && *l != victim && cluster_.isPrimary(cluster_.byName(*l));
        },
        120s);
    if (ok) result.failover_s = std::chrono::duration<double>(Clock::now() - killed_at).count();
    std::this_thread::sleep_for(3s);
    probe.stop();
    if (ok) result.write_gap_s = probe.largestGap();
    if (ok) result.first_write_s = probe.firstAckAfter(killed_at, node.pg_port);
    return result;
  }

 private:
  BenchCluster cluster_;
  Timings timings_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"failover benchmark: pgtandem dc-agent vs Patroni"};
  CommonOptions options;
  options.trials = 5;
  addCommonOptions(app, options, "kills per system");
  Timings patroni_timings{-1, -1, -1};
  app.add_option("--patroni-ttl", patroni_timings.ttl, "Patroni's ttl (default: --ttl)");
  app.add_option("--patroni-loop-wait", patroni_timings.loop_wait, "Patroni's loop_wait (default: --loop-wait)");
  app.add_option("--patroni-retry-timeout", patroni_timings.retry_timeout,
                 "Patroni's retry_timeout (default: --retry-timeout)");
  CLI11_PARSE(app, argc, argv);
  quietBenchProcess();
  const int trials = options.trials;
  const Timings timings = options.timings;
  if (patroni_timings.ttl < 0) patroni_timings.ttl = timings.ttl;
  if (patroni_timings.loop_wait < 0) patroni_timings.loop_wait = timings.loop_wait;
  if (patroni_timings.retry_timeout < 0) patroni_timings.retry_timeout = timings.retry_timeout;

  struct Summary {
    std::string system;
    Timings timings;
    std::vector<double> failover, gap, first_write, switchover_gap;
    std::vector<long> rss;
    double cpu = -1;
    RestRate primary_rate, patroni_rate;
  };
  std::vector<Summary> summaries;
  struct System {
    std::string name, binary;
    Timings timings;
  };
  for (const auto& [system, binary, system_timings] :
       std::vector<System>{{"pgtandem", options.dc_agent, timings}, {"patroni", options.patroni, patroni_timings}}) {
    Summary summary{system, system_timings, {}, {}, {}, {}, {}, -1, {}, {}};
    for (int t = 0; t < trials; ++t) {
      Trial trial(binary, system_timings);
      if (!trial.start()) {
        std::cerr << system << " trial " << t << ": cluster did not become healthy\n";
        continue;
      }
      auto r = trial.run(t == 0);
      std::cerr << system << " trial " << t << ": switchover gap " << r.switchover_gap_s << " s, failover "
                << r.failover_s << " s, first write after the kill " << r.first_write_s << " s, write gap "
                << r.write_gap_s << " s\n";
      summary.failover.push_back(r.failover_s);
      summary.first_write.push_back(r.first_write_s);
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
  std::cout << "\n" << trials << " kills each (median)\n\n";
  std::cout << "| system | ttl / loop_wait / retry_timeout | failover after kill -9 | kill -9 to first write | write gap | "
               "agent RSS (max of 3) | agent idle CPU |\n|---|---|---|---|---|---|---|\n";
  for (const auto& s : summaries) {
    const long rss = s.rss.empty() ? -1 : *std::max_element(s.rss.begin(), s.rss.end());
    std::cout << "| " << s.system << " | " << s.timings.ttl << " / " << s.timings.loop_wait << " / "
              << s.timings.retry_timeout << " s | " << median(s.failover) << " s | " << median(s.first_write) << " s | "
              << median(s.gap) << " s | " << rss / 1024.0 << " MB | " << s.cpu << " % |\n";
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
    ratio("kill -9 to first write", median(summaries[0].first_write), median(summaries[1].first_write));
    ratio("write gap after kill -9", median(summaries[0].gap), median(summaries[1].gap));
    ratio("switchover write gap", median(summaries[0].switchover_gap), median(summaries[1].switchover_gap));
    ratio("GET /primary requests/s", summaries[0].primary_rate.requests_per_s, summaries[1].primary_rate.requests_per_s);
    ratio("GET /patroni requests/s", summaries[0].patroni_rate.requests_per_s, summaries[1].patroni_rate.requests_per_s);
  }
  return 0;
}
