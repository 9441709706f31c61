// Base backups, restore and verify on a data directory made by the test (no
// PostgreSQL: the server side is a double) and a repository in memory: what
// is copied and what is left out, the WAL range, the manifest and its copy,
// a restore that gives back the same files and the recovery settings, a
// damaged file named by verify and refused by restore, and the pieces
// (streaming codec, progress, targets).

#include "backup/base_backup.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "backup/backup_metrics.h"
#include "backup/backup_verify.h"
#include "backup/codec.h"
#include "backup/drill.h"
#include "backup/restore.h"
#include "backup/stanza.h"
#include "backup/wal_archive.h"
#include "tests/fakes/fake_backup_server.h"
#include "tests/fakes/fake_drill_server.h"
#include "tests/fakes/fake_repository.h"
#include "tests/support/ports.h"

namespace pgtandem::backup {
namespace {

namespace fs = std::filesystem;
using testing::FakeBackupServer;
using testing::MemoryRepository;

constexpr std::uint64_t kSystemId = 7300000000000000001ULL;

void put(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

void setMtime(const fs::path& path, std::int64_t seconds) {
  const timespec times[2] = {{seconds, 0}, {seconds, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

class BaseBackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::makeTempDir("basebackup");
    data_ = dir_ + "/data";
    std::string control(8192, '\0');
    std::memcpy(control.data(), &kSystemId, sizeof kSystemId);
    put(data_ + "/global/pg_control", control);
    put(data_ + "/PG_VERSION", "15\n");
    put(data_ + "/base/5/1259", std::string(3 << 20, 'r'));  // bigger than one piece
    put(data_ + "/base/5/16384", "a table");
    put(data_ + "/base/5/pg_internal.init", "rebuilt at start");
    put(data_ + "/base/pgsql_tmp/pgsql_tmp123.0", "a sort spilled");
    put(data_ + "/postgresql.auto.conf", "# ALTER SYSTEM\nwork_mem = '8MB'\n");
    put(data_ + "/postmaster.pid", "12345\n");
    put(data_ + "/standby.signal", "");
    put(data_ + "/pg_replslot/slot/state", "slot");
    put(data_ + "/pg_stat_tmp/global.stat", "stats");
    put(data_ + "/pg_wal/000000010000000000000003", std::string(1024, '3'));
    put(data_ + "/pg_wal/000000010000000000000004", std::string(1024, '4'));
    put(data_ + "/pg_wal/000000010000000000000005", std::string(1024, '5'));
    put(data_ + "/pg_wal/000000010000000000000006", std::string(1024, '6'));
    fs::create_directories(data_ + "/pg_wal/archive_status");
    ASSERT_TRUE(createStanza(repo_, "main", {std::to_string(kSystemId), 15, "2026-12-03T00:00:00Z"}).ok());
    server_.started = {0x4000028, true, 16 * 1024 * 1024};
    server_.stopped.lsn = 0x5000100;  // in segment 5
    server_.stopped.backup_label =
        "START WAL LOCATION: 0/4000028 (file 000000010000000000000004)\nCHECKPOINT LOCATION: 0/4000060\n"
        "BACKUP METHOD: streamed\nBACKUP FROM: standby\nSTART TIME: 2026-12-03 17:00:00 UTC\nLABEL: x\n"
        "START TIMELINE: 1\n";
    options_.data_dir = data_;
    options_.process_max = 3;
  }
  void TearDown() override {
    if (!HasFailure()) testing::removeTree(dir_);
  }

  Result<BackupManifest> backUp() { return takeBackup(repo_, "main", server_, options_, clock_, nullptr); }

  const ManifestEntry* entry(const BackupManifest& m, const std::string& path) {
    for (const auto& e : m.entries) {
      if (e.path == path) return &e;
    }
    return nullptr;
  }

  std::string dir_, data_;
  MemoryRepository repo_;
  FakeBackupServer server_;
  BackupOptions options_;
  SimulatedClock clock_;
};

TEST_F(BaseBackupTest, CopiesTheDataDirectoryWithoutWhatPostgresRebuildsAndTheWalFromStartToStop) {
  auto m = backUp();
  ASSERT_TRUE(m.ok()) << m.error().toString();
  EXPECT_TRUE(server_.fast);
  EXPECT_EQ(server_.stops, 1);
  EXPECT_TRUE(m->from_replica);
  EXPECT_EQ(m->timeline, 1u);
  EXPECT_EQ(m->start_wal, "000000010000000000000004");
  EXPECT_EQ(m->stop_wal, "000000010000000000000005");
  ASSERT_EQ(m->wal.size(), 2u);
  EXPECT_EQ(m->wal[0].checksum, sha256Hex(std::string(1024, '4')));
  for (const char* kept : {"global/pg_control", "PG_VERSION", "base/5/1259", "base/5/16384", "postgresql.auto.conf"}) {
    const ManifestEntry* e = entry(*m, kept);
    ASSERT_NE(e, nullptr) << kept;
    EXPECT_EQ(e->checksum, sha256Hex(slurp(data_ + "/" + kept))) << kept;
    EXPECT_TRUE(repo_.files.count(storedDataPath("main", m->label, kept))) << kept;
  }
  for (const char* left_out : {"base/5/pg_internal.init", "base/pgsql_tmp", "postmaster.pid", "standby.signal",
                               "pg_replslot/slot", "pg_stat_tmp/global.stat", "pg_wal/000000010000000000000004"}) {
    EXPECT_EQ(entry(*m, left_out), nullptr) << left_out;
  }
  for (const char* kept_empty : {"pg_wal", "pg_wal/archive_status", "pg_replslot", "pg_stat_tmp"}) {
    ASSERT_NE(entry(*m, kept_empty), nullptr) << kept_empty;
    EXPECT_EQ(entry(*m, kept_empty)->kind, EntryKind::kDirectory);
  }
  // The manifest is written last, twice, and reads back equal.
  auto read = readManifest(repo_, "main", m->label);
  ASSERT_TRUE(read.ok()) << read.error().toString();
  EXPECT_EQ(*read, *m);
  auto listing = listBackups(repo_, "main");
  ASSERT_TRUE(listing.ok());
  EXPECT_EQ(listing->finished, std::vector<std::string>{m->label});
}

TEST_F(BaseBackupTest, AnotherClustersDataDirectoryIsRefusedBeforeAnythingStarts) {
  std::string control(8192, '\0');
  const std::uint64_t other = 42;
  std::memcpy(control.data(), &other, sizeof other);
  put(data_ + "/global/pg_control", control);
  auto m = backUp();
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("belongs to system 42"), std::string::npos) << m.error().message;
  EXPECT_TRUE(server_.started_label.empty()) << "pg_backup_start was called";
}

TEST_F(BaseBackupTest, APrimaryIsBackedUpOnlyWhenAllowed) {
  server_.started.in_recovery = false;
  auto refused = backUp();
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("is a primary: backups are taken from a replica"), std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find("--allow-primary"), std::string::npos);
  EXPECT_TRUE(server_.started_label.empty()) << "pg_backup_start was called on a primary";
  auto listed = listBackups(repo_, "main");
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->finished.empty() && listed->unfinished.empty()) << "a refused backup wrote something";
  options_.allow_primary = true;
  auto allowed = backUp();
  ASSERT_TRUE(allowed.ok()) << allowed.error().toString();
  EXPECT_FALSE(allowed->from_replica);
}

TEST(IncrementalBackupRule, AFileIsReferredToOnlyWhenSizeAndMtimeMatchAndTheMtimePrecedesThePriorBackup) {
  ManifestEntry prior;
  prior.size = 100;
  prior.mtime = 1000;
  constexpr std::int64_t kPriorStart = 2000;
  EXPECT_TRUE(unchangedSincePrior(prior, 100, 1000, kPriorStart));
  EXPECT_FALSE(unchangedSincePrior(prior, 101, 1000, kPriorStart)) << "size changed";
  EXPECT_FALSE(unchangedSincePrior(prior, 100, 1001, kPriorStart)) << "mtime changed";
  prior.mtime = kPriorStart;  // written in the second the prior backup started: a later write may share it
  EXPECT_FALSE(unchangedSincePrior(prior, 100, kPriorStart, kPriorStart));
  prior.mtime = 1000;
  prior.kind = EntryKind::kDirectory;
  EXPECT_FALSE(unchangedSincePrior(prior, 100, 1000, kPriorStart));
}

// A full, then an incr: unchanged files are referred to, a changed one is
// copied, a touched one with the same bytes is referred to by its checksum;
// the incr restores to the same files; a chain whose full is gone is
// refused by restore and named by verify. A diff compares with the newest
// full, an incr with the newest backup.
TEST_F(BaseBackupTest, IncrAndDiffBackupsCopyOnlyWhatChangedAndRestoreTheWholeChain) {
  constexpr std::int64_t kLongAgo = 1'600'000'000;  // before the simulated clock's now
  for (const auto& e : fs::recursive_directory_iterator(data_)) {
    if (e.is_regular_file()) setMtime(e.path(), kLongAgo);
  }
  options_.type = BackupType::kIncr;
  auto first = backUp();
  ASSERT_TRUE(first.ok()) << first.error().toString();
  EXPECT_EQ(first->type, BackupType::kFull) << "an incr without a prior backup is a full";
  EXPECT_EQ(first->label.back(), 'F');

  clock_.advance(std::chrono::seconds(100));
  const std::int64_t later = 1'700'000'050;  // after the full started
  put(data_ + "/base/5/16384", "a table, changed");
  setMtime(data_ + "/base/5/16384", later);
  setMtime(data_ + "/PG_VERSION", later);  // touched, the same bytes
  put(data_ + "/base/5/16390", "a new table");
  auto incr = backUp();
  ASSERT_TRUE(incr.ok()) << incr.error().toString();
  EXPECT_EQ(incr->type, BackupType::kIncr);
  EXPECT_EQ(incr->prior, first->label);
  EXPECT_EQ(incr->label.back(), 'I');
  EXPECT_EQ(entry(*incr, "base/5/1259")->reference, first->label) << "unchanged: referred to";
  EXPECT_EQ(entry(*incr, "base/5/16384")->reference, "") << "changed: copied";
  EXPECT_EQ(entry(*incr, "base/5/16390")->reference, "") << "new: copied";
  EXPECT_EQ(entry(*incr, "PG_VERSION")->reference, first->label) << "touched, same bytes: referred to";
  EXPECT_FALSE(repo_.read(storedDataPath("main", incr->label, "base/5/1259")).ok()) << "an unchanged file was stored";
  EXPECT_FALSE(repo_.read(storedDataPath("main", incr->label, "PG_VERSION")).ok());
  EXPECT_LT(incr->copiedBytes(), 10u * 1024) << "the 3 MB unchanged file counted as copied";

  // A diff compares with the newest full, an incr after it with the diff.
  clock_.advance(std::chrono::seconds(100));
  options_.type = BackupType::kDiff;
  auto diff = backUp();
  ASSERT_TRUE(diff.ok()) << diff.error().toString();
  EXPECT_EQ(diff->prior, first->label);
  EXPECT_EQ(entry(*diff, "base/5/16384")->reference, "") << "changed since the full";
  clock_.advance(std::chrono::seconds(100));
  options_.type = BackupType::kIncr;
  auto incr2 = backUp();
  ASSERT_TRUE(incr2.ok()) << incr2.error().toString();
  EXPECT_EQ(incr2->prior, diff->label);
  EXPECT_EQ(entry(*incr2, "base/5/1259")->reference, first->label) << "a reference points at the bytes, not the prior";

  RestoreOptions options;
  options.to_dir = dir_ + "/restored";
  options.label = incr->label;
  auto restored = restoreBackup(repo_, "main", options, nullptr);
  ASSERT_TRUE(restored.ok()) << restored.error().toString();
  for (const char* same : {"global/pg_control", "PG_VERSION", "base/5/1259", "base/5/16384", "base/5/16390"}) {
    EXPECT_EQ(slurp(options.to_dir + "/" + same), slurp(data_ + "/" + same)) << same;
  }
  EXPECT_EQ(verifyBackup(repo_, "main", *incr2, 2).bad_files, std::vector<std::string>{});

  // The full's manifest gone: the chain is broken.
  repo_.files.erase(backupDirectory("main", first->label) + "/backup.manifest");
  repo_.files.erase(backupDirectory("main", first->label) + "/backup.manifest.copy");
  RestoreOptions again;
  again.to_dir = dir_ + "/restored-again";
  again.label = incr2->label;
  auto broken = restoreBackup(repo_, "main", again, nullptr);
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.error().message.find("refers to backup " + first->label), std::string::npos) << broken.error().message;
  EXPECT_FALSE(fs::exists(again.to_dir)) << "a broken chain wrote something";
  const auto report = verifyBackup(repo_, "main", *incr2, 2);
  ASSERT_FALSE(report.bad_files.empty());
  EXPECT_NE(report.bad_files[0].find("missing or unfinished"), std::string::npos) << report.bad_files[0];
}

