// Base backups with real PostgreSQL 15 (run as postgres): a backup taken
// from a replica while pgbench writes on the primary, restored to a time
// between two marked transactions; the restored server has exactly the
// rows committed up to that time. verify then names a changed byte of a
// backup file and a WAL file missing from both the backup and the archive.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/backup/backup_pg_fixture.h"

namespace pgtandem::pg {
namespace {

namespace fs = std::filesystem;

class BaseBackupIntegrationTest : public BackupPgTest {
 protected:
  std::string bin(const std::string& name) { return "/usr/lib/postgresql/15/bin/" + name; }
  void pgbenchInit(int port, int scale) {
    Command init;
    init.argv = {bin("pgbench"), "-i", "-s", std::to_string(scale), "-q", "-h", dir_, "-p", std::to_string(port),
                 "-U", "postgres", "postgres"};
    init.timeout = 300s;
    auto initialized = runner_.run(init);
    ASSERT_TRUE(initialized.ok() && initialized->exit_code == 0) << (initialized.ok() ? initialized->output : "");
  }
  // A streaming replica of the primary on `port`, cloned by pg_basebackup:
  // the member backups are taken from. Returns its port.
  int startStreamingReplica(const PgPaths& primary_paths, int port) {
    PgPaths replica_paths{"/usr/lib/postgresql/15/bin", dir_ + "/replica"};
    auto cloned = runBasebackup(runner_, primary_paths, connect(port), replica_paths.data_dir, 300s);
    EXPECT_TRUE(cloned.ok() && cloned->exit_code == 0) << (cloned.ok() ? cloned->output : cloned.error().toString());
    const int replica_port = testing::freeLoopbackPort();
    EXPECT_TRUE(writeServerSettings(replica_paths.data_dir, settingsFor(replica_port)).ok());
    RecoverySettings follow;
    follow.standby = true;
    follow.primary_conninfo = connect(port);
    EXPECT_TRUE(writeRecoverySettings(replica_paths.data_dir, follow).ok());
    standby_ = std::make_unique<Postmaster>(replica_paths, runner_);
    EXPECT_TRUE(standby_->start(60s).ok());
    return replica_port;
  }
  // Restores with `extra` restore flags into <dir>/restored, starts it and
  // waits until it left recovery. Returns its port.
  int restoreAndStart(const std::vector<std::string>& extra) {
    const std::string restored_dir = dir_ + "/restored";
    std::vector<std::string> args = {"restore", "--repo", repo_, "--stanza", "main", "--to", restored_dir};
    args.insert(args.end(), extra.begin(), extra.end());
    auto restored = dcBackup(args);
    EXPECT_EQ(restored.first, 0) << restored.second;
    const int restored_port = testing::freeLoopbackPort();
    EXPECT_TRUE(writeServerSettings(restored_dir, settingsFor(restored_port)).ok());
    restored_ = std::make_unique<Postmaster>(PgPaths{"/usr/lib/postgresql/15/bin", restored_dir}, runner_);
    EXPECT_TRUE(restored_->start(120s).ok());
    EXPECT_TRUE(eventually([&] { return scalar(restored_port, "SELECT pg_is_in_recovery()::text") == "false"; }, 120s))
        << "the restored server never finished recovery (at its target, promoted)";
    return restored_port;
  }
};

TEST_F(BaseBackupIntegrationTest, BackedUpFromAReplicaUnderLoadAndRestoredToATimeBetweenTwoMarkedTransactions) {
  PgPaths primary_paths;
  const int port = testing::freeLoopbackPort();
  // track_commit_timestamp: to count the rows committed before the target.
  startArchivingPrimary(primary_paths, port, archiveFlags(), {{"track_commit_timestamp", "on"}});
  ASSERT_FALSE(HasFatalFailure());
  pgbenchInit(port, 4);
  ASSERT_FALSE(HasFatalFailure());
  const int replica_port = startStreamingReplica(primary_paths, port);
  ASSERT_FALSE(HasFailure());
  const std::string replica_data = dir_ + "/replica";

  // pgbench writes on the primary for the whole backup.
  CommandResult load_result;
  std::thread load([&] {
    Command bench;
    bench.argv = {bin("pgbench"), "-n", "-c", "2", "-T", "25", "-h", dir_, "-p", std::to_string(port), "-U", "postgres",
                  "postgres"};
    bench.timeout = 120s;
    auto ran = runner_.run(bench);
    if (ran.ok()) load_result = *ran;
  });
  std::this_thread::sleep_for(2s);
  auto backup = dcBackup({"backup", "--repo", repo_, "--stanza", "main", "--pg-data", replica_data,
                          "--pg-host", dir_, "--pg-port", std::to_string(replica_port), "--process-max", "2"});
  EXPECT_EQ(backup.first, 0) << backup.second;
  EXPECT_NE(backup.second.find("from a replica"), std::string::npos) << backup.second;
  EXPECT_NE(backup.second.find("backup: "), std::string::npos) << "no progress line: " << backup.second;

  // Marked rows on both sides of the target, while pgbench still writes.
  auto s = PgSession::connect(connect(port));
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->execute("CREATE TABLE marks (id int)").ok());
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE((*s)->execute("INSERT INTO marks VALUES (" + std::to_string(i) + ")").ok());
  std::this_thread::sleep_for(300ms);
  const std::string target = scalar(port, "SELECT clock_timestamp()::text");
  std::this_thread::sleep_for(300ms);
  for (int i = 11; i <= 20; ++i) ASSERT_TRUE((*s)->execute("INSERT INTO marks VALUES (" + std::to_string(i) + ")").ok());
  load.join();
  EXPECT_EQ(load_result.exit_code, 0) << load_result.output;
  const std::string history_before =
      scalar(port, "SELECT count(*) FROM pgbench_history WHERE pg_xact_commit_timestamp(xmin) <= '" + target + "'");
  const std::string history_all = scalar(port, "SELECT count(*) FROM pgbench_history");
  ASSERT_NE(history_before, "0");
  ASSERT_NE(history_before, history_all) << "the load should go on past the target";
  // Everything up to here archived.
  const std::string last_wal = scalar(port, "SELECT pg_walfile_name(pg_current_wal_lsn())");
  ASSERT_TRUE((*s)->execute("SELECT pg_switch_wal()").ok());
  EXPECT_TRUE(eventually([&] { return scalar(port, "SELECT last_archived_wal FROM pg_stat_archiver") >= last_wal; }, 60s));

