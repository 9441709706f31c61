// The engine's scheduled backups and drills (OperationKind kBackup, kDrill)
// against two DCs of real HA agents on in-memory DCSs (tests/fakes/
// two_dc_world.h), with a fake BackupRunner: where a run goes, what its
// journal records in both DCs' backups keys, failures, a crash mid-backup,
// garbage in the journal, and that a backup never blocks a DC switchover.

#include <gtest/gtest.h>

#include "coordinator/site_operations.h"
#include "tests/fakes/fake_backup_runner.h"
#include "tests/fakes/two_dc_world.h"

namespace pgtandem::coordinator {
namespace {

using namespace std::chrono_literals;
using testing::FakeBackupRunner;
using testing::TwoDcWorld;

constexpr int kDc1 = 0, kDc2 = 1;

class ScheduledBackupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(w_.runUntil([&] { return w_.steady(kDc1); }, 120s)) << "the two DCs never became steady";
    w_.sites.backups.config = "/etc/pgtandem/dc-backup.yml";
    w_.sites.backups.full = *parseCron("0 * * * *");  // never run: due at the last top of the hour
  }

  Result<std::optional<std::string>> runScheduled(std::optional<ScheduledKind> kind = {}) {
    return w_.operations().runScheduled(runner_, kind);
  }
  std::optional<dcs::BackupJournal> journal(int dc) {
    const std::string text = w_.key(dc, "backups");
    if (text.empty()) return std::nullopt;
    auto parsed = dcs::parseBackupJournal(text);
    EXPECT_TRUE(parsed.ok()) << text;
    return parsed.ok() ? std::optional(*parsed) : std::nullopt;
  }
  std::string said() {
    std::string all;
    for (const auto& line : w_.progress) all += line + "\n";
    return all;
  }
  // The running replica of DC2 (not its standby leader).
  std::string dc2Replica() {
    for (auto& n : w_.nodes) {
      if (n->dc == kDc2 && n->name != w_.leader(kDc2)) return n->name;
    }
    return "";
  }

  TwoDcWorld w_;
  FakeBackupRunner runner_;
};

TEST_F(ScheduledBackupsTest, ADueFullBackupCopiesTheStandbyDcsReplicaAndIsRecordedInBothDcs) {
  ASSERT_TRUE(w_.runUntil([&] { return !dc2Replica().empty(); }, 60s));
  auto ran = runScheduled();
  ASSERT_TRUE(ran.ok()) << ran.error().message << "\n" << said();
  ASSERT_TRUE(*ran) << "the full backup was due";
  ASSERT_EQ(runner_.calls.size(), 1u);
  EXPECT_EQ(runner_.calls[0].kind, ScheduledKind::kFull);
  EXPECT_EQ(runner_.calls[0].site, "dc2");
  EXPECT_EQ(runner_.calls[0].member, dc2Replica()) << "the standby DC's replica, not its standby leader";
  for (int dc : {kDc1, kDc2}) {
    auto j = journal(dc);
    ASSERT_TRUE(j) << "dc" << dc + 1 << " has no backups journal";
    EXPECT_FALSE(j->operation);
    ASSERT_EQ(j->history.size(), 1u);
    const dcs::SiteOperation& run = j->history[0];
    EXPECT_EQ(run.kind, "backup");
    EXPECT_EQ(run.result, "done");
    ASSERT_TRUE(run.backup);
    EXPECT_EQ(run.backup->type, "full");
    EXPECT_EQ(run.backup->site, "dc2");
    EXPECT_EQ(run.backup->member, dc2Replica());
    EXPECT_EQ(run.backup->label, "20261204-010000F");
    EXPECT_EQ(run.backup->bytes, 2048);
    EXPECT_EQ(run.backup->copied_bytes, 1024);
    ASSERT_EQ(run.steps.size(), 1u);
    EXPECT_EQ(run.steps[0].name, "backup");
    EXPECT_EQ(run.steps[0].state, "done");
  }
  EXPECT_EQ(journal(kDc1)->history, journal(kDc2)->history);
  EXPECT_FALSE(w_.site(kDc1) && w_.site(kDc1)->operation) << "the site journal is not used";
  // Nothing is due again before the next top of the hour.
  auto again = runScheduled();
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_FALSE(*again) << **again;
  EXPECT_EQ(runner_.calls.size(), 1u);
}

TEST_F(ScheduledBackupsTest, WithTheStandbyDcDownNoBackupIsTakenUnlessThePrimaryDcIsAllowed) {
  w_.killDc(kDc2);
  auto refused = runScheduled();
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("allow_primary_dc is off"), std::string::npos) << refused.error().message;
  EXPECT_TRUE(runner_.calls.empty()) << "nothing was backed up";
  auto j = journal(kDc1);
  ASSERT_TRUE(j);
  ASSERT_EQ(j->history.size(), 1u) << "the failure is recorded in the DC that answers";
  EXPECT_EQ(j->history[0].result.rfind("failed: ", 0), 0u) << j->history[0].result;
  EXPECT_FALSE(*runScheduled()) << "a failed run is not retried before its next scheduled time";

  w_.sites.backups.allow_primary_dc = true;
  auto taken = runScheduled(ScheduledKind::kFull);
  ASSERT_TRUE(taken.ok()) << taken.error().message << "\n" << said();
  ASSERT_EQ(runner_.calls.size(), 1u);
  EXPECT_EQ(runner_.calls[0].site, "dc1");
  EXPECT_NE(runner_.calls[0].member, w_.leader(kDc1)) << "a primary is never backed up by schedule";
}