// A drill restores the newest backup into a scratch directory, starts it
// with archiving off and a private socket, runs the check, stops it,
// removes the directory and records the result; a damaged backup fails
// at the restore (the file named) and never starts; so does a server that
// will not start, and both are recorded.
TEST_F(BaseBackupTest, ADrillRestoresStartsChecksAndRecordsAndADamagedBackupFailsIt) {
  auto m = backUp();
  ASSERT_TRUE(m.ok()) << m.error().toString();
  testing::FakeDrillServer server;
  DrillOptions options;
  options.scratch_dir = dir_ + "/drill";
  auto passed = runDrill(repo_, "main", server, options, clock_);
  ASSERT_TRUE(passed.ok()) << passed.error().message;
  EXPECT_TRUE(passed->passed) << passed->message;
  EXPECT_EQ(passed->label, m->label);
  EXPECT_EQ(passed->message, "check query answered 42");
  EXPECT_TRUE(server.had_control);
  EXPECT_NE(server.settings_at_start.find("archive_mode = off"), std::string::npos) << server.settings_at_start;
  EXPECT_NE(server.settings_at_start.find("recovery_target = 'immediate'"), std::string::npos) << server.settings_at_start;
  EXPECT_NE(server.settings_at_start.find("listen_addresses = ''"), std::string::npos);
  EXPECT_EQ(server.stops, 1);
  EXPECT_FALSE(fs::exists(options.scratch_dir)) << "the scratch directory was left behind";
  auto recorded = readDrillRecord(repo_, "main");
  ASSERT_TRUE(recorded.ok());
  EXPECT_TRUE(recorded->passed);

  // One byte of the newest backup changed.
  auto& stored = repo_.files[storedDataPath("main", m->label, "base/5/16384")];
  stored[stored.size() / 2] ^= 0x20;
  testing::FakeDrillServer never;
  auto damaged = runDrill(repo_, "main", never, options, clock_);
  ASSERT_TRUE(damaged.ok());
  EXPECT_FALSE(damaged->passed);
  EXPECT_NE(damaged->message.find("restore: "), std::string::npos) << damaged->message;
  EXPECT_EQ(never.starts, 0) << "a damaged restore was started";
  EXPECT_FALSE(readDrillRecord(repo_, "main")->passed);
  EXPECT_FALSE(fs::exists(options.scratch_dir));

  stored[stored.size() / 2] ^= 0x20;
  testing::FakeDrillServer refusing;
  refusing.fail_start = true;
  auto unstarted = runDrill(repo_, "main", refusing, options, clock_);
  ASSERT_TRUE(unstarted.ok());
  EXPECT_FALSE(unstarted->passed);
  EXPECT_NE(unstarted->message.find("start: the server would not start"), std::string::npos) << unstarted->message;
  EXPECT_EQ(refusing.stops, 1) << "a half-started server is stopped";
}

