// Planned DC switchover, pgtandem against Patroni by hand, on the same
// machine and in the same run, from the same patroni.yml files.
//
// Per system and trial: DC1 (its etcd, two PostgreSQL 15 nodes) and DC2 (its
// own etcd, two nodes, a standby cluster of DC1). A client inserts a
// numbered row every 10 ms into whichever of the four nodes takes writes.
// Then the primary role moves to DC2:
//   pgtandem - `dcctl site switchover --to dc2`;
//   Patroni  - what an operator does with Patroni 3.0.2: stop DC1's agents
//              (replicas first, then the leader: its PostgreSQL stops with a
//              fast shutdown), wait until DC2's standby leader has replayed
//              DC1's shutdown checkpoint, then remove standby_cluster from
//              DC2's /config (PATCH /config) and wait for DC2's primary.
// Measured: the write gap (the longest interval between two acknowledged
// inserts), acknowledged rows missing in DC2 afterwards, and whether DC1 is
// a streaming standby of DC2 afterwards (Patroni's DC1 is left down).
//
// Usage (as root): dc_switchover_bench --dc-agent PATH --dcctl PATH [--trials N]

#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

#include "bench/bench_cluster.h"
#include "bench/options.h"
#include "common/http/http_client.h"
#include "common/util/lsn.h"

namespace {

using namespace pgtandem;
using namespace pgtandem::bench;
using namespace std::chrono_literals;

struct TrialResult {
  double write_gap_s = -1;
  long lost = -1;
  bool old_dc_standby = false;
};

// Runs `command`; its exit code (its output goes to `output`).
int runCommand(const std::string& command, std::string& output) {
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, p)) output += buffer;
  const int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// "Latest checkpoint location" of a stopped data directory.
std::optional<Lsn> latestCheckpoint(const std::string& data_dir) {
  std::string output;
  if (runCommand("/usr/lib/postgresql/15/bin/pg_controldata -D " + data_dir, output) != 0) return std::nullopt;
  const std::string key = "Latest checkpoint location:";
  const auto at = output.find(key);
  if (at == std::string::npos) return std::nullopt;
  std::istringstream rest(output.substr(at + key.size()));
  std::string text;
  rest >> text;
  auto lsn = parseLsn(text);
  return lsn.ok() ? std::optional<Lsn>(*lsn) : std::nullopt;
}

std::optional<Lsn> replayed(BenchCluster& dc, const BenchNode& n) {
  auto s = dc.session(n);
  if (!s) return std::nullopt;
  auto rows = s->query("SELECT pg_last_wal_replay_lsn()::text");
  if (!rows.ok() || rows->empty() || !(*rows)[0][0]) return std::nullopt;
  auto lsn = parseLsn(*(*rows)[0][0]);
  return lsn.ok() ? std::optional<Lsn>(*lsn) : std::nullopt;
}

class Trial {
 public:
  Trial(const std::string& system, const std::string& agent_binary, const std::string& dcctl, Timings timings)
      : system_(system), dcctl_(dcctl), dc1_("dc1", "pg", agent_binary, timings), dc2_("dc2", "dr", agent_binary, timings) {}

  bool start() {
    if (!dc1_.start(2)) return fail("DC1 did not become healthy");
    const auto l1 = dc1_.leader();
    if (!l1) return fail("DC1 has no leader");
    if (!dc2_.start(2, dc1_.byName(*l1).pg_port)) return fail("DC2 did not become a streaming standby cluster");
    auto setup = dc1_.session(dc1_.byName(*l1));
    return (setup && setup->execute("CREATE TABLE bench (id bigint, at timestamptz)").ok()) || fail("cannot create the table");
  }

  TrialResult run() {
    TrialResult result;
    std::vector<int> ports;
    for (auto* dc : {&dc1_, &dc2_}) {
      for (auto& n : dc->nodes()) ports.push_back(n.pg_port);
    }
    WriteProbe probe(ports);
    probe.start();
    std::this_thread::sleep_for(3s);
    const bool moved = system_ == "pgtandem" ? switchWithDcctl() : switchByHand();
    const bool primary = moved && eventually([&] {
      const auto l = dc2_.leader();
      return l && dc2_.isPrimary(dc2_.byName(*l));
    }, 120s);
    std::this_thread::sleep_for(3s);
    probe.stop();
    if (!primary) {
      fail("DC2 did not become the primary DC");
      return result;
    }
    result.write_gap_s = probe.largestGap();
    result.lost = missingIn(dc2_, probe.acknowledged());
    // pgtandem's DC1 follows DC2 as a standby cluster; Patroni's is down.
    result.old_dc_standby = system_ == "pgtandem" && eventually([&] { return dc1_.healthy(true); }, 90s);
    return result;
  }

