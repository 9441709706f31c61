// dc-backup's WAL archive with real PostgreSQL 15 (run as postgres):
// archive_command pushes every segment to a local repository, and a standby
// with no connection to the primary, fed only by restore_command from that
// repository, replays the primary's rows. Another cluster cannot push into
// the stanza; verify names a damaged file and a gap; bad input gets a
// clear error and writes nothing.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "tests/backup/backup_pg_fixture.h"

namespace pgtandem::pg {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class WalArchiveIntegrationTest : public BackupPgTest {};

// An archive-fed standby replays a switched segment well within this (about
// 0.5 s here; PostgreSQL retries restore_command every 200 ms): a bound for
// a standby that stopped keeping up, not a speed claim.
constexpr double kArchiveReplayLagBound = 10.0;

TEST_F(WalArchiveIntegrationTest, AStandbyFedOnlyFromTheArchiveReplaysThePrimary) {
  PgPaths primary_paths;
  const int port = testing::freeLoopbackPort();
  startArchivingPrimary(primary_paths, port, archiveFlags());
  ASSERT_FALSE(HasFatalFailure());
  auto s = PgSession::connect(connect(port));
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->execute("CREATE TABLE t (v text); INSERT INTO t VALUES ('one')").ok());

  // A base backup (its own WAL included), then a standby on it with only
  // restore_command: no primary_conninfo at all.
  PgPaths standby_paths{"/usr/lib/postgresql/15/bin", dir_ + "/standby"};
  auto backup = runBasebackup(runner_, primary_paths, connect(port), standby_paths.data_dir, 120s);
  ASSERT_TRUE(backup.ok() && backup->exit_code == 0) << (backup.ok() ? backup->output : backup.error().toString());
  const int standby_port = testing::freeLoopbackPort();
  ASSERT_TRUE(writeServerSettings(standby_paths.data_dir, settingsFor(standby_port)).ok());
  RecoverySettings recovery;
  recovery.standby = true;
  // The standby names the repository through a configuration file, and
  // fetches ahead of replay (archive_async).
  const std::string config = dir_ + "/dc-backup.yml";
  std::ofstream(config) << "repo: " << repo_ << "\nstanza: main\narchive_async: true\nspool_path: " << dir_
                        << "/standby-spool\n";
  recovery.restore_command = std::string(DC_BACKUP_BIN) + " archive-get --config " + config + " %f %p";
  ASSERT_TRUE(writeRecoverySettings(standby_paths.data_dir, recovery).ok());
  standby_ = std::make_unique<Postmaster>(standby_paths, runner_);
  ASSERT_TRUE(standby_->start(60s).ok());
  EXPECT_TRUE(eventually([&] { return hasRow(standby_port, "one"); }, 60s));

  // Replay lag: from the commit (and the segment switch that archives it)
  // until the standby shows the row, printed, not asserted.
  double worst_lag = 0;
  for (const std::string row : {"two", "three", "four", "five"}) {
    // Two statements: in one transaction the commit record would follow the switch.
    ASSERT_TRUE((*s)->execute("INSERT INTO t VALUES ('" + row + "')").ok());
    const auto committed = std::chrono::steady_clock::now();
    ASSERT_TRUE((*s)->execute("SELECT pg_switch_wal()").ok());
    EXPECT_TRUE(eventually([&] { return hasRow(standby_port, row); }, 60s)) << row << " never reached the standby";
    worst_lag = std::max(worst_lag, std::chrono::duration<double>(std::chrono::steady_clock::now() - committed).count());
  }
  std::cout << "archive-fed standby: replay lag after a segment switch at most " << worst_lag
            << " s (restore_command retried every 200 ms)\n";
  EXPECT_LT(worst_lag, kArchiveReplayLagBound) << "the archive-fed standby fell behind";
  EXPECT_TRUE(fs::exists(dir_ + "/standby-spool/in")) << "archive-get never fetched ahead";
  auto archiver = (*s)->query("SELECT failed_count FROM pg_stat_archiver");
  ASSERT_TRUE(archiver.ok() && !archiver->empty());
  EXPECT_EQ((*archiver)[0][0], "0") << "archive-push failed at least once";

  // Pushing the same segment again (an archiver retry) is success.
  std::string segment;
  for (const auto& entry : fs::directory_iterator(primary_paths.data_dir + "/pg_wal/archive_status")) {
    const std::string name = entry.path().filename().string();
    if (name.size() == 29 && name.compare(24, 5, ".done") == 0) segment = name.substr(0, 24);
  }
  ASSERT_FALSE(segment.empty());
  auto again = dcBackup({"archive-push", "--repo", repo_, "--stanza", "main", primary_paths.data_dir + "/pg_wal/" + segment});
  EXPECT_EQ(again.first, 0) << again.second;