TEST_F(BaseBackupTest, TheMetricsSayWhenEachTypeLastSucceededTheLastFailureAndTheLastDrill) {
  auto none = backupMetrics(repo_, "main");
  ASSERT_TRUE(none.ok());
  EXPECT_NE(none->find("pgtandem_backup_finished_backups{stanza=\"main\"} 0.000"), std::string::npos) << *none;
  EXPECT_EQ(none->find("pgtandem_backup_drill_last_passed{"), std::string::npos) << "a drill series without a drill";
  auto m = backUp();
  ASSERT_TRUE(m.ok()) << m.error().toString();
  ASSERT_TRUE(recordBackupFailure(repo_, "main", BackupType::kIncr, "the disk is full", clock_).ok());
  testing::FakeDrillServer server;
  DrillOptions drill;
  drill.scratch_dir = dir_ + "/drill";
  ASSERT_TRUE(runDrill(repo_, "main", server, drill, clock_).ok());
  auto text = backupMetrics(repo_, "main");
  ASSERT_TRUE(text.ok()) << text.error().message;
  for (const std::string line : {"pgtandem_backup_finished_backups{stanza=\"main\"} 1.000",
                                 "pgtandem_backup_last_success_timestamp_seconds{stanza=\"main\",type=\"full\"} 1700000000.000",
                                 "pgtandem_backup_last_failure_timestamp_seconds{stanza=\"main\"} 1700000000.000",
                                 "pgtandem_backup_drill_last_passed{stanza=\"main\"} 1",
                                 "# TYPE pgtandem_backup_last_size_bytes gauge"}) {
    EXPECT_NE(text->find(line), std::string::npos) << line << "\n" << *text;
  }
  EXPECT_NE(text->find("pgtandem_backup_last_size_bytes{stanza=\"main\",type=\"full\"} " +
                       std::to_string(m->totalBytes()) + ".000"),
            std::string::npos)
      << *text;
}

