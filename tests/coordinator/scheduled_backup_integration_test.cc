// Scheduled backups on two real DCs (own etcd each, real PostgreSQL 15,
// real dc-agents), run by the dc-coordinator daemon from the sites file's
// `backups:` schedule while pgbench writes on DC1's primary: a full, then an
// incr, then a restore drill of it, one at a time, each copying DC2's replica (not its standby leader,
// not DC1), recorded in both DCs' backups journals with size and duration,
// in the repository and verified; pgbench never stops.

#include <pwd.h>

#include <algorithm>
#include <ctime>

#include "tests/coordinator/dc_switchover_fixture.h"

namespace pgtandem::testing {
namespace {

std::optional<dcs::BackupJournal> journalIn(dcs::Dcs& client, const std::string& scope) {
  auto got = client.get("/service/" + scope + "/backups");
  if (!got.ok() || got->kvs.empty()) return std::nullopt;
  auto parsed = dcs::parseBackupJournal(got->kvs[0].value);
  return parsed.ok() ? std::optional(*parsed) : std::nullopt;
}

class ScheduledBackup : public DcSwitchover {
 protected:
  // Runs `argv` as postgres (dc-backup and pgbench refuse nothing as root,
  // but the repository belongs to postgres); its exit code and output.
  std::pair<int, std::string> asPostgres(std::vector<std::string> argv, std::chrono::seconds limit) {
    Command command;
    command.argv = {"/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"};
    command.argv.insert(command.argv.end(), argv.begin(), argv.end());
    command.timeout = limit;
    PosixProcessRunner runner;
    auto ran = runner.run(command);
    if (!ran.ok()) return {-1, ran.error().toString()};
    return {ran->exit_code, ran->output};
  }
};

TEST_F(ScheduledBackup, RunsFromTheStandbyDcsReplicaWhileThePrimaryDcIsUnderPgbench) {
  ASSERT_FALSE(startBothDcs().empty());
  AgentNode& dc1_leader = byName(*leader());
  ASSERT_TRUE(drLeader());
  const AgentNode* dc2_replica = nullptr;
  for (const auto& n : dr_) {
    if (n.name != *drLeader()) dc2_replica = &n;
  }
  ASSERT_TRUE(dc2_replica);

  // The repository, its stanza (from the replica's pg_control) and dc-backup's configuration.
  const std::string repo = dir_ + "/repo", config = dir_ + "/dc-backup.yml";
  const passwd* pw = ::getpwnam("postgres");
  ASSERT_TRUE(pw);
  fs::create_directories(repo);
  ASSERT_EQ(::chown(repo.c_str(), pw->pw_uid, pw->pw_gid), 0);
  std::ofstream(config) << "repo: " << repo << "\nstanza: main\nbackup_method: pg_basebackup\npg_user: postgres\n"
                        << "process_max: 2\n";
  auto stanza = asPostgres({DC_BACKUP_BIN, "stanza-create", "--config", config, "--pg-data", dc2_replica->data_dir}, 60s);
  ASSERT_EQ(stanza.first, 0) << stanza.second;

  // pgbench's tables on DC1, then its load for the whole backup.
  const std::string pgbench = "/usr/lib/postgresql/15/bin/pgbench";
  const std::vector<std::string> target = {"-h", dc1_leader.address, "-p", std::to_string(dc1_leader.pg_port), "-U",
                                           "postgres", "postgres"};
  std::vector<std::string> init = {pgbench, "-i", "-s", "5", "-q"};
  init.insert(init.end(), target.begin(), target.end());
  auto initialized = asPostgres(init, 300s);
  ASSERT_EQ(initialized.first, 0) << initialized.second;
  ASSERT_TRUE(eventually([&] { return rowCount(*dc2_replica, "pgbench_accounts") == 500000; }, 120s))
      << "DC2's replica did not get pgbench's tables";
  std::pair<int, std::string> load_result{-1, ""};
  std::vector<std::string> load = {pgbench, "-n", "-c", "2", "-T", "90"};
  load.insert(load.end(), target.begin(), target.end());
  std::thread loader([&] { load_result = asPostgres(load, 120s); });

  // The daemon, with an hourly full whose last time was half an hour ago
  // (so it is due at once, and not again during the test), an incr and a
  // drill every minute (due at once too: they run after the full, in turn).
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  const std::string sites = dir_ + "/sites-scheduled.yml";
  std::ofstream(sites) << readFile(sites_) << "coordinator:\n  listen: 127.0.0.1:" << freeLoopbackPort()
                       << "\nbackups:\n  config: " << config << "\n  full: \"" << (utc.tm_min + 30) % 60
                       << " * * * *\"\n  incr: \"* * * * *\"\n  drill: \"* * * * *\"\n";
  SpawnOptions spawn;
  spawn.argv = {DC_COORDINATOR_BIN, "--sites", sites};
  spawn.output_file = dir_ + "/dc-coordinator.log";
  auto daemon = spawnProcess(spawn);
  ASSERT_TRUE(daemon.ok()) << daemon.error().message;
  daemon_ = std::move(*daemon);

  std::optional<dcs::BackupJournal> dc2_journal;
  const bool recorded = eventually(
      [&] {
        dc2_journal = journalIn(*dcs2_, "itestdr");
        if (!dc2_journal) return false;
        const auto& runs = dc2_journal->history;
        return std::any_of(runs.begin(), runs.end(), [](const dcs::SiteOperation& r) { return r.kind == "drill"; });
      },
      180s);
  loader.join();
  ASSERT_TRUE(daemon_->signal(SIGTERM).ok());
  EXPECT_TRUE(daemon_->waitExit(60s).ok()) << "dc-coordinator did not stop on SIGTERM";
  daemon_.reset();
  const std::string log = readFile(dir_ + "/dc-coordinator.log");
  ASSERT_TRUE(recorded) << "no scheduled backup was recorded\n---- dc-coordinator log ----\n" << log;

  // The full first, then the incr, then the drill (after another incr when
  // a minute began meanwhile): one at a time.
  const auto& runs = dc2_journal->history;
  ASSERT_GE(runs.size(), 3u);
  const dcs::SiteOperation& run = runs[0];
  const dcs::SiteOperation& incr = runs[1];
  const auto drill_at = std::find_if(runs.begin(), runs.end(), [](const dcs::SiteOperation& r) { return r.kind == "drill"; });
  const dcs::SiteOperation& drill = *drill_at;
  // The newest backup taken when the drill started.
  const auto drilled_at = std::find_if(std::make_reverse_iterator(drill_at), runs.rend(), [](const dcs::SiteOperation& r) {
    return r.kind == "backup" && r.result == "done";
  });
  ASSERT_NE(drilled_at, runs.rend());
  const dcs::SiteOperation& drilled = *drilled_at;
  for (std::size_t i = 1; i < runs.size(); ++i) {
    EXPECT_GE(runs[i].started_at, runs[i - 1].finished_at) << "two scheduled runs at once";
  }
  EXPECT_EQ(drill.result, "done") << log;
  ASSERT_TRUE(drill.backup && drilled.backup);
  EXPECT_EQ(drilled.kind, "backup");
  EXPECT_EQ(drill.backup->label, drilled.backup->label) << "the newest backup is drilled (restored through its chain)";
  EXPECT_EQ(incr.result, "done") << log;
  ASSERT_TRUE(incr.backup);
  EXPECT_EQ(incr.backup->type, "incr");
  EXPECT_EQ(incr.backup->label.back(), 'I') << incr.backup->label;
  EXPECT_EQ(incr.backup->site, "dc2");
  EXPECT_LE(incr.backup->copied_bytes, incr.backup->bytes);
  EXPECT_EQ(run.kind, "backup");
  EXPECT_EQ(run.result, "done") << log;
  ASSERT_TRUE(run.backup);
  EXPECT_EQ(run.backup->type, "full");
  EXPECT_EQ(run.backup->site, "dc2");
  EXPECT_EQ(run.backup->member, dc2_replica->name) << "the standby DC's replica, not its standby leader";
  EXPECT_EQ(run.backup->label.back(), 'F') << run.backup->label;
  EXPECT_GT(run.backup->bytes, 50 << 20) << "pgbench's 5 scale factors are in it";
  EXPECT_GT(run.backup->duration_ms, 0);
  auto dc1_journal = journalIn(*dcs_, "itest");
  ASSERT_TRUE(dc1_journal && !dc1_journal->history.empty()) << "DC1 has no record of it";
  EXPECT_EQ(dc1_journal->history.front(), run);
  for (const auto* r : {&run, &incr}) {
    std::cout << "[ measured ] scheduled " << r->backup->type << " backup " << r->backup->label << " of "
              << r->backup->member << ": " << r->backup->bytes << " bytes (" << r->backup->copied_bytes
              << " copied) in " << r->backup->duration_ms << " ms\n";
  }

  // The site journal was not used: a DC switchover was never blocked.
  auto site2 = dcs2_->get("/service/itestdr/site");
  if (site2.ok() && !site2->kvs.empty()) {
    EXPECT_EQ(dcs::parseSiteState(site2->kvs[0].value)->operation, std::nullopt);
  }

  // It is in the repository, from a replica, and verifies.
  auto info = asPostgres({DC_BACKUP_BIN, "info", "--config", config}, 60s);
  EXPECT_EQ(info.first, 0) << info.second;
  EXPECT_NE(info.second.find(run.backup->label), std::string::npos) << info.second;
  EXPECT_NE(info.second.find(incr.backup->label), std::string::npos) << info.second;
  auto verified = asPostgres({DC_BACKUP_BIN, "verify", "--config", config}, 300s);
  EXPECT_EQ(verified.first, 0) << verified.second;

  // dcctl shows both runs, as both DCs recorded them, and what is due next.
  auto shown = dcctl({"site", "--sites", sites, "backups"});
  EXPECT_EQ(shown.first, 0) << shown.second;
  std::cout << shown.second;
  for (const std::string& expected : {run.backup->label, incr.backup->label, std::string("incr \"* * * * *\": next ")}) {
    EXPECT_NE(shown.second.find(expected), std::string::npos) << expected << " not in:\n" << shown.second;
  }

  // DC1 took writes the whole time.
  EXPECT_EQ(load_result.first, 0) << load_result.second;
  EXPECT_TRUE(isPrimary(dc1_leader));
}

}  // namespace
}  // namespace pgtandem::testing
