// The dcctl binary against a real cluster (etcd, three PostgreSQL 15 nodes
// under dc-agent): every verb that goes through the REST API, prompts
// answered on stdin, and failures (unknown member, etcd down).

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "tests/dc-agent/agent_cluster.h"

namespace pgtandem::testing {
namespace {

using namespace std::chrono_literals;

struct CliResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

class DcctlCluster : public AgentCluster {
 protected:
  // Runs dcctl with `input` on its stdin, using pg1's configuration file.
  CliResult dcctl(const std::string& args, const std::string& input = "") {
    const std::string input_file = dir_ + "/dcctl.stdin";
    std::ofstream(input_file) << input;
    const std::string command = std::string(DCCTL_BIN) + " -c " + nodes_[0].config_file + " " + args + " < " +
                                input_file + " 2>&1";
    CliResult result;
    FILE* p = ::popen(command.c_str(), "r");
    if (!p) return result;
    char buffer[4096];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, p)) > 0) result.output.append(buffer, n);
    const int status = ::pclose(p);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
  }

  bool memberRunning(const std::string& name) {
    auto cluster = dcs::loadCluster(*dcs_, dcs::ClusterPaths("/service/", "itest"), malformed_);
    if (!cluster.ok()) return false;
    const dcs::MemberInfo* m = cluster->member(name);
    return m && m->state == "running";
  }

  dcs::MalformedValueLog malformed_;
};

