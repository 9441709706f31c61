// PostgreSQL control pieces that need no server.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "common/pg/postgres.h"
#include "tests/fakes/recording_runner.h"
#include "tests/support/ports.h"

namespace pgtandem::pg {
namespace {

// postgresql.basebackup's options come after pgtandem's own, so they win
// (pg_basebackup takes the last of a repeated option).
TEST(BasebackupTest, TheUsersOptionsComeLast) {
  testing::RecordingRunner runner;
  const PgPaths paths{"/usr/lib/postgresql/15/bin", "/var/lib/pg"};
  ASSERT_TRUE(runBasebackup(runner, paths, "host=a", "/var/lib/pg", std::chrono::seconds(60),
                            {"--checkpoint=spread", "--max-rate=100M"})
                  .ok());
  ASSERT_EQ(runner.commands.size(), 1u);
  const auto& argv = runner.commands[0].argv;
  ASSERT_GE(argv.size(), 3u);
  EXPECT_EQ(argv[0], "/usr/lib/postgresql/15/bin/pg_basebackup");
  EXPECT_EQ(argv[argv.size() - 2], "--checkpoint=spread");
  EXPECT_EQ(argv.back(), "--max-rate=100M");
  EXPECT_NE(std::find(argv.begin(), argv.end(), "fast"), argv.end()) << "pgtandem's default is still there, first";
}

// pg_rewind 15's --progress output: the target is written only once it
// says how much it will copy.
TEST(RewindOutputTest, ChangesToTheTargetBeginWithTheCopy) {
  EXPECT_FALSE(rewindBeganChangingTarget(
      "pg_rewind: rewinding from last common checkpoint at 0/5000060 on timeline 1\n"
      "pg_rewind: reading source file list\n"
      "pg_rewind: error: could not fetch file list: server closed the connection unexpectedly\n"));
  EXPECT_FALSE(rewindBeganChangingTarget(
      "pg_rewind: servers diverged at WAL location 0/600A448 on timeline 1\n"
      "pg_rewind: error: could not read WAL record at 0/601E2F8: invalid magic number 0000\n"));
  EXPECT_TRUE(rewindBeganChangingTarget(
      "pg_rewind: reading WAL in target\n"
      "pg_rewind: need to copy 99 MB (total source directory size is 119 MB)\n"
      "  4803/102332 kB (4%) copied\n"
      "pg_rewind: error: unexpected result while fetching remote files: FATAL:  terminating connection\n"));
}

TEST(RewindOutputTest, TheWalFileARewoundDirectoryReplaysFrom) {
  EXPECT_EQ(backupLabelStartWalFile("START WAL LOCATION: 0/5000028 (file 000000010000000000000005)\n"
                                    "CHECKPOINT LOCATION: 0/5000060\nBACKUP METHOD: pg_rewind\n"),
            "000000010000000000000005");
  EXPECT_FALSE(backupLabelStartWalFile("CHECKPOINT LOCATION: 0/5000060\n"));
  EXPECT_FALSE(backupLabelStartWalFile("START WAL LOCATION: 0/5000028\nx (file 000000010000000000000005)"));
  EXPECT_FALSE(backupLabelStartWalFile("START WAL LOCATION: 0/5000028 (file 0000000100000000zz000005)\n"));
}

TEST(RewindOutputTest, WhetherTheRewoundDirectoryCanReachConsistency) {
  constexpr std::uint64_t k16Mb = 16 * 1024 * 1024;
  EXPECT_EQ(rewindForkPoint("pg_rewind: servers diverged at WAL location 0/600A448 on timeline 1\n"), Lsn{0x600A448});
  EXPECT_FALSE(rewindForkPoint("pg_rewind: no rewind required\n"));
  EXPECT_EQ(walSegmentNumber("000000010000000100000002", k16Mb), 258u);
  EXPECT_FALSE(walSegmentNumber("00000002.history", k16Mb));
  const std::vector<std::string> own = {"000000010000000000000005", "000000010000000000000006", "00000002.history"};
  // The source still has the fork's segment (on its new timeline): it feeds the rest.
  EXPECT_TRUE(rewoundWalReachable("000000010000000000000005", 0x600A448, "000000020000000000000006", own, k16Mb));
  EXPECT_TRUE(rewoundWalReachable("000000010000000000000005", 0x600A448, "000000010000000000000004", {}, k16Mb));
  // A source cloned after the fork starts at segment 8: segments 6 and 7 of
  // the new timeline exist nowhere (our own segment 6 is the diverged one).
  EXPECT_FALSE(rewoundWalReachable("000000010000000000000005", 0x600A448, "000000020000000000000008", own, k16Mb));
  // Before the fork, our own segments fill the gap; a missing one does not.
  EXPECT_TRUE(rewoundWalReachable("000000010000000000000004", 0x600A448, "000000020000000000000006",
                                  {"000000010000000000000004", "000000010000000000000005"}, k16Mb));
  EXPECT_FALSE(rewoundWalReachable("000000010000000000000004", 0x600A448, "000000020000000000000006",
                                   {"000000010000000000000005"}, k16Mb));
}

TEST(LsnTest, ParsesAndFormats) {
  EXPECT_EQ(*parseLsn("0/3000060"), 0x3000060);
  EXPECT_EQ(*parseLsn("16/B374D848"), 0x16B374D848);
  EXPECT_EQ(formatLsn(0x16B374D848), "16/B374D848");
  EXPECT_FALSE(parseLsn("").ok());
  EXPECT_FALSE(parseLsn("3000060").ok());
  EXPECT_FALSE(parseLsn("0/xyz").ok());
  EXPECT_FALSE(parseLsn("1FFFFFFFF/0").ok());
}

TEST(TimelineHistory, ForkPoint) {
  const std::string history = "1\t0/3000000\tno recovery target specified\n\n2\t0/5000A8\tno recovery target specified\n";
  EXPECT_EQ(timelineForkPoint(history, 1), Lsn{0x3000000});
  EXPECT_EQ(timelineForkPoint(history, 2), Lsn{0x5000A8});
  EXPECT_EQ(timelineForkPoint(history, 7), Lsn{0}) << "not in this history: diverged from its start";
  EXPECT_EQ(timelineForkPoint("garbage", 1), std::nullopt);
  EXPECT_EQ(historyFileName(2), "00000002.history");
  EXPECT_EQ(historyFileName(26), "0000001A.history");
}

TEST(TimelineHistory, EveryLineWithItsReason) {
  const auto lines = parseTimelineHistory("# comment\n1\t0/3000000\tno recovery target specified\n2\t0/5000A8\tbefore 2026-12-01 10:00\n");
  ASSERT_TRUE(lines);
  EXPECT_EQ(*lines, (std::vector<TimelineSwitch>{{1, 0x3000000, "no recovery target specified"}, {2, 0x5000A8, "before 2026-12-01 10:00"}}));
  EXPECT_EQ(parseTimelineHistory(""), std::vector<TimelineSwitch>{});
  EXPECT_EQ(parseTimelineHistory("1\tnot-an-lsn\n"), std::nullopt);
}

TEST(RecoveryTest, ReloadOrRestart) {
  RecoverySettings base;
  base.standby = true;
  base.primary_conninfo = "host=a";
  base.primary_slot_name = "slot";
  RecoverySettings other_host = base;
  other_host.primary_conninfo = "host=b";
  EXPECT_EQ(recoveryChange(base, base), ConfigChange::kNone);
  EXPECT_EQ(recoveryChange(base, other_host), ConfigChange::kReload);
  RecoverySettings promoted = base;
  promoted.standby = false;
  EXPECT_EQ(recoveryChange(base, promoted), ConfigChange::kRestart);
  RecoverySettings archive = base;
  archive.restore_command = "cp /archive/%f %p";
  EXPECT_EQ(recoveryChange(base, archive), ConfigChange::kReload);
  RecoverySettings delayed = archive;
  delayed.archive_cleanup_command = "pg_archivecleanup /archive %r";
  delayed.recovery_min_apply_delay = "5min";
  EXPECT_EQ(recoveryChange(archive, delayed), ConfigChange::kReload);
}

TEST(RecoveryTest, WrittenSettingsReadBackAndQuote) {
  const std::string dir = testing::makeTempDir("recovery");
  RecoverySettings settings{.standby = true,
                            .primary_conninfo = "host=127.0.0.1 password='it''s'",
                            .primary_slot_name = "n1",
                            .restore_command = "cp '/a b/%f' %p",
                            .archive_cleanup_command = "pg_archivecleanup '/a b' %r",
                            .recovery_min_apply_delay = "30s"};
  auto first = writeRecoverySettings(dir, settings);
  ASSERT_TRUE(first.ok()) << first.error().toString();
  EXPECT_EQ(*first, ConfigChange::kRestart);  // standby.signal appeared
  EXPECT_EQ(*readRecoverySettings(dir), settings);
  EXPECT_EQ(*writeRecoverySettings(dir, settings), ConfigChange::kNone);
  // No delay: the setting is left out ('' is not an interval PostgreSQL takes).
  settings.recovery_min_apply_delay.clear();
  EXPECT_EQ(*writeRecoverySettings(dir, settings), ConfigChange::kReload);
  std::ifstream written(dir + "/pgtandem.recovery.conf");
  const std::string text((std::istreambuf_iterator<char>(written)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.find("recovery_min_apply_delay"), std::string::npos) << text;
  testing::removeTree(dir);
}

TEST(ServerSettingsTest, KeepsTheOriginalAsBaseConf) {
  const std::string dir = testing::makeTempDir("conf");
  { std::ofstream(dir + "/postgresql.conf") << "shared_buffers = 128MB\n"; }
  ServerSettings settings;
  settings.port = 5544;
  settings.parameters = {{"wal_level", "replica"}};
  ASSERT_TRUE(writeServerSettings(dir, settings).ok());
  ASSERT_TRUE(writeServerSettings(dir, settings).ok());  // twice: the base is not overwritten
  std::ifstream base(dir + "/postgresql.base.conf");
  std::string line;
  std::getline(base, line);
  EXPECT_EQ(line, "shared_buffers = 128MB");
  std::ifstream conf(dir + "/postgresql.conf");
  std::stringstream text;
  text << conf.rdbuf();
  EXPECT_NE(text.str().find("include 'postgresql.base.conf'"), std::string::npos);
  EXPECT_NE(text.str().find("port = 5544"), std::string::npos);
  EXPECT_NE(text.str().find("wal_level = 'replica'"), std::string::npos);
  EXPECT_NE(text.str().find("include_if_exists 'pgtandem.recovery.conf'"), std::string::npos);
  testing::removeTree(dir);
}

TEST(ControlDataTest, ParsesPgControldataOutput) {
  const char* output =
      "pg_control version number:            1300\n"
      "Database system identifier:           7301234567890123456\n"
      "Database cluster state:               shut down\n"
      "Latest checkpoint location:           0/3000060\n"
      "Latest checkpoint's REDO location:    0/3000028\n"
      "Latest checkpoint's REDO WAL file:    000000020000000000000003\n"
      "Latest checkpoint's TimeLineID:       2\n"
      "Minimum recovery ending location:     0/0\n"
      "Min recovery ending loc's timeline:   0\n"
      "Data page checksum version:           1\n";
  auto data = parseControlData(output);
  ASSERT_TRUE(data.ok()) << data.error().toString();
  EXPECT_EQ(data->system_identifier, "7301234567890123456");
  EXPECT_EQ(data->cluster_state, "shut down");
  EXPECT_EQ(data->timeline, 2);
  EXPECT_EQ(data->checkpoint_lsn, 0x3000060);
  EXPECT_EQ(data->redo_lsn, 0x3000028);
  EXPECT_EQ(data->redo_wal_file, "000000020000000000000003");
  EXPECT_TRUE(data->data_checksums);
  EXPECT_FALSE(parseControlData("garbage").ok());
}

TEST(ConninfoTest, QuotesValues) {
  EXPECT_EQ(conninfo({{"host", "127.0.0.1"}, {"password", "a'b c"}}), "host='127.0.0.1' password='a\\'b c'");
}

TEST(RootTest, RootIsRefusedWithAClearMessage) {
  auto status = refuseRoot("dc-agent");
  if (::geteuid() == 0) {
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.error().message.find("runuser -u postgres"), std::string::npos);
  } else {
    EXPECT_TRUE(status.ok());
  }
}

}  // namespace
}  // namespace pgtandem::pg