  const int restored_port = restoreAndStart({"--target-time", target, "--target-action", "promote"});
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(scalar(restored_port, "SELECT string_agg(id::text, ',' ORDER BY id) FROM marks"), "1,2,3,4,5,6,7,8,9,10");
  EXPECT_EQ(scalar(restored_port, "SELECT count(*) FROM pgbench_history"), history_before)
      << "the restore must hold exactly the transactions committed up to " << target;
  EXPECT_EQ(scalar(restored_port, "SELECT count(*) FROM pgbench_accounts"), "400000");

  // verify: clean; then a changed byte in a backup file and a WAL file gone
  // from both the backup and the archive are named.
  auto clean = dcBackup({"verify", "--repo", repo_, "--stanza", "main"});
  EXPECT_EQ(clean.first, 0) << clean.second;
  std::string label;
  for (const auto& entry : fs::directory_iterator(repo_ + "/main/backup")) label = entry.path().filename().string();
  const std::string backup_dir = repo_ + "/main/backup/" + label;
  const std::string damaged = backup_dir + "/pg_data/base/5/1259.zst";
  ASSERT_TRUE(fs::exists(damaged));
  {
    std::fstream file(damaged, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(fs::file_size(damaged) / 2));
    file.put('\x5a');
  }
  std::string wal_copy;
  for (const auto& entry : fs::directory_iterator(backup_dir + "/pg_wal")) wal_copy = entry.path().filename().string();
  ASSERT_FALSE(wal_copy.empty());
  const std::string wal_name = wal_copy.substr(0, 24);
  fs::remove(backup_dir + "/pg_wal/" + wal_copy);
  for (const auto& entry : fs::directory_iterator(repo_ + "/main/wal/" + wal_name.substr(0, 16))) {
    if (entry.path().filename().string().rfind(wal_name, 0) == 0) fs::remove(entry.path());
  }
  auto found = dcBackup({"verify", "--repo", repo_, "--stanza", "main"});
  EXPECT_EQ(found.first, 1) << found.second;
  EXPECT_NE(found.second.find("bad file: main/backup/" + label + "/pg_data/base/5/1259.zst"), std::string::npos)
      << found.second;
  EXPECT_NE(found.second.find("gap: backup " + label + ": WAL file " + wal_name + " missing"), std::string::npos)
      << found.second;
}

// A full and two incr backups of a replica, each copying only what
// changed; restored to a time between the two incrs, the chain (full +
// first incr) gives exactly the rows committed up to that time. A restore
// drill of the newest passes, and fails once one of its files is damaged.
TEST_F(BaseBackupIntegrationTest, AChainOfAFullAndTwoIncrsRestoredToATimeInTheMiddle) {
  PgPaths primary_paths;
  const int port = testing::freeLoopbackPort();
  startArchivingPrimary(primary_paths, port, archiveFlags());
  ASSERT_FALSE(HasFatalFailure());
  pgbenchInit(port, 4);
  ASSERT_FALSE(HasFatalFailure());
  const int replica_port = startStreamingReplica(primary_paths, port);
  ASSERT_FALSE(HasFailure());
  auto s = PgSession::connect(connect(port));
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->execute("CREATE TABLE marks (id int)").ok());
  auto mark = [&](int from, int to) {
    for (int i = from; i <= to; ++i) ASSERT_TRUE((*s)->execute("INSERT INTO marks VALUES (" + std::to_string(i) + ")").ok());
    ASSERT_TRUE(eventually([&] { return scalar(replica_port, "SELECT count(*) FROM marks") == std::to_string(to); }, 60s));
  };
  auto backup = [&](const std::string& type) {
    return dcBackup({"backup", "--repo", repo_, "--stanza", "main", "--type", type, "--pg-data", dir_ + "/replica",
                     "--pg-host", dir_, "--pg-port", std::to_string(replica_port)});
  };
  mark(1, 5);
  auto full = backup("full");
  ASSERT_EQ(full.first, 0) << full.second;