TEST_F(ScheduledBackupsTest, AFailedBackupIsRecordedWithItsReason) {
  runner_.answer = makeError(ErrorCode::kConflict, "the backup of dr2 in dc2 failed (exit 1): disk full");
  auto ran = runScheduled();
  ASSERT_FALSE(ran.ok());
  EXPECT_NE(ran.error().message.find("disk full"), std::string::npos) << ran.error().message;
  for (int dc : {kDc1, kDc2}) {
    auto j = journal(dc);
    ASSERT_TRUE(j && j->history.size() == 1u);
    EXPECT_NE(j->history[0].result.find("disk full"), std::string::npos) << j->history[0].result;
    ASSERT_FALSE(j->history[0].steps.empty());
    EXPECT_EQ(j->history[0].steps.back().state, "failed");
    EXPECT_FALSE(j->operation);
  }
}

TEST_F(ScheduledBackupsTest, ABackupCutOffByACoordinatorCrashRunsAgainWhenTheCoordinatorComesBack) {
  // What a coordinator killed during the backup leaves: the run open, its step started.
  dcs::SiteOperation open;
  open.kind = "backup";
  open.from_site = "dc1";
  open.to_site = "dc2";
  open.started_at = formatIsoTime(w_.clock.wallNow() - 10min);
  open.steps.push_back({"backup", "started", open.started_at, "dr2 in the standby DC dc2"});
  open.backup = dcs::BackupRecord{"incr", "dc2", "dr2", "", 0, 0, 0};
  dcs::BackupJournal left;
  left.operation = open;
  for (int dc : {kDc1, kDc2}) w_.putKey(dc, "backups", dcs::toJson(left));

  auto ran = runScheduled();
  ASSERT_TRUE(ran.ok()) << ran.error().message << "\n" << said();
  EXPECT_NE(said().find("resuming the backup started " + open.started_at), std::string::npos) << said();
  ASSERT_EQ(runner_.calls.size(), 1u) << "only the open run, not the full that is also due";
  EXPECT_EQ(runner_.calls[0].kind, ScheduledKind::kIncr) << "the kind the open run had";
  auto j = journal(kDc2);
  ASSERT_TRUE(j && j->history.size() == 1u);
  EXPECT_EQ(j->history[0].started_at, open.started_at);
  EXPECT_EQ(j->history[0].result, "done");
}

TEST_F(ScheduledBackupsTest, GarbageInTheBackupsJournalStopsTheScheduleAndIsNotOverwritten) {
  w_.putKey(kDc2, "backups", "{not json");
  auto ran = runScheduled();
  ASSERT_FALSE(ran.ok());
  EXPECT_NE(ran.error().message.find("holds garbage"), std::string::npos) << ran.error().message;
  EXPECT_TRUE(runner_.calls.empty());
  EXPECT_EQ(w_.key(kDc2, "backups"), "{not json");
}

TEST_F(ScheduledBackupsTest, ABackupInProgressDoesNotBlockADcSwitchover) {
  dcs::SiteOperation open;
  open.kind = "backup";
  open.started_at = formatIsoTime(w_.clock.wallNow());
  open.steps.push_back({"backup", "started", open.started_at, "dr2"});
  open.backup = dcs::BackupRecord{"full", "dc2", "dr2", "", 0, 0, 0};
  dcs::BackupJournal running;
  running.operation = open;
  for (int dc : {kDc1, kDc2}) w_.putKey(dc, "backups", dcs::toJson(running));
  OperationLimits limits;
  limits.token = limits.catch_up = limits.promote = 20s;
  limits.follow = 60s;
  auto moved = w_.operations(limits).switchover("dc2");
  ASSERT_TRUE(moved.ok()) << moved.error().message << "\n" << said();
  EXPECT_TRUE(journal(kDc1)->operation) << "the backup's journal is untouched";
}

TEST_F(ScheduledBackupsTest, ADueDrillRunsAndIsRecorded) {
  w_.sites.backups.full.reset();
  w_.sites.backups.drill = *parseCron("@hourly");
  auto ran = runScheduled();
  ASSERT_TRUE(ran.ok()) << ran.error().message;
  ASSERT_TRUE(*ran);
  ASSERT_EQ(runner_.calls.size(), 1u);
  EXPECT_EQ(runner_.calls[0].kind, ScheduledKind::kDrill);
  auto j = journal(kDc1);
  ASSERT_TRUE(j && j->history.size() == 1u);
  EXPECT_EQ(j->history[0].kind, "drill");
  ASSERT_TRUE(j->history[0].backup);
  EXPECT_EQ(j->history[0].backup->type, "drill");
  EXPECT_EQ(j->history[0].backup->label, "20261204-010000F");
  EXPECT_NE(**ran, "") << "a summary";
}

}  // namespace
}  // namespace pgtandem::coordinator