TEST_F(BaseBackupTest, ABackupRightAfterAnotherWaitsForTheNextSecondsLabel) {
  auto first = backUp();
  ASSERT_TRUE(first.ok()) << first.error().toString();
  auto second = backUp();  // the simulated clock has not moved
  ASSERT_TRUE(second.ok()) << second.error().toString();
  EXPECT_NE(first->label, second->label);
}

TEST_F(BaseBackupTest, AFailedStopLeavesAnUnfinishedBackupThatRestoreNeverPicks) {
  server_.fail_stop = true;
  ASSERT_FALSE(backUp().ok());
  auto listing = listBackups(repo_, "main");
  ASSERT_TRUE(listing.ok());
  EXPECT_TRUE(listing->finished.empty());
  EXPECT_EQ(listing->unfinished.size(), 1u);
  RestoreOptions options;
  options.to_dir = dir_ + "/restored";
  auto restored = restoreBackup(repo_, "main", options, nullptr);
  ASSERT_FALSE(restored.ok());
  EXPECT_NE(restored.error().message.find("no finished backup"), std::string::npos) << restored.error().message;
}

TEST_F(BaseBackupTest, ARestoreGivesBackTheFilesTheLabelAndTheRecoverySettings) {
  auto m = backUp();
  ASSERT_TRUE(m.ok()) << m.error().toString();
  RestoreOptions options;
  options.to_dir = dir_ + "/restored";
  options.target = {TargetKind::kTime, "2026-12-03 17:05:00+00", TargetAction::kPause, ""};
  options.restore_command = "dc-backup archive-get --repo /r --stanza main %f %p";
  auto restored = restoreBackup(repo_, "main", options, nullptr);
  ASSERT_TRUE(restored.ok()) << restored.error().toString();
  const std::string to = options.to_dir;
  for (const char* same : {"global/pg_control", "PG_VERSION", "base/5/1259", "base/5/16384"}) {
    EXPECT_EQ(slurp(to + "/" + same), slurp(data_ + "/" + same)) << same;
  }
  EXPECT_EQ(slurp(to + "/pg_wal/000000010000000000000004"), std::string(1024, '4'));
  EXPECT_EQ(slurp(to + "/pg_wal/000000010000000000000005"), std::string(1024, '5'));
  EXPECT_FALSE(fs::exists(to + "/pg_wal/000000010000000000000006"));
  EXPECT_TRUE(fs::is_directory(to + "/pg_wal/archive_status"));
  EXPECT_TRUE(fs::is_directory(to + "/pg_replslot"));
  EXPECT_FALSE(fs::exists(to + "/postmaster.pid"));
  EXPECT_FALSE(fs::exists(to + "/standby.signal"));
  EXPECT_TRUE(fs::exists(to + "/recovery.signal"));
  EXPECT_EQ(slurp(to + "/backup_label"), server_.stopped.backup_label);
  const std::string conf = slurp(to + "/postgresql.auto.conf");
  EXPECT_EQ(conf.rfind("# ALTER SYSTEM\nwork_mem = '8MB'\n", 0), 0u) << conf;
  EXPECT_NE(conf.find("restore_command = 'dc-backup archive-get --repo /r --stanza main %f %p'"), std::string::npos);
  EXPECT_NE(conf.find("recovery_target_time = '2026-12-03 17:05:00+00'"), std::string::npos) << conf;
  EXPECT_NE(conf.find("recovery_target_action = 'pause'"), std::string::npos) << conf;
  EXPECT_NE(conf.find("recovery_target_timeline = '1'"), std::string::npos) << conf;
  EXPECT_EQ(fs::status(to).permissions() & fs::perms::all, fs::perms::owner_all);

  // Not over anything: the directory must be empty or new.
  auto again = restoreBackup(repo_, "main", options, nullptr);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("is not empty"), std::string::npos) << again.error().message;
}