  // A small table changes; pgbench_accounts (most of the 60 MB) does not.
  ASSERT_TRUE((*s)->execute("UPDATE pgbench_tellers SET tbalance = tbalance + 1").ok());
  const std::string accounts_file = scalar(port, "SELECT pg_relation_filepath('pgbench_accounts')");
  ASSERT_FALSE(accounts_file.empty());
  mark(6, 10);
  // Flushed on the replica (a restartpoint), so that the changed table's
  // file changes on disk; unflushed, WAL replay would bring the change.
  ASSERT_TRUE((*s)->execute("CHECKPOINT").ok());
  const std::string checkpoint_lsn = scalar(port, "SELECT pg_current_wal_lsn()::text");
  ASSERT_TRUE(eventually([&] {
    return scalar(replica_port, "SELECT pg_last_wal_replay_lsn() >= '" + checkpoint_lsn + "'::pg_lsn") == "t";
  }, 60s)) << "the replica never replayed the checkpoint";
  auto replica_session = PgSession::connect(connect(replica_port));
  ASSERT_TRUE(replica_session.ok());
  EXPECT_TRUE(eventually([&] { return (*replica_session)->execute("CHECKPOINT").ok(); }, 30s));
  auto incr1 = backup("incr");
  ASSERT_EQ(incr1.first, 0) << incr1.second;
  EXPECT_NE(incr1.second.find(": incr of "), std::string::npos) << incr1.second;
  const std::string target = scalar(port, "SELECT clock_timestamp()::text");
  std::this_thread::sleep_for(300ms);
  mark(11, 15);
  auto incr2 = backup("incr");
  ASSERT_EQ(incr2.first, 0) << incr2.second;

  // The incrs stored the table that changed, not the one that did not.
  auto info = dcBackup({"info", "--repo", repo_, "--stanza", "main"});
  ASSERT_EQ(info.first, 0) << info.second;
  EXPECT_EQ(std::count(info.second.begin(), info.second.end(), '\n'), 4) << info.second;
  const std::string tellers_file = scalar(port, "SELECT pg_relation_filepath('pgbench_tellers')");
  for (const auto& backup_dir : fs::directory_iterator(repo_ + "/main/backup")) {
    const bool is_full = backup_dir.path().filename().string().back() == 'F';
    EXPECT_EQ(fs::exists(backup_dir.path() / "pg_data" / (accounts_file + ".zst")), is_full) << backup_dir.path();
  }
  EXPECT_TRUE(std::any_of(fs::directory_iterator(repo_ + "/main/backup"), fs::directory_iterator(), [&](const auto& d) {
    return d.path().filename().string().back() == 'I' && fs::exists(d.path() / "pg_data" / (tellers_file + ".zst"));
  })) << "the changed table was not copied by an incr";
  auto verified = dcBackup({"verify", "--repo", repo_, "--stanza", "main"});
  EXPECT_EQ(verified.first, 0) << verified.second;