TEST_F(DcctlCluster, EveryVerb) {
  for (auto& n : nodes_) startAgent(n);
  ASSERT_TRUE(eventually([&] { return healthy(3); }, 120s));
  const std::string first = *leader();
  ASSERT_TRUE(eventually([&] { return memberKeysRunning(); }, 30s));

  auto list = dcctl("list");
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("+ Cluster: itest ("), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("| " + first + " "), std::string::npos);
  EXPECT_NE(list.output.find("Leader"), std::string::npos);
  EXPECT_EQ(dcctl("version").output, "dcctl version 0.1.0\n");
  // As patronictl: the cluster and members, each with its PostgreSQL version.
  auto versions = dcctl("version itest " + first);
  EXPECT_EQ(versions.exit_code, 0) << versions.output;
  EXPECT_EQ(versions.output.rfind("dcctl version 0.1.0\n\n" + first + ": pgtandem 0.1.0 PostgreSQL 15.", 0), 0u)
      << versions.output;
  const std::string all = dcctl("version itest").output;
  std::size_t lines = 0;
  for (auto at = all.find(": pgtandem 0.1.0 PostgreSQL 15."); at != std::string::npos; at = all.find(": pgtandem", at + 1)) ++lines;
  EXPECT_EQ(lines, 3u) << "every member, without naming them: " << all;
  EXPECT_EQ(dcctl("topology itest -f tsv").exit_code, 0);

  // Switchover with every question answered on stdin: leader (default),
  // candidate, when (default now), confirmation.
  std::string target;
  for (auto& n : nodes_) {
    if (n.name != first) target = n.name;
  }
  auto declined = dcctl("switchover", "\n" + target + "\n\nn\n");
  EXPECT_EQ(declined.exit_code, 1) << declined.output;
  EXPECT_EQ(leader(), first) << "a declined switchover changed the leader";
  auto switched = dcctl("switchover", "\n" + target + "\n\ny\n");
  EXPECT_EQ(switched.exit_code, 0) << switched.output;
  EXPECT_NE(switched.output.find("Successfully switched over to \"" + target + "\""), std::string::npos) << switched.output;
  ASSERT_TRUE(eventually([&] { return healthy(3) && memberRunning(first); }, 120s));
  EXPECT_EQ(dcctl("history -f tsv").output.find("TL\tLSN\tReason"), 0u);

  // Failover back, without questions.
  ASSERT_TRUE(eventually([&] { return memberRunning(first); }, 30s));
  auto failed_over = dcctl("failover itest --candidate " + first + " --force");
  EXPECT_EQ(failed_over.exit_code, 0) << failed_over.output;
  ASSERT_TRUE(eventually([&] { return healthy(3) && leader() == first && memberRunning(target); }, 120s));

  // Restart and reload a member; reinit one and wait for it.
  const auto before = postmasterPid(byName(target));
  auto restarted = dcctl("restart itest " + target + " --scheduled now --force");  // "now", as patronictl takes it
  EXPECT_EQ(restarted.exit_code, 0) << restarted.output;
  EXPECT_NE(restarted.output.find("Success: restart on member " + target), std::string::npos);
  EXPECT_NE(postmasterPid(byName(target)), before);
  auto pending = dcctl("restart itest " + target + " --pending --force");
  EXPECT_EQ(pending.exit_code, 1) << "nothing is pending: " << pending.output;
  EXPECT_NE(pending.output.find("Failed: restart for member " + target), std::string::npos);
  auto reloaded = dcctl("reload itest --force");
  EXPECT_EQ(reloaded.exit_code, 0) << reloaded.output;
  EXPECT_NE(reloaded.output.find("Reload request received for member " + first), std::string::npos);
  ASSERT_TRUE(eventually([&] { return healthy(3) && memberRunning(target); }, 60s));
  auto reinit = dcctl("reinit itest " + target + " --force --wait");
  EXPECT_EQ(reinit.exit_code, 0) << reinit.output;
  EXPECT_NE(reinit.output.find("Reinitialize of " + target + " is done"), std::string::npos) << reinit.output;
  ASSERT_TRUE(eventually([&] { return healthy(3); }, 120s));

  // Pause and resume, waiting for every member.
  auto paused = dcctl("pause --wait");
  EXPECT_EQ(paused.exit_code, 0) << paused.output;
  EXPECT_NE(dcctl("list").output.find("Maintenance mode: on"), std::string::npos);
  EXPECT_EQ(dcctl("pause").exit_code, 1) << "already paused";
  auto resumed = dcctl("resume --wait");
  EXPECT_EQ(resumed.exit_code, 0) << resumed.output;

  // edit-config and show-config.
  auto edited = dcctl("edit-config --force -q -s maximum_lag_on_failover=2097152 -p work_mem=8MB");
  EXPECT_EQ(edited.exit_code, 0) << edited.output;
  const auto shown = dcctl("show-config").output;
  EXPECT_NE(shown.find("maximum_lag_on_failover: 2097152"), std::string::npos) << shown;
  EXPECT_NE(shown.find("work_mem: 8MB"), std::string::npos) << shown;
  EXPECT_EQ(dcctl("edit-config --force -s ttl=2").exit_code, 1) << "invalid timings are refused";
  // Every member applies /config's parameters: a reload for work_mem, a
  // pending restart for max_files_per_process (then restart --pending).
  auto setting = [&](AgentNode& n, const std::string& name) -> std::string {
    auto s = session(n);
    if (!s) return "";
    auto rows = s->query("SELECT setting || CASE WHEN pending_restart THEN ' pending' ELSE '' END FROM pg_settings WHERE name = '" + name + "'");
    return rows.ok() && !rows->empty() && (*rows)[0][0] ? *(*rows)[0][0] : "";
  };
  EXPECT_TRUE(eventually([&] {
    for (auto& n : nodes_) {
      if (setting(n, "work_mem") != "8192") return false;
    }
    return true;
  }, 30s)) << "work_mem from /config did not reach every member";
  ASSERT_EQ(dcctl("edit-config --force -q -p max_files_per_process=900").exit_code, 0);
  EXPECT_TRUE(eventually([&] { return dcctl("list").output.find("Pending restart") != std::string::npos; }, 30s))
      << dcctl("list").output;
  auto restart_pending = dcctl("restart itest --pending --force");
  EXPECT_EQ(restart_pending.exit_code, 0) << restart_pending.output;
  EXPECT_TRUE(eventually([&] {
    for (auto& n : nodes_) {
      if (setting(n, "max_files_per_process") != "900") return false;
    }
    return healthy(3);
  }, 120s)) << "max_files_per_process after restart --pending";

  // A scheduled switchover and a scheduled restart, shown and flushed.
  auto scheduled = dcctl("switchover itest --leader " + first + " --candidate " + target +
                         " --scheduled 2099-01-01T00:00:00+00:00 --force");
  EXPECT_EQ(scheduled.exit_code, 0) << scheduled.output;
  EXPECT_NE(scheduled.output.find("Switchover scheduled"), std::string::npos) << scheduled.output;
  EXPECT_NE(dcctl("list").output.find("Switchover scheduled at: 2099-01-01T00:00:00+00:00 from: " + first), std::string::npos);
  auto flushed = dcctl("flush itest switchover --force");
  EXPECT_EQ(flushed.exit_code, 0) << flushed.output;
  EXPECT_EQ(dcctl("flush itest switchover --force").exit_code, 1) << "nothing left to flush";
  auto restart_later = dcctl("restart itest " + target + " --scheduled 2099-01-01T00:00:00+00:00 --force");
  EXPECT_EQ(restart_later.exit_code, 0) << restart_later.output;
  EXPECT_NE(restart_later.output.find("Success: restart scheduled on member " + target), std::string::npos);
  ASSERT_TRUE(eventually([&] { return dcctl("list").output.find("2099-01-01T00:00:00+00:00") != std::string::npos; }, 10s))
      << "the scheduled restart is not in the member key";
  auto restart_flushed = dcctl("flush itest restart --force");
  EXPECT_EQ(restart_flushed.exit_code, 0) << restart_flushed.output;
  EXPECT_NE(restart_flushed.output.find("Success: flush scheduled restart for member " + target), std::string::npos);

  // query on the leader and on a replica.
  EXPECT_EQ(dcctl("query --format tsv -c 'SELECT 1 AS one, NULL AS nothing'").output, "one\tnothing\n1\t\n");
  EXPECT_EQ(dcctl("query --format tsv -r replica -c 'SELECT pg_is_in_recovery() AS r'").output, "r\nt\n");
  auto bad_sql = dcctl("query -c 'SELEC 1'");
  EXPECT_EQ(bad_sql.exit_code, 1);
  EXPECT_NE(bad_sql.output.find("syntax error"), std::string::npos) << bad_sql.output;

  // Failures name their reason.
  auto unknown = dcctl("restart itest pg9 --force");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(unknown.output, "dcctl: pg9 is not a member of cluster itest\n");
  auto dsn = dcctl("dsn");
  EXPECT_EQ(dsn.output, "host=127.0.0.1 port=" + std::to_string(byName(first).pg_port) + "\n");

  // Watching: two rounds, then it stops.
  auto watched = dcctl("list -w 0.2 --watch-rounds 2 -f tsv");
  EXPECT_EQ(watched.exit_code, 0);
  EXPECT_EQ(std::count(watched.output.begin(), watched.output.end(), '\n'), 2 * 4) << watched.output;

  // Every agent stopped: no leader, and dcctl says so.
  for (auto& n : nodes_) stopAgent(n, SIGTERM);
  auto no_leader = dcctl("switchover itest --force");
  EXPECT_EQ(no_leader.exit_code, 1);
  EXPECT_EQ(no_leader.output, "dcctl: cluster itest has no leader: use failover\n");
  EXPECT_EQ(dcctl("list").exit_code, 0) << "list works with every member down";

  // etcd down: a clear error, not a hang.
  etcd_.reset();
  const auto started = std::chrono::steady_clock::now();
  auto down = dcctl("list");
  EXPECT_NE(down.exit_code, 0);
  EXPECT_NE(down.output.find("dcctl: cannot read the DCS"), std::string::npos) << down.output;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 20s);
}

