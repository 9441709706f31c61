// Loaded soak: does a cluster at a given ttl fail over, or demote, when
// nothing failed? One DC (etcd + three PostgreSQL 15 nodes on loopback under
// an agent binary) runs for --minutes under pgbench (rate-limited, through a
// multi-host DSN with target_session_attrs=read-write) while a probe inserts
// every 10 ms. Counted: leader changes, timeline changes of the primary
// (a leader that demoted and took its own lock back changes the timeline
// too), write gaps longer than 1 s, pgbench's aborted clients; and the
// slowest lock renewal the leader reported in /metrics (pgtandem only).
// Exit 0 only when nothing failed over and no write gap passed 1 s.
//
// Usage (as root): soak_bench --dc-agent PATH [--minutes N] [--ttl S]
//                             [--loop-wait S] [--retry-timeout S]
//                             [--clients N] [--rate TPS] [--scale N]

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
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

struct SoakOptions {
  int minutes = 60;
  int clients = 4;
  int rate = 300;  // pgbench transactions per second, all clients together
  int scale = 10;
};

// The current timeline of a writable primary, from its WAL file name.
std::optional<long> timelineOf(const BenchNode& n) {
  auto s = connectTo(n.pg_port);
  if (!s) return std::nullopt;
  auto rows = s->query("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)");
  if (!rows.ok() || rows->empty() || rows->front().empty() || !rows->front().front()) return std::nullopt;
  return std::stol(*rows->front().front(), nullptr, 16);
}