  const std::string last_wal = scalar(port, "SELECT pg_walfile_name(pg_current_wal_lsn())");
  ASSERT_TRUE((*s)->execute("SELECT pg_switch_wal()").ok());
  EXPECT_TRUE(eventually([&] { return scalar(port, "SELECT last_archived_wal FROM pg_stat_archiver") >= last_wal; }, 60s));
  const int restored_port = restoreAndStart({"--target-time", target});
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(scalar(restored_port, "SELECT string_agg(id::text, ',' ORDER BY id) FROM marks"), "1,2,3,4,5,6,7,8,9,10");
  EXPECT_EQ(scalar(restored_port, "SELECT sum(tbalance) FROM pgbench_tellers"), "40");
  EXPECT_EQ(scalar(restored_port, "SELECT count(*) FROM pgbench_accounts"), "400000");

  // A restore drill of the newest backup (the second incr, through its
  // chain) passes; with one of its files damaged it fails and says which.
  auto drill = dcBackup({"drill", "--repo", repo_, "--stanza", "main", "--scratch", dir_ + "/drill", "--query",
                         "SELECT count(*) FROM marks"});
  EXPECT_EQ(drill.first, 0) << drill.second;
  EXPECT_NE(drill.second.find("passed"), std::string::npos) << drill.second;
  EXPECT_NE(drill.second.find("check query answered 15"), std::string::npos) << drill.second;
  EXPECT_FALSE(fs::exists(dir_ + "/drill"));
  std::string newest;
  for (const auto& entry : fs::directory_iterator(repo_ + "/main/backup")) {
    newest = std::max(newest, entry.path().filename().string());
  }
  const std::string control = repo_ + "/main/backup/" + newest + "/pg_data/global/pg_control.zst";
  ASSERT_TRUE(fs::exists(control));
  {
    std::fstream file(control, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(fs::file_size(control) / 2));
    file.put('\x5a');
  }
  auto failed = dcBackup({"drill", "--repo", repo_, "--stanza", "main", "--scratch", dir_ + "/drill"});
  EXPECT_EQ(failed.first, 1) << failed.second;
  EXPECT_NE(failed.second.find("FAILED"), std::string::npos) << failed.second;
  EXPECT_NE(failed.second.find("global/pg_control"), std::string::npos) << failed.second;
  auto info_after = dcBackup({"info", "--repo", repo_, "--stanza", "main"});
  EXPECT_NE(info_after.second.find("last drill: FAILED, backup " + newest), std::string::npos) << info_after.second;

  // dcctl's backup verbs run the same code.
  Command list;
  list.argv = {DCCTL_BIN, "backup", "--repo", repo_, "--stanza", "main", "list", "-f", "json"};
  auto listed = runner_.run(list);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->exit_code, 0) << listed->output;
  EXPECT_EQ(std::count(listed->output.begin(), listed->output.end(), '{'), 3) << listed->output;
  EXPECT_NE(listed->output.find("\"Type\":\"incr\""), std::string::npos) << listed->output;
  Command info_cmd;
  info_cmd.argv = {DCCTL_BIN, "backup", "--repo", repo_, "--stanza", "main", "info"};
  auto dcctl_info = runner_.run(info_cmd);
  ASSERT_TRUE(dcctl_info.ok());
  EXPECT_NE(dcctl_info->output.find("last drill: FAILED"), std::string::npos) << dcctl_info->output;

  // The metrics say so, in a form promtool accepts.
  const std::string prom = dir_ + "/pgtandem_backup.prom";
  auto metrics = dcBackup({"metrics", "--repo", repo_, "--stanza", "main", "--output", prom});
  ASSERT_EQ(metrics.first, 0) << metrics.second;
  std::ifstream prom_file(prom);
  const std::string text((std::istreambuf_iterator<char>(prom_file)), {});
  EXPECT_NE(text.find("pgtandem_backup_drill_last_passed{stanza=\"main\"} 0"), std::string::npos) << text;
  EXPECT_NE(text.find("pgtandem_backup_last_copied_bytes{stanza=\"main\",type=\"incr\"}"), std::string::npos) << text;
  Command lint;
  lint.argv = {"/bin/sh", "-c", "promtool check metrics < " + prom};
  auto linted = runner_.run(lint);
  ASSERT_TRUE(linted.ok());
  EXPECT_EQ(linted->exit_code, 0) << linted->output;
}