// dcctl backup dump: globals and a directory-format dump per database,
// taken from a replica (not the leader), restorable with pg_restore -j 2;
// a directory that is not empty is refused.
TEST_F(DcctlCluster, BackupDumpFromAReplicaRestoresWithPgRestore) {
  for (auto& n : nodes_) startAgent(n);
  ASSERT_TRUE(eventually([&] { return healthy(3); }, 120s));
  ASSERT_TRUE(eventually([&] { return memberKeysRunning(); }, 30s));
  const std::string first = *leader();
  AgentNode* primary = nullptr;
  for (auto& n : nodes_) {
    if (n.name == first) primary = &n;
  }
  ASSERT_TRUE(primary);
  ASSERT_TRUE(session(*primary)->execute("CREATE ROLE reader LOGIN; CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 5000) g").ok());
  for (auto& n : nodes_) {
    ASSERT_TRUE(eventually([&] {
      auto s = session(n);
      if (!s) return false;
      auto rows = s->query("SELECT count(*) FROM t");
      return rows.ok() && !rows->empty() && (*rows)[0][0].value_or("") == "5000";
    }, 30s)) << n.name;
  }
  const std::string dump = dir_ + "/dump";
  auto dumped = dcctl("backup dump itest --to " + dump + " -j 2");
  ASSERT_EQ(dumped.exit_code, 0) << dumped.output;
  EXPECT_EQ(dumped.output.find("dumping from " + first + " "), std::string::npos) << "the leader was dumped: " << dumped.output;
  EXPECT_TRUE(std::filesystem::exists(dump + "/globals.sql"));
  EXPECT_NE(readFile(dump + "/globals.sql").find("CREATE ROLE reader"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dump + "/postgres.dir/toc.dat"));
  ASSERT_TRUE(session(*primary)->execute("CREATE DATABASE restored").ok());
  const std::string restore = "/usr/lib/postgresql/15/bin/pg_restore -j 2 --no-owner -d 'host=" + primary->address +
                              " port=" + std::to_string(primary->pg_port) + " user=postgres dbname=restored' " + dump +
                              "/postgres.dir 2>&1";
  ASSERT_EQ(std::system(restore.c_str()), 0) << restore;
  auto restored = pg::PgSession::connect(pg::conninfo({{"host", primary->address}, {"port", std::to_string(primary->pg_port)},
                                                       {"user", "postgres"}, {"dbname", "restored"}}));
  ASSERT_TRUE(restored.ok());
  auto count = (*restored)->query("SELECT count(*) FROM t");
  ASSERT_TRUE(count.ok() && !count->empty());
  EXPECT_EQ((*count)[0][0].value_or(""), "5000");
  auto again = dcctl("backup dump itest --to " + dump);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.output.find("is not empty"), std::string::npos) << again.output;
  auto relative = dcctl("backup dump itest --to dump");
  EXPECT_EQ(relative.exit_code, 2) << relative.output;
}

}  // namespace
}  // namespace pgtandem::testing