TEST_F(BaseBackupTest, AsAReplicaOnlyTheFilesAreRestored) {
  ASSERT_TRUE(backUp().ok());
  RestoreOptions options;
  options.to_dir = dir_ + "/replica";
  options.as_replica = true;
  ASSERT_TRUE(restoreBackup(repo_, "main", options, nullptr).ok());
  EXPECT_FALSE(fs::exists(options.to_dir + "/recovery.signal"));
  EXPECT_EQ(slurp(options.to_dir + "/postgresql.auto.conf"), "# ALTER SYSTEM\nwork_mem = '8MB'\n");
  EXPECT_TRUE(fs::exists(options.to_dir + "/backup_label"));
}

TEST_F(BaseBackupTest, VerifyNamesAChangedFileAndAMissingWalFileAndRestoreRefusesTheDamage) {
  auto m = backUp();
  ASSERT_TRUE(m.ok());
  auto clean = verifyBackup(repo_, "main", *m, 2);
  EXPECT_TRUE(clean.clean()) << (clean.bad_files.empty() ? clean.gaps.front() : clean.bad_files.front());
  EXPECT_EQ(clean.files_checked, static_cast<int>(5 + 2));  // five files, two WAL files

  const std::string damaged = storedDataPath("main", m->label, "base/5/16384");
  repo_.files[damaged] = compress("a tablE");
  repo_.files.erase(storedWalPath("main", m->label, "000000010000000000000005"));
  auto found = verifyBackup(repo_, "main", *m, 2);
  ASSERT_EQ(found.bad_files.size(), 1u);
  EXPECT_EQ(found.bad_files[0].rfind(damaged + ": sha256 ", 0), 0u) << found.bad_files[0];
  ASSERT_EQ(found.gaps.size(), 1u);
  EXPECT_NE(found.gaps[0].find("WAL file 000000010000000000000005 missing"), std::string::npos) << found.gaps[0];

  // The archive has it: no gap any more.
  ASSERT_TRUE(pushWal(repo_, "main", "000000010000000000000005", std::string(1024, '5')).ok());
  EXPECT_TRUE(verifyBackup(repo_, "main", *m, 2).gaps.empty());

  RestoreOptions options;
  options.to_dir = dir_ + "/restored";
  auto restored = restoreBackup(repo_, "main", options, nullptr);
  ASSERT_FALSE(restored.ok());
  EXPECT_NE(restored.error().message.find(damaged + " does not match the manifest"), std::string::npos)
      << restored.error().message;
  EXPECT_FALSE(fs::exists(options.to_dir + "/global/pg_control")) << "a half restore must not be startable";
}