 private:
  bool fail(const std::string& why) {
    std::cerr << system_ << ": " << why << " (logs in " << dc1_.dir() << " and " << dc2_.dir()
              << " with PGT_KEEP_BENCH=1)\n";
    return false;
  }

  bool switchWithDcctl() {
    const std::string sites = dc1_.dir() + "/sites.yml";
    std::ofstream(sites) << "sites:\n"
                         << "  dc1: {etcd3: {hosts: " << dc1_.etcdEndpoint() << "}, scope: dc1, superuser: {password: bench}}\n"
                         << "  dc2: {etcd3: {hosts: " << dc2_.etcdEndpoint() << "}, scope: dc2, superuser: {password: bench}}\n";
    std::string output;
    if (runCommand(dcctl_ + " site -s " + sites + " init", output) != 0) return fail("site init: " + output);
    output.clear();
    if (runCommand(dcctl_ + " site -s " + sites + " switchover --to dc2 --force", output) != 0) {
      return fail("site switchover: " + output);
    }
    return true;
  }

  bool switchByHand() {
    const auto l1 = dc1_.leader();
    const auto l2 = dc2_.leader();
    if (!l1 || !l2) return fail("a DC has no leader");
    const std::string old_primary_dir = dc1_.byName(*l1).data_dir;
    dc1_.stopAgents(SIGTERM);
    const auto checkpoint = latestCheckpoint(old_primary_dir);
    if (!checkpoint) return fail("cannot read DC1's shutdown checkpoint");
    BenchNode& standby_leader = dc2_.byName(*l2);
    if (!eventually([&] { return replayed(dc2_, standby_leader).value_or(0) > *checkpoint; }, 60s)) {
      return fail("DC2 did not replay DC1's shutdown checkpoint");
    }
    const auto answer = http::call("http://127.0.0.1:" + std::to_string(standby_leader.api_port), "PATCH", "/config",
                                   R"({"standby_cluster": null})");
    if (!answer.ok() || answer->status != 200) {
      return fail("PATCH /config: " + (answer.ok() ? std::to_string(answer->status) + " " + answer->body
                                                   : answer.error().message));
    }
    return true;
  }

  static long missingIn(BenchCluster& dc, const std::vector<long>& acknowledged) {
    const auto l = dc.leader();
    if (!l) return -1;
    auto s = dc.session(dc.byName(*l));
    if (!s) return -1;
    auto rows = s->query("SELECT id::text FROM bench");
    if (!rows.ok()) return -1;
    std::set<long> present;
    for (const auto& row : *rows) {
      if (row[0]) present.insert(std::stol(*row[0]));
    }
    long missing = 0;
    for (long id : acknowledged) missing += present.count(id) ? 0 : 1;
    return missing;
  }

  std::string system_, dcctl_;
  BenchCluster dc1_, dc2_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"DC switchover benchmark: pgtandem against Patroni by hand"};
  CommonOptions options;
  std::string dcctl;
  addCommonOptions(app, options, "switchovers per system");
  app.add_option("--dcctl", dcctl, "dcctl binary")->required();
  CLI11_PARSE(app, argc, argv);
  quietBenchProcess();
  const int trials = options.trials;

  struct Summary {
    std::string system;
    std::vector<double> gaps;
    long lost = 0;
    int standby = 0, done = 0;
  };
  std::vector<Summary> summaries;
  for (const auto& [system, binary] : std::vector<std::pair<std::string, std::string>>{{"pgtandem", options.dc_agent}, {"patroni", options.patroni}}) {
    Summary summary{system, {}, 0, 0, 0};
    for (int t = 0; t < trials; ++t) {
      Trial trial(system, binary, dcctl, options.timings);
      if (!trial.start()) continue;
      const auto r = trial.run();
      std::cerr << system << " trial " << t << ": write gap " << r.write_gap_s << " s, lost " << r.lost
                << ", old DC a standby: " << (r.old_dc_standby ? "yes" : "no") << "\n";
      if (r.write_gap_s < 0) continue;
      summary.gaps.push_back(r.write_gap_s);
      summary.lost += std::max(0L, r.lost);
      summary.standby += r.old_dc_standby ? 1 : 0;
      ++summary.done;
    }
    summaries.push_back(summary);
  }
  std::cout << "\n" << trials << " DC switchovers each (median write gap)\n\n"
            << "| system | write gap | acknowledged rows lost | old DC a standby afterwards |\n|---|---|---|---|\n";
  for (const auto& s : summaries) {
    std::cout << "| " << s.system << " | " << median(s.gaps) << " s | " << s.lost << " | " << s.standby << " of "
              << s.done << " |\n";
  }
  if (summaries.size() == 2 && median(summaries[0].gaps) > 0 && median(summaries[1].gaps) > 0) {
    std::cout << "\nDC switchover write gap: pgtandem/patroni = " << median(summaries[0].gaps) / median(summaries[1].gaps)
              << "\n";
  }
  return 0;
}
