// Retention: which backups go (whole chains only, by count and by window,
// the newest full always kept), where the WAL archive is cut (the oldest
// kept backup's start, lowered by what an archive-fed standby DC has yet to
// replay), and expire on a repository: dry run, removal, fail closed when a
// standby DC's position cannot be read.

#include "backup/expire.h"

#include <gtest/gtest.h>

#include <sstream>

#include "backup/stanza.h"
#include "tests/fakes/fake_repository.h"
#include "tests/fakes/fake_standby_positions.h"

namespace pgtandem::backup {
namespace {

using namespace std::chrono_literals;

const WallTime kNow = WallTime(std::chrono::seconds(1'800'000'000));

BackupFacts backup(const std::string& label, BackupType type, const std::string& prior, std::chrono::hours age,
                   const std::string& start_wal) {
  BackupFacts b;
  b.label = label;
  b.type = type;
  b.prior = prior;
  b.stop = kNow - age;
  b.start_wal = start_wal;
  return b;
}

std::vector<std::string> labels(const ExpirePlan& plan) {
  std::vector<std::string> out;
  for (const auto& item : plan.backups) out.push_back(item.label);
  return out;
}

// F1 <- I1, F2 <- D2 <- I2, F3: one day apart, oldest first.
std::vector<BackupFacts> history() {
  return {backup("1F", BackupType::kFull, "", 120h, "000000010000000000000010"),
          backup("2I", BackupType::kIncr, "1F", 96h, "000000010000000000000020"),
          backup("3F", BackupType::kFull, "", 72h, "000000010000000000000030"),
          backup("4D", BackupType::kDiff, "3F", 48h, "000000010000000000000040"),
          backup("5I", BackupType::kIncr, "4D", 24h, "000000020000000000000050"),
          backup("6F", BackupType::kFull, "", 1h, "000000020000000000000060")};
}

TEST(ExpirePlanTest, ByCountWholeChainsGoAndTheWalIsCutAtTheOldestKeptStart) {
  RetentionPolicy policy;
  policy.full_count = 2;
  const ExpirePlan plan = planExpire(history(), policy, kNow, {});
  EXPECT_EQ(labels(plan), (std::vector<std::string>{"1F", "2I"}));
  EXPECT_EQ(plan.kept, (std::vector<std::string>{"3F", "4D", "5I", "6F"}));
  EXPECT_EQ(plan.wal_cutoff, "000000010000000000000030");
  EXPECT_NE(plan.backups[1].why.find("in the chain of 1F"), std::string::npos) << plan.backups[1].why;
  policy.full_count = 1;
  EXPECT_EQ(labels(planExpire(history(), policy, kNow, {})), (std::vector<std::string>{"1F", "2I", "3F", "4D", "5I"}));
}

TEST(ExpirePlanTest, ByWindowTheChainThatRestoresTheWindowsFirstMomentStays) {
  RetentionPolicy policy;
  policy.window = 60h;  // opened 60 h ago: 3F (72 h) is the newest that ended before it
  ExpirePlan plan = planExpire(history(), policy, kNow, {});
  EXPECT_EQ(labels(plan), (std::vector<std::string>{"1F", "2I"}));
  policy.window = 30h;  // 4D (48 h) ended before: its chain, 3F's, stays
  EXPECT_EQ(labels(planExpire(history(), policy, kNow, {})), (std::vector<std::string>{"1F", "2I"}));
  policy.window = 200h;  // nothing ended before the window opened: everything stays
  EXPECT_TRUE(planExpire(history(), policy, kNow, {}).backups.empty());
  policy.window = 30min;  // only 6F is in the window's reach... and it ended before it opened
  EXPECT_EQ(labels(planExpire(history(), policy, kNow, {})), (std::vector<std::string>{"1F", "2I", "3F", "4D", "5I"}));
}

TEST(ExpirePlanTest, BothRulesKeepWhatEitherKeepsAndNoRuleKeepsAll) {
  RetentionPolicy policy;
  policy.full_count = 1;
  policy.window = 80h;  // 2I (96 h) is the newest that ended before it opened: 1F's chain stays
  EXPECT_TRUE(planExpire(history(), policy, kNow, {}).backups.empty());
  const ExpirePlan none = planExpire(history(), RetentionPolicy{}, kNow, {});
  EXPECT_TRUE(none.backups.empty());
  EXPECT_EQ(none.wal_cutoff, "000000010000000000000010") << "WAL older than every backup is never needed";
}

TEST(ExpirePlanTest, AStandbyDcThatHasNotReplayedKeepsItsWal) {
  RetentionPolicy policy;
  policy.full_count = 1;
  const ExpirePlan plan = planExpire(history(), policy, kNow, {{"dc2", "000000010000000000000025"}});
  EXPECT_EQ(plan.wal_cutoff, "000000010000000000000025");
  EXPECT_NE(plan.wal_why.find("dc2 has yet to replay"), std::string::npos) << plan.wal_why;
  EXPECT_EQ(planExpire(history(), policy, kNow, {{"dc2", "000000020000000000000070"}}).wal_cutoff,
            "000000020000000000000060")
      << "a standby DC ahead of the oldest kept backup changes nothing";
}

TEST(ExpirePlanTest, ABrokenChainAndNoBackupAtAllExpireNothingTheyCannotAccountFor) {
  auto broken = history();
  broken.erase(broken.begin());  // 2I's prior 1F is gone
  RetentionPolicy policy;
  policy.full_count = 1;
  const ExpirePlan plan = planExpire(broken, policy, kNow, {});
  EXPECT_EQ(labels(plan), (std::vector<std::string>{"3F", "4D", "5I"}));
  EXPECT_EQ(plan.kept.front(), "2I") << "a broken chain is verify's to report";
  const ExpirePlan empty = planExpire({}, policy, kNow, {});
  EXPECT_TRUE(empty.wal_cutoff.empty()) << "without a backup no WAL goes";
}

class ExpireTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(createStanza(repo_, "main", {"7300000000000000001", 15, "2026-12-03T00:00:00Z"}).ok());
    clock_.advance(std::chrono::hours(24 * 365 * 3));
  }
  void addBackup(const std::string& label, BackupType type, const std::string& prior, const std::string& start_wal) {
    BackupManifest m;
    m.label = label;
    m.type = type;
    m.prior = prior;
    m.system_identifier = "7300000000000000001";
    m.pg_version = 15;
    m.timeline = 1;
    m.start_wal = m.stop_wal = start_wal;
    m.start_time = m.stop_time = "2026-12-04T10:00:00.000Z";
    ManifestEntry e;
    e.path = "base/5/1259";
    e.size = 1;
    e.checksum = "c";
    if (type != BackupType::kFull) e.reference = prior;
    m.entries.push_back(e);
    ASSERT_TRUE(writeManifest(repo_, "main", m).ok());
    if (type == BackupType::kFull) ASSERT_TRUE(repo_.write(storedDataPath("main", label, "base/5/1259"), "x").ok());
  }
  void addWal(const std::string& name) {
    ASSERT_TRUE(repo_.write("main/wal/" + name.substr(0, 16) + "/" + name + "-abc.zst", "w").ok());
  }
  std::size_t filesUnder(const std::string& prefix) {
    std::size_t n = 0;
    for (const auto& [path, bytes] : repo_.files) n += path.rfind(prefix, 0) == 0;
    return n;
  }
  testing::MemoryRepository repo_;
  testing::FakeStandbyPositions positions_;
  SimulatedClock clock_;
  std::ostringstream out_;
};

TEST_F(ExpireTest, ADryRunRemovesNothingThenExpireRemovesChainsAndOldWalButNotHistory) {
  addBackup("20261201-100000F", BackupType::kFull, "", "000000010000000000000002");
  addBackup("20261202-100000I", BackupType::kIncr, "20261201-100000F", "000000010000000000000004");
  addBackup("20261203-100000F", BackupType::kFull, "", "000000010000000000000006");
  for (int i = 1; i <= 8; ++i) addWal("00000001000000000000000" + std::to_string(i));
  ASSERT_TRUE(repo_.write("main/wal/00000002.history-abc.zst", "h").ok());
  ASSERT_TRUE(repo_.write("main/backup/20261130-100000F/pg_data/base/1.zst", "abandoned").ok());
  RetentionPolicy policy;
  policy.full_count = 1;
  const std::size_t before = repo_.files.size();
  auto dry = expire(repo_, "main", policy, {}, positions_, clock_, true, out_);
  ASSERT_TRUE(dry.ok()) << dry.error().message;
  EXPECT_EQ(repo_.files.size(), before) << "a dry run removed something";
  EXPECT_NE(out_.str().find("would expire backup 20261201-100000F"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("would expire unfinished backup 20261130-100000F"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("WAL: 5 archived files before 000000010000000000000006 would go"), std::string::npos)
      << out_.str();

  auto done = expire(repo_, "main", policy, {}, positions_, clock_, false, out_);
  ASSERT_TRUE(done.ok()) << done.error().message;
  EXPECT_EQ(filesUnder("main/backup/20261201-100000F"), 0u);
  EXPECT_EQ(filesUnder("main/backup/20261202-100000I"), 0u);
  EXPECT_EQ(filesUnder("main/backup/20261130-100000F"), 0u);
  EXPECT_GT(filesUnder("main/backup/20261203-100000F"), 0u);
  EXPECT_EQ(filesUnder("main/wal/0000000100000000/"), 3u) << "segments 6, 7 and 8 stay";
  EXPECT_EQ(filesUnder("main/wal/00000002.history"), 1u);
  auto listed = listBackups(repo_, "main");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->finished, std::vector<std::string>{"20261203-100000F"});
}

TEST_F(ExpireTest, AStandbyDcBehindKeepsItsWalAndOneThatCannotBeReadStopsEverything) {
  addBackup("20261201-100000F", BackupType::kFull, "", "000000010000000000000002");
  addBackup("20261203-100000F", BackupType::kFull, "", "000000010000000000000006");
  for (int i = 1; i <= 8; ++i) addWal("00000001000000000000000" + std::to_string(i));
  RetentionPolicy policy;
  policy.full_count = 1;
  const std::vector<StandbyDc> dc2 = {{"dc2", {{"127.0.0.1:1"}, "/service/", "main"}}};
  const std::size_t before = repo_.files.size();
  auto unread = expire(repo_, "main", policy, dc2, positions_, clock_, false, out_);
  ASSERT_FALSE(unread.ok());
  EXPECT_NE(unread.error().message.find("nothing expired"), std::string::npos) << unread.error().message;
  EXPECT_NE(unread.error().message.find("dc2"), std::string::npos);
  EXPECT_EQ(repo_.files.size(), before) << "fail closed: nothing may go";

  positions_.positions["dc2"] = 0x4000100;  // replaying segment 4
  auto done = expire(repo_, "main", policy, dc2, positions_, clock_, false, out_);
  ASSERT_TRUE(done.ok()) << done.error().message;
  EXPECT_EQ(filesUnder("main/wal/0000000100000000/"), 5u) << "segments 4 to 8 stay for dc2";
  EXPECT_EQ(filesUnder("main/backup/20261201-100000F"), 0u);
}

}  // namespace
}  // namespace pgtandem::backup