TEST(RecoveryTargetTest, BadTargetsAreNamed) {
  EXPECT_TRUE(checkRecoveryTarget({TargetKind::kTime, "2026-12-03 17:05:00+00", {}, ""}).ok());
  EXPECT_TRUE(checkRecoveryTarget({TargetKind::kTime, "2026-12-03T17:05:00.25Z", {}, ""}).ok());
  EXPECT_FALSE(checkRecoveryTarget({TargetKind::kTime, "yesterday", {}, ""}).ok());
  EXPECT_TRUE(checkRecoveryTarget({TargetKind::kLsn, "0/3000060", {}, ""}).ok());
  EXPECT_FALSE(checkRecoveryTarget({TargetKind::kLsn, "3000060", {}, ""}).ok());
  EXPECT_FALSE(checkRecoveryTarget({TargetKind::kXid, "12a", {}, ""}).ok());
  EXPECT_FALSE(checkRecoveryTarget({TargetKind::kName, "", {}, ""}).ok());
  EXPECT_TRUE(checkRecoveryTarget({TargetKind::kNone, "", {}, "latest"}).ok());
  EXPECT_FALSE(checkRecoveryTarget({TargetKind::kNone, "", {}, "newest"}).ok());
}

TEST(RecoveryTargetTest, SettingsQuoteValuesAndKeepToTheBackupsTimelineUnlessAsked) {
  BackupManifest m;
  m.label = "L";
  m.timeline = 3;
  RestoreOptions options;
  options.restore_command = "x";
  options.target = {TargetKind::kName, "it's", TargetAction::kShutdown, ""};
  const std::string text = recoverySettingsText(m, options);
  EXPECT_NE(text.find("recovery_target_name = 'it''s'"), std::string::npos) << text;
  EXPECT_NE(text.find("recovery_target_action = 'shutdown'"), std::string::npos) << text;
  EXPECT_NE(text.find("recovery_target_timeline = '3'"), std::string::npos) << text;
  options.target = {TargetKind::kNone, "", TargetAction::kPromote, "latest"};
  const std::string to_the_end = recoverySettingsText(m, options);
  EXPECT_EQ(to_the_end.find("recovery_target_action"), std::string::npos) << to_the_end;
  EXPECT_NE(to_the_end.find("recovery_target_timeline = 'latest'"), std::string::npos) << to_the_end;
}