// pgtandem_lock_renew_seconds from an agent's /metrics, if it has one.
std::optional<double> lockRenewSeconds(const BenchNode& n) {
  auto answer = http::call("http://127.0.0.1:" + std::to_string(n.api_port), "GET", "/metrics", "");
  if (!answer.ok() || answer->status != 200) return std::nullopt;
  std::istringstream in(answer->body);
  std::string line;
  while (std::getline(in, line)) {
    // pgtandem_lock_renew_seconds{scope="...",name="..."} 0.0012
    if (line.rfind("pgtandem_lock_renew_seconds", 0) == 0 && line.size() > 27 && (line[27] == '{' || line[27] == ' ')) {
      return std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return std::nullopt;
}

struct Observation {
  int leader_changes = 0;
  int timeline_changes = 0;
  int samples_without_leader = 0;
  double slowest_renewal_s = -1;
  std::vector<std::string> events;
};

// Samples the leader key, its primary's timeline and its renewal time once a
// second until `stop`.
class Observer {
 public:
  Observer(BenchCluster& cluster, Clock::time_point started) : cluster_(cluster), started_(started) {}
  void start() { thread_ = std::thread([this] { run(); }); }
  Observation stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return seen_;
  }

 private:
  void note(const std::string& what) {
    const double at = std::chrono::duration<double>(Clock::now() - started_).count();
    seen_.events.push_back(std::to_string(static_cast<long>(at)) + " s: " + what);
    std::cerr << "soak: " << seen_.events.back() << "\n";
  }

  void run() {
    std::optional<std::string> last_leader = cluster_.leader();
    std::optional<long> last_timeline;
    if (last_leader) last_timeline = timelineOf(cluster_.byName(*last_leader));
    while (!stop_) {
      std::this_thread::sleep_for(1s);
      const auto leader = cluster_.leader();
      if (!leader) {
        ++seen_.samples_without_leader;
        note("no leader key");
        continue;
      }
      if (leader != last_leader) {
        ++seen_.leader_changes;
        note("leader " + last_leader.value_or("none") + " -> " + *leader);
        last_leader = leader;
      }
      const BenchNode& n = cluster_.byName(*leader);
      if (const auto timeline = timelineOf(n)) {
        if (last_timeline && *timeline != *last_timeline) {
          ++seen_.timeline_changes;
          note("timeline " + std::to_string(*last_timeline) + " -> " + std::to_string(*timeline));
        }
        last_timeline = timeline;
      }
      if (const auto renew = lockRenewSeconds(n)) seen_.slowest_renewal_s = std::max(seen_.slowest_renewal_s, *renew);
    }
  }

  BenchCluster& cluster_;
  Clock::time_point started_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  Observation seen_;
};

struct PgbenchResult {
  int exit_code = -1;
  double tps = -1;
  long processed = -1;
  int aborted_clients = 0;
  std::string latency_line;
};

PgbenchResult runPgbench(const std::string& dsn, const SoakOptions& o, const std::string& log_file) {
  const std::string bin = "/usr/lib/postgresql/15/bin/pgbench";
  std::ostringstream command;
  command << bin << " -n -c " << o.clients << " -j 2 -T " << o.minutes * 60 << " -P 60";
  if (o.rate > 0) command << " -R " << o.rate;
  command << " '" << dsn << "' >" << log_file << " 2>&1";
  PgbenchResult result;
  const int status = std::system(command.str().c_str());
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(log_file);
  std::string line;
  while (std::getline(in, line)) {
    double tps = 0;
    long processed = 0;
    if (std::sscanf(line.c_str(), "tps = %lf", &tps) == 1) result.tps = tps;
    if (std::sscanf(line.c_str(), "number of transactions actually processed: %ld", &processed) == 1)
      result.processed = processed;
    if (line.find("aborted in command") != std::string::npos) ++result.aborted_clients;
    if (line.rfind("latency average", 0) == 0) result.latency_line = line;
  }
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"loaded soak: false failovers of an idle-fault cluster at a given ttl"};
  CommonOptions options;
  SoakOptions soak;
  addCommonOptions(app, options, "unused");
  app.add_option("--minutes", soak.minutes, "how long pgbench and the probe run")->check(CLI::Range(1, 240));
  app.add_option("--clients", soak.clients, "pgbench clients")->check(CLI::Range(1, 64));
  app.add_option("--rate", soak.rate, "pgbench transactions per second (0: as fast as it can)")->check(CLI::Range(0, 100000));
  app.add_option("--scale", soak.scale, "pgbench scale factor")->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);
  quietBenchProcess();

  BenchCluster cluster("soak", "pg", options.dc_agent, options.timings);
  if (!cluster.start(3)) {
    std::cerr << "soak: the cluster did not become healthy\n";
    return 1;
  }
  const BenchNode& leader = cluster.byName(*cluster.leader());
  {
    auto setup = cluster.session(leader);
    if (!setup || !setup->execute("CREATE TABLE IF NOT EXISTS bench (id bigint, at timestamptz)").ok()) return 1;
  }
  std::ostringstream dsn;
  dsn << "host=";
  for (std::size_t i = 0; i < cluster.nodes().size(); ++i) dsn << (i ? "," : "") << "127.0.0.1";
  dsn << " port=";
  for (std::size_t i = 0; i < cluster.nodes().size(); ++i) dsn << (i ? "," : "") << cluster.nodes()[i].pg_port;
  dsn << " user=postgres dbname=postgres connect_timeout=2 target_session_attrs=read-write";
  const std::string init = "/usr/lib/postgresql/15/bin/pgbench -i -q -s " + std::to_string(soak.scale) + " '" +
                           dsn.str() + "' >" + cluster.dir() + "/pgbench-init.log 2>&1";
  if (std::system(init.c_str()) != 0) {
    std::cerr << "soak: pgbench -i failed (see " << cluster.dir() << "/pgbench-init.log)\n";
    return 1;
  }

  std::vector<int> ports;
  for (auto& n : cluster.nodes()) ports.push_back(n.pg_port);
  const auto started = Clock::now();
  WriteProbe probe(ports);
  probe.start();
  Observer observer(cluster, started);
  observer.start();
  const PgbenchResult pgbench = runPgbench(dsn.str(), soak, cluster.dir() + "/pgbench.log");
  const Observation seen = observer.stop();
  probe.stop();
  const double ran_s = std::chrono::duration<double>(Clock::now() - started).count();
  const double largest_gap = probe.largestGap();
  const auto& t = options.timings;

  std::cout << "\nsoak: ttl " << t.ttl << " s, loop_wait " << t.loop_wait << " s, retry_timeout " << t.retry_timeout
            << " s; " << ran_s / 60 << " min; pgbench " << soak.clients << " clients, rate "
            << (soak.rate > 0 ? std::to_string(soak.rate) : std::string("unlimited")) << ", scale " << soak.scale
            << "\n\n| leader changes | timeline changes | samples without a leader | largest write gap | "
               "slowest lock renewal | pgbench tps | pgbench aborted clients |\n|---|---|---|---|---|---|---|\n"
            << "| " << seen.leader_changes << " | " << seen.timeline_changes << " | " << seen.samples_without_leader
            << " | " << largest_gap << " s | " << seen.slowest_renewal_s << " s | " << pgbench.tps << " | "
            << pgbench.aborted_clients << " |\n";
  if (!pgbench.latency_line.empty()) std::cout << "pgbench " << pgbench.latency_line << "\n";
  for (const auto& e : seen.events) std::cout << "event at " << e << "\n";
  const bool clean = seen.leader_changes == 0 && seen.timeline_changes == 0 && largest_gap < 1.0 &&
                     pgbench.aborted_clients == 0 && pgbench.exit_code == 0;
  std::cout << "{\"ttl\": " << t.ttl << ", \"loop_wait\": " << t.loop_wait << ", \"retry_timeout\": " << t.retry_timeout
            << ", \"minutes\": " << ran_s / 60 << ", \"leader_changes\": " << seen.leader_changes
            << ", \"timeline_changes\": " << seen.timeline_changes << ", \"largest_write_gap_s\": " << largest_gap
            << ", \"slowest_lock_renewal_s\": " << seen.slowest_renewal_s << ", \"pgbench_tps\": " << pgbench.tps
            << ", \"pgbench_aborted_clients\": " << pgbench.aborted_clients << ", \"clean\": " << (clean ? "true" : "false")
            << "}\n";
  return clean ? 0 : 1;
}