namespace pgtandem::pg {
namespace {

TEST(VersionTest, NumbersTextAndTheInstalledBinariesVersion) {
  EXPECT_EQ(versionNumber("15.20"), 150020);
  EXPECT_EQ(versionNumber("15.18 (Debian 15.18-0+deb12u1)"), 150018);
  EXPECT_EQ(versionNumber("16"), 160000);
  EXPECT_FALSE(versionNumber("fifteen"));
  EXPECT_FALSE(versionNumber("0.1"));
  EXPECT_EQ(versionText(150020), "15.20");
  EXPECT_EQ(versionText(150018), "15.18");

  testing::RecordingRunner runner;
  runner.answer.exit_code = 0;
  runner.answer.output = "postgres (PostgreSQL) 15.20 (Debian 15.20-1.pgdg120+1)\n";
  auto installed = installedVersion(runner, "/usr/lib/postgresql/15/bin");
  ASSERT_TRUE(installed.ok()) << installed.error().message;
  EXPECT_EQ(*installed, 150020);
  ASSERT_EQ(runner.commands.size(), 1u);
  EXPECT_EQ(runner.commands[0].argv, (std::vector<std::string>{"/usr/lib/postgresql/15/bin/postgres", "--version"}));
  runner.answer.output = "bash: postgres: command not found\n";
  runner.answer.exit_code = 127;
  auto broken = installedVersion(runner, "/nowhere");
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.error().message.find("/nowhere/postgres --version said"), std::string::npos) << broken.error().message;
}

}  // namespace
}  // namespace pgtandem::pg