TEST(RecoveryTargetTest, TheNewestBackupThatEndedBeforeTheTargetIsChosenToTheMillisecond) {
  MemoryRepository repo;
  for (const auto& [label, stop] : {std::pair{"20261203-170000F", "2026-12-03T17:00:10.100Z"},
                                    std::pair{"20261203-171400F", "2026-12-03T17:14:24.275Z"}}) {
    BackupManifest m;
    m.label = label;
    m.stop_time = stop;
    m.stop_lsn = 0x5000000;
    ASSERT_TRUE(writeManifest(repo, "main", m).ok());
  }
  RestoreOptions options;
  options.target = {TargetKind::kTime, "2026-12-03 17:14:24.9+00", {}, ""};
  auto chosen = chooseBackup(repo, "main", options);
  ASSERT_TRUE(chosen.ok()) << chosen.error().toString();
  EXPECT_EQ(chosen->label, "20261203-171400F");
  options.target.value = "2026-12-03 17:14:24.1+00";
  chosen = chooseBackup(repo, "main", options);
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(chosen->label, "20261203-170000F");
  options.target.value = "2026-12-03 16:00:00+00";
  EXPECT_FALSE(chooseBackup(repo, "main", options).ok());
  options.target = {TargetKind::kLsn, "0/4FFFFFF", {}, ""};
  EXPECT_FALSE(chooseBackup(repo, "main", options).ok());
  options.target.value = "0/5000000";
  EXPECT_EQ(chooseBackup(repo, "main", options)->label, "20261203-171400F");
}