  // verify: clean; then one byte of an archived file changed and one
  // segment removed are both named.
  auto clean = dcBackup({"verify", "--repo", repo_, "--stanza", "main"});
  EXPECT_EQ(clean.first, 0) << clean.second;
  EXPECT_NE(clean.second.find("0 bad, 0 gaps"), std::string::npos) << clean.second;
  std::vector<fs::path> stored;
  for (const auto& entry : fs::directory_iterator(repo_ + "/main/wal/0000000100000000")) {
    if (entry.path().filename().string().size() == 24 + 1 + 64 + 4) stored.push_back(entry.path());
  }
  std::sort(stored.begin(), stored.end());
  ASSERT_GE(stored.size(), 4u);
  {
    std::fstream damaged(stored.back(), std::ios::in | std::ios::out | std::ios::binary);
    damaged.seekp(20);
    damaged.put('\x7f');
  }
  fs::remove(stored[1]);
  auto found = dcBackup({"verify", "--repo", repo_, "--stanza", "main"});
  EXPECT_EQ(found.first, 1) << found.second;
  EXPECT_NE(found.second.find("bad file: main/wal/0000000100000000/" + stored.back().filename().string()), std::string::npos)
      << found.second;
  EXPECT_NE(found.second.find("gap: timeline 1: " + stored[1].filename().string().substr(0, 24) + " missing"),
            std::string::npos)
      << found.second;

  // Another cluster's segment under the same stanza is refused.
  PgPaths other_paths;
  other_ = initdb("other", other_paths);
  std::string other_segment;
  for (const auto& entry : fs::directory_iterator(other_paths.data_dir + "/pg_wal")) {
    if (entry.path().filename().string().size() == 24) other_segment = entry.path().string();
  }
  ASSERT_FALSE(other_segment.empty());
  auto refused = dcBackup({"archive-push", "--repo", repo_, "--stanza", "main", other_segment});
  EXPECT_EQ(refused.first, 1);
  EXPECT_NE(refused.second.find("belongs to system"), std::string::npos) << refused.second;
}

TEST_F(WalArchiveIntegrationTest, BadInputGetsAClearErrorAndWritesNothing) {
  auto missing = dcBackup({"archive-push", "--repo", dir_ + "/nowhere", "--stanza", "main", "pg_wal/x"});
  EXPECT_EQ(missing.first, 1);
  EXPECT_NE(missing.second.find("is not a directory"), std::string::npos) << missing.second;
  auto relative = dcBackup({"archive-get", "--repo", "repo", "--stanza", "main", "000000010000000000000001", "x"});
  EXPECT_EQ(relative.first, 1);
  EXPECT_NE(relative.second.find("absolute path"), std::string::npos) << relative.second;
  auto no_stanza = dcBackup({"archive-get", "--repo", repo_, "--stanza", "main", "000000010000000000000001", "x"});
  EXPECT_EQ(no_stanza.first, 1) << "not archived: PostgreSQL reads 1 as 'not there'";
  auto usage = dcBackup({"archive-push"});
  EXPECT_EQ(usage.first, 2) << usage.second;
  auto no_repo = dcBackup({"archive-push", "--stanza", "main", "pg_wal/x"});
  EXPECT_EQ(no_repo.first, 2);
  EXPECT_NE(no_repo.second.find("no repository"), std::string::npos) << no_repo.second;
  const std::string broken = dir_ + "/broken.yml";
  std::ofstream(broken) << "stanza: main\nrepo: relative/repo\n";
  auto bad_config = dcBackup({"archive-push", "--config", broken, "pg_wal/x"});
  EXPECT_EQ(bad_config.first, 2);
  EXPECT_NE(bad_config.second.find(broken + ":2: repo: must be an absolute path"), std::string::npos) << bad_config.second;
  auto not_a_data_dir = dcBackup({"stanza-create", "--repo", repo_, "--stanza", "main", "--pg-data", dir_});
  EXPECT_EQ(not_a_data_dir.first, 1);
  EXPECT_NE(not_a_data_dir.second.find("pg_control"), std::string::npos) << not_a_data_dir.second;
  EXPECT_TRUE(fs::is_empty(repo_)) << "bad input wrote into the repository";
}