// backup_method pg_basebackup: the replica streams its files over the
// replication protocol (no --pg-data: the backup could run on any host);
// the backup restores, and replays the archive past its end.
TEST_F(BaseBackupIntegrationTest, StreamedByPgBasebackupFromAReplicaAndRestoredToTheArchivesEnd) {
  PgPaths primary_paths;
  const int port = testing::freeLoopbackPort();
  startArchivingPrimary(primary_paths, port, archiveFlags());
  ASSERT_FALSE(HasFatalFailure());
  pgbenchInit(port, 2);
  ASSERT_FALSE(HasFatalFailure());
  auto s = PgSession::connect(connect(port));
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->execute("CREATE TABLE marks (id int)").ok());
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE((*s)->execute("INSERT INTO marks VALUES (" + std::to_string(i) + ")").ok());

  const int replica_port = startStreamingReplica(primary_paths, port);
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(eventually([&] { return scalar(replica_port, "SELECT count(*) FROM marks") == "10"; }, 60s));

  auto backup = dcBackup({"backup", "--repo", repo_, "--stanza", "main", "--method", "pg_basebackup", "--pg-host", dir_,
                          "--pg-port", std::to_string(replica_port), "--process-max", "2"});
  ASSERT_EQ(backup.first, 0) << backup.second;
  EXPECT_NE(backup.second.find("from a replica"), std::string::npos) << backup.second;
  auto verified = dcBackup({"verify", "--repo", repo_, "--stanza", "main"});
  EXPECT_EQ(verified.first, 0) << verified.second;

  // Written after the backup: an incr over the stream stores only the
  // files that changed (pgbench_accounts did not), and the restore of it
  // replays the rest from the archive.
  for (int i = 11; i <= 20; ++i) ASSERT_TRUE((*s)->execute("INSERT INTO marks VALUES (" + std::to_string(i) + ")").ok());
  ASSERT_TRUE((*s)->execute("CHECKPOINT").ok());
  auto incr = dcBackup({"backup", "--repo", repo_, "--stanza", "main", "--method", "pg_basebackup", "--type", "incr",
                        "--pg-host", dir_, "--pg-port", std::to_string(replica_port), "--json"});
  ASSERT_EQ(incr.first, 0) << incr.second;
  EXPECT_NE(incr.second.find(": incr of "), std::string::npos) << incr.second;
  auto number = [&](const std::string& key) {
    const auto at = incr.second.find("\"" + key + "\":");
    return at == std::string::npos ? -1LL : std::stoll(incr.second.substr(at + key.size() + 3));
  };
  EXPECT_GT(number("bytes"), 0) << incr.second;
  EXPECT_LT(number("copied_bytes") * 3, number("bytes")) << "pgbench_accounts was stored again: " << incr.second;
  auto incr_verified = dcBackup({"verify", "--repo", repo_, "--stanza", "main"});
  EXPECT_EQ(incr_verified.first, 0) << incr_verified.second;
  for (int i = 21; i <= 25; ++i) ASSERT_TRUE((*s)->execute("INSERT INTO marks VALUES (" + std::to_string(i) + ")").ok());
  const std::string last_wal = scalar(port, "SELECT pg_walfile_name(pg_current_wal_lsn())");
  ASSERT_TRUE((*s)->execute("SELECT pg_switch_wal()").ok());
  EXPECT_TRUE(eventually([&] { return scalar(port, "SELECT last_archived_wal FROM pg_stat_archiver") >= last_wal; }, 60s));

  const int restored_port = restoreAndStart({});
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(scalar(restored_port, "SELECT count(*) FROM marks"), "25");
  EXPECT_EQ(scalar(restored_port, "SELECT count(*) FROM pgbench_accounts"), "200000");

  // Bad input: an unknown method, a server that is not there, the primary
  // when not allowed; nothing written.
  auto bad_method = dcBackup({"backup", "--repo", repo_, "--stanza", "main", "--method", "rsync"});
  EXPECT_EQ(bad_method.first, 2);
  EXPECT_NE(bad_method.second.find("--method 'rsync' is not copy or pg_basebackup"), std::string::npos) << bad_method.second;
  std::size_t backups = 0;
  for (const auto& entry : fs::directory_iterator(repo_ + "/main/backup")) backups += entry.is_directory();
  auto unreachable = dcBackup({"backup", "--repo", repo_, "--stanza", "main", "--method", "pg_basebackup", "--pg-host",
                               dir_, "--pg-port", "1"});
  EXPECT_EQ(unreachable.first, 1);
  EXPECT_NE(unreachable.second.find("cannot connect to PostgreSQL"), std::string::npos) << unreachable.second;
  // The primary, by either method, unless allowed.
  for (const std::vector<std::string>& method : {std::vector<std::string>{"--method", "pg_basebackup"},
                                                 std::vector<std::string>{"--pg-data", primary_paths.data_dir}}) {
    std::vector<std::string> args = {"backup", "--repo", repo_, "--stanza", "main", "--pg-host", dir_, "--pg-port",
                                     std::to_string(port)};
    args.insert(args.end(), method.begin(), method.end());
    auto primary = dcBackup(args);
    EXPECT_EQ(primary.first, 1) << primary.second;
    EXPECT_NE(primary.second.find("is a primary: backups are taken from a replica"), std::string::npos) << primary.second;
  }
  std::size_t after = 0;
  for (const auto& entry : fs::directory_iterator(repo_ + "/main/backup")) after += entry.is_directory();
  EXPECT_EQ(after, backups) << "a backup that never started wrote something";
}