TEST(ManifestTest, ADamagedManifestIsReadFromItsCopyAndBothDamagedIsNamed) {
  MemoryRepository repo;
  BackupManifest m;
  m.label = "20261203-170000F";
  m.start_lsn = 0x4000028;
  m.stop_lsn = 0x5000100;
  m.entries.push_back({"base/1/1", EntryKind::kFile, 0600, 7, 1, "abc", ""});
  m.entries.push_back({"pg_tblspc/16400", EntryKind::kLink, 0777, 0, 1, "", "/srv/ts"});
  m.wal.push_back({"000000010000000000000004", 16, "def"});
  ASSERT_TRUE(writeManifest(repo, "main", m).ok());
  const std::string path = backupDirectory("main", m.label) + "/backup.manifest";
  repo.files[path][20] ^= 1;
  auto read = readManifest(repo, "main", m.label);
  ASSERT_TRUE(read.ok()) << read.error().toString();
  EXPECT_EQ(*read, m);
  repo.files[path + ".copy"] = "{}";
  auto neither = readManifest(repo, "main", m.label);
  ASSERT_FALSE(neither.ok());
  EXPECT_NE(neither.error().message.find("unreadable"), std::string::npos) << neither.error().message;
  EXPECT_NE(neither.error().message.find(".copy: no checksum"), std::string::npos) << neither.error().message;
}

TEST(StreamingCodecTest, PiecesCompressAndDecompressToTheSameBytesAndACutFrameIsNoticed) {
  std::string original;
  for (int i = 0; i < 200000; ++i) original += std::to_string(i * 7919 % 1000);
  Compressor compressor;
  Sha256 sha;
  std::string frame;
  for (std::size_t at = 0; at < original.size(); at += 4096) {
    const std::string_view piece(original.data() + at, std::min<std::size_t>(4096, original.size() - at));
    sha.update(piece);
    frame += compressor.feed(piece);
  }
  frame += compressor.finish();
  EXPECT_EQ(sha.hex(), sha256Hex(original));
  EXPECT_LT(frame.size(), original.size() / 2);
  Decompressor decompressor;
  std::string back;
  for (std::size_t at = 0; at < frame.size(); at += 7) {
    auto piece = decompressor.feed(std::string_view(frame).substr(at, 7));
    ASSERT_TRUE(piece.ok()) << piece.error().toString();
    back += *piece;
  }
  EXPECT_TRUE(decompressor.done());
  EXPECT_EQ(back, original);
  Decompressor cut;
  ASSERT_TRUE(cut.feed(std::string_view(frame).substr(0, frame.size() / 2)).ok());
  EXPECT_FALSE(cut.done());
  Decompressor garbage;
  EXPECT_FALSE(garbage.feed("not zstd at all").ok());
}

TEST(ProgressTest, SaysBytesShareRateAndTimeLeft) {
  EXPECT_EQ(ProgressMeter::describe(512ULL << 20, 2048ULL << 20, 4.0), "512.0 MB of 2.0 GB (25%), 128.0 MB/s, 12 s left");
  EXPECT_EQ(ProgressMeter::describe(0, 0, 0), "0 B of 0 B");
  std::ostringstream lines;
  SimulatedClock clock;
  ProgressMeter meter(lines, false, clock, "backup", 100);
  meter.advance(10);
  EXPECT_TRUE(lines.str().empty()) << "a line every 5 s, not on every piece";
  clock.advance(std::chrono::seconds(5));
  meter.advance(40);
  EXPECT_EQ(lines.str(), "backup: 50 B of 100 B (50%), 10 B/s, 5 s left\n");
}

}  // namespace
}  // namespace pgtandem::backup