// archive_async: a worker pushes what PostgreSQL marked ready, ahead of the
// archiver, whose call only waits for its file's answer. With the repository
// unwritable the pushes fail (PostgreSQL keeps the WAL, pg_stat_archiver
// counts failures), the backlog passes its limit and the metric says so, and
// no file is ever reported archived and lost: once the repository is
// writable again every segment arrives, with no gap.
TEST_F(WalArchiveIntegrationTest, AsyncPushFailsWhileTheRepositoryFailsAndLosesNothing) {
  const std::string spool = dir_ + "/spool";
  const std::string config = dir_ + "/dc-backup.yml";
  std::ofstream(config) << "repo: " << repo_ << "\nstanza: main\nprocess_max: 2\narchive_async: true\nspool_path: " << spool
                        << "\narchive_push_queue_max: 48MB\n";
  PgPaths paths;
  const int port = testing::freeLoopbackPort();
  startArchivingPrimary(paths, port, "--config " + config);
  ASSERT_FALSE(HasFatalFailure());
  auto s = PgSession::connect(connect(port));
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->execute("CREATE TABLE t (v text)").ok());
  auto switchSegments = [&](int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE((*s)->execute("INSERT INTO t VALUES ('" + std::to_string(i) + "')").ok());
      ASSERT_TRUE((*s)->execute("SELECT pg_switch_wal()").ok());
    }
  };
  switchSegments(3);
  const std::string first_batch = scalar(port, "SELECT pg_walfile_name(pg_current_wal_lsn())");
  EXPECT_TRUE(eventually([&] { return scalar(port, "SELECT last_archived_wal FROM pg_stat_archiver") >= first_batch; }, 60s));
  auto metrics = [&] {
    std::ifstream prom(spool + "/archive.prom");
    return std::string((std::istreambuf_iterator<char>(prom)), {});
  };
  EXPECT_TRUE(eventually([&] { return metrics().find("\npgtandem_archive_queue_files 0") != std::string::npos; }, 30s))
      << "the worker left a backlog: " << metrics();
  EXPECT_FALSE(fs::exists(spool + "/queue")) << "no segment is copied into the spool";

  // The repository refuses writes: pushes fail and the backlog passes 48 MB (3 segments).
  auto repositoryWritable = [&](bool writable) {
    const auto perms = writable ? fs::perms::owner_all : fs::perms::owner_read | fs::perms::owner_exec;
    fs::permissions(repo_ + "/main", perms);
    for (const auto& e : fs::recursive_directory_iterator(repo_ + "/main")) {
      if (e.is_directory()) fs::permissions(e.path(), perms);
    }
  };
  repositoryWritable(false);
  const std::string failed_before = scalar(port, "SELECT failed_count FROM pg_stat_archiver");
  switchSegments(6);
  EXPECT_TRUE(eventually([&] { return scalar(port, "SELECT failed_count FROM pg_stat_archiver") != failed_before; }, 60s))
      << "archive-push never failed with the repository unwritable";
  EXPECT_TRUE(eventually([&] { return metrics().find("\npgtandem_archive_queue_full 1") != std::string::npos; }, 60s))
      << metrics();
  std::ifstream log(spool + "/worker.log");
  const std::string logged((std::istreambuf_iterator<char>(log)), {});
  EXPECT_NE(logged.find("nothing is dropped"), std::string::npos) << logged;
  std::size_t ready = 0;
  for (const auto& e : fs::directory_iterator(paths.data_dir + "/pg_wal/archive_status")) {
    ready += e.path().extension() == ".ready";
  }
  EXPECT_GE(ready, 1u) << "PostgreSQL should keep what could not be pushed";

  // Writable again: everything arrives; verify finds no gap.
  repositoryWritable(true);
  const std::string last = scalar(port, "SELECT pg_walfile_name(pg_current_wal_lsn())");
  ASSERT_TRUE((*s)->execute("SELECT pg_switch_wal()").ok());
  EXPECT_TRUE(eventually([&] { return scalar(port, "SELECT last_archived_wal FROM pg_stat_archiver") >= last; }, 120s));
  EXPECT_TRUE(eventually([&] { return metrics().find("\npgtandem_archive_queue_full 0") != std::string::npos; }, 60s))
      << metrics();
  auto verified = dcBackup({"verify", "--repo", repo_, "--stanza", "main"});
  EXPECT_EQ(verified.first, 0) << verified.second;
  EXPECT_NE(verified.second.find(" 0 gaps"), std::string::npos) << verified.second;
}

}  // namespace
}  // namespace pgtandem::pg