TEST_F(BaseBackupIntegrationTest, BadInputGetsAClearErrorAndTouchesNothing) {
  PgPaths paths;
  primary_ = initdb("primary", paths);
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(dcBackup({"stanza-create", "--repo", repo_, "--stanza", "main", "--pg-data", paths.data_dir}).first, 0);
  auto unreachable = dcBackup({"backup", "--repo", repo_, "--stanza", "main", "--pg-data", paths.data_dir, "--pg-host",
                               dir_, "--pg-port", "1"});
  EXPECT_EQ(unreachable.first, 1);
  EXPECT_NE(unreachable.second.find("cannot connect to PostgreSQL"), std::string::npos) << unreachable.second;
  EXPECT_FALSE(fs::exists(repo_ + "/main/backup")) << "a backup that never started wrote something";
  auto no_backup = dcBackup({"restore", "--repo", repo_, "--stanza", "main", "--to", dir_ + "/restored"});
  EXPECT_EQ(no_backup.first, 1);
  EXPECT_NE(no_backup.second.find("no finished backup"), std::string::npos) << no_backup.second;
  auto two_targets = dcBackup({"restore", "--repo", repo_, "--stanza", "main", "--to", dir_ + "/restored",
                               "--target-lsn", "0/3000000", "--target-xid", "700"});
  EXPECT_EQ(two_targets.first, 2);
  EXPECT_NE(two_targets.second.find("at most one"), std::string::npos) << two_targets.second;
  auto bad_time = dcBackup({"restore", "--repo", repo_, "--stanza", "main", "--to", dir_ + "/restored", "--target-time",
                            "soon"});
  EXPECT_EQ(bad_time.first, 2);
  EXPECT_NE(bad_time.second.find("--target-time 'soon'"), std::string::npos) << bad_time.second;
  auto bad_action = dcBackup({"restore", "--repo", repo_, "--stanza", "main", "--to", dir_ + "/restored",
                              "--target-action", "explode"});
  EXPECT_EQ(bad_action.first, 2);
  auto over_data = dcBackup({"restore", "--repo", repo_, "--stanza", "main", "--to", paths.data_dir});
  EXPECT_EQ(over_data.first, 1);
  EXPECT_TRUE(fs::exists(paths.data_dir + "/PG_VERSION")) << "restore touched a data directory";
  EXPECT_FALSE(fs::exists(dir_ + "/restored"));
}

}  // namespace
}  // namespace pgtandem::pg
