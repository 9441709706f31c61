// Scheduled backups: cron schedules (fields, names, steps, cron's day rule,
// bad input named), what is due (a full over an incr due together, a missed
// run once), where a backup runs (a row per rule), and the sites file's
// backups: section (errors name file, line and key).

#include <gtest/gtest.h>

#include "coordinator/backup_schedule.h"
#include "coordinator/sites.h"

namespace pgtandem::coordinator {
namespace {

using namespace std::chrono_literals;

// 2026-12-04 (a Friday) at hh:mm UTC.
WallTime at(int day, int hour, int minute) {
  std::tm tm{};
  tm.tm_year = 126;
  tm.tm_mon = 11;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  return std::chrono::system_clock::from_time_t(::timegm(&tm));
}

std::string when(std::optional<WallTime> t) {
  if (!t) return "never";
  const std::time_t s = std::chrono::system_clock::to_time_t(*t);
  std::tm tm{};
  ::gmtime_r(&s, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%a %d %H:%M", &tm);
  return text;
}

std::string next(const std::string& cron, WallTime after) {
  auto s = parseCron(cron);
  EXPECT_TRUE(s.ok()) << cron << ": " << (s.ok() ? "" : s.error().message);
  return s.ok() ? when(nextRun(*s, after)) : "";
}

TEST(CronTest, FieldsNamesStepsAndCronsDayRule) {
  const WallTime friday_1030 = at(4, 10, 30);
  EXPECT_EQ(next("0 1 * * *", friday_1030), "Sat 05 01:00");
  EXPECT_EQ(next("*/15 * * * *", friday_1030), "Fri 04 10:45");
  EXPECT_EQ(next("30 10 * * *", friday_1030), "Sat 05 10:30") << "strictly after";
  EXPECT_EQ(next("0 1 * * 0", friday_1030), "Sun 06 01:00");
  EXPECT_EQ(next("0 1 * * 7", friday_1030), "Sun 06 01:00") << "7 is Sunday";
  EXPECT_EQ(next("0 1 * * mon-fri", friday_1030), "Mon 07 01:00");
  EXPECT_EQ(next("0 1 * * 1-6", friday_1030), "Sat 05 01:00");
  EXPECT_EQ(next("0 0 1 jan *", friday_1030), "Fri 01 00:00");
  EXPECT_EQ(next("5/20 11 * * *", friday_1030), "Fri 04 11:05");
  EXPECT_EQ(next("0 12 10,20 * *", friday_1030), "Thu 10 12:00");
  EXPECT_EQ(next("0 12 10 * sun", friday_1030), "Sun 06 12:00") << "day of month or weekday, both restricted";
  EXPECT_EQ(next("@daily", friday_1030), "Sat 05 00:00");
  EXPECT_EQ(next("@hourly", friday_1030), "Fri 04 11:00");
  auto never = parseCron("0 0 31 2 *");
  ASSERT_TRUE(never.ok());
  EXPECT_FALSE(nextRun(*never, friday_1030)) << "31 February";
}

TEST(CronTest, BadSchedulesNameTheField) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"0 1 * *", "give five fields"},          {"60 1 * * *", "the minute '60'"},
      {"0 24 * * *", "the hour '24'"},          {"0 1 0 * *", "the day of month '0'"},
      {"0 1 * 13 *", "the month '13'"},         {"0 1 * * 8", "the day of week '8'"},
      {"*/0 * * * *", "the step '0'"},          {"0 1 * * funday", "not a number or a name"},
      {"0 5-1 * * *", "5-1 is outside"},        {"0,,5 * * * *", "an empty item"},
      {"daily", "give five fields"},
  };
  for (const auto& [cron, why] : bad) {
    auto s = parseCron(cron);
    ASSERT_FALSE(s.ok()) << cron;
    EXPECT_NE(s.error().message.find(why), std::string::npos) << cron << ": " << s.error().message;
  }
}

TEST(DueRunsTest, AFullWinsOverAnIncrDueTogetherAndAMissedRunRunsOnce) {
  BackupSchedules s;
  s.full = *parseCron("0 1 * * 0");
  s.incr = *parseCron("0 1 * * *");
  s.drill = *parseCron("0 4 * * 0");
  LastRuns last;
  last.full = at(29, 1, 0) - std::chrono::hours(24 * 30);
  last.incr = at(5, 1, 0);
  last.drill = at(5, 4, 0);
  EXPECT_TRUE(dueRuns(s, last, at(6, 0, 59)).empty());
  EXPECT_EQ(dueRuns(s, last, at(6, 1, 0)), std::vector<ScheduledKind>{ScheduledKind::kFull}) << "Sunday: full, not incr";
  last.full = at(6, 1, 0);
  last.incr = at(6, 1, 0);
  EXPECT_EQ(dueRuns(s, last, at(6, 4, 1)), std::vector<ScheduledKind>{ScheduledKind::kDrill});
  last.drill = at(6, 4, 1);
  // Down for three days: the incr runs once, now.
  EXPECT_EQ(dueRuns(s, last, at(9, 17, 0)), std::vector<ScheduledKind>{ScheduledKind::kIncr});
  LastRuns never;
  EXPECT_TRUE(dueRuns(s, never, at(4, 10, 30)).empty()) << "a new schedule does not fire for the past";
}

dcs::MemberInfo member(const std::string& name, const std::string& role, std::int64_t replayed,
                       const std::string& state = "running") {
  dcs::MemberInfo m;
  m.name = name;
  m.role = role;
  m.state = state;
  m.replay_lsn = replayed;
  return m;
}

struct Dcs {
  Site dc1, dc2;
  DcView primary, standby;
  Dcs() {
    dc1.name = "dc1";
    dc2.name = "dc2";
    primary.site = &dc1;
    standby.site = &dc2;
    primary.reachable = standby.reachable = true;
    primary.snapshot.leader = dcs::LeaderInfo{"pg1", 1, 1};
    primary.snapshot.members = {member("pg1", "primary", 0), member("pg2", "replica", 900)};
    standby.snapshot.leader = dcs::LeaderInfo{"dr1", 1, 1};
    standby.snapshot.members = {member("dr1", "standby_leader", 800), member("dr2", "replica", 700),
                                member("dr3", "replica", 750)};
  }
};

TEST(PlaceBackupTest, TheStandbyDcsMostCaughtUpReplicaThenItsLeaderThenOnlyIfAllowedThePrimaryDcsReplica) {
  struct Row {
    const char* name;
    std::function<void(Dcs&)> change;
    bool allow_primary_dc;
    const char* member;
    const char* rule;
  };
  const std::vector<Row> rows = {
      {"standby replica", [](Dcs&) {}, false, "dr3", "backup.place.standby_dc"},
      {"standby leader when no replica runs",
       [](Dcs& d) {
         d.standby.snapshot.members[1].state = "stopped";
         d.standby.snapshot.members[2].state = "starting";
       },
       false, "dr1", "backup.place.standby_dc"},
      {"standby DC unreachable, not allowed", [](Dcs& d) { d.standby.reachable = false; }, false, "",
       "backup.place.nowhere"},
      {"standby DC unreachable, allowed", [](Dcs& d) { d.standby.reachable = false; }, true, "pg2",
       "backup.place.primary_dc_replica"},
      {"standby DC empty, allowed", [](Dcs& d) { d.standby.snapshot.members.clear(); }, true, "pg2",
       "backup.place.primary_dc_replica"},
      {"never the primary",
       [](Dcs& d) {
         d.standby.reachable = false;
         d.primary.snapshot.members.pop_back();
       },
       true, "", "backup.place.no_replica"},
      {"a promoted standby leader is a primary",
       [](Dcs& d) {
         d.standby.snapshot.members = {member("dr1", "primary", 0)};
         d.standby.reachable = true;
       },
       false, "", "backup.place.nowhere"},
  };
  for (const auto& row : rows) {
    Dcs d;
    row.change(d);
    const Placement p = placeBackup(d.primary, d.standby, row.allow_primary_dc);
    EXPECT_EQ(p.member, row.member) << row.name << ": " << p.reason;
    EXPECT_EQ(p.rule, row.rule) << row.name;
    EXPECT_FALSE(p.reason.empty()) << row.name;
  }
}

const char* kSites = R"(sites:
  dc1: {etcd3: {hosts: 10.0.1.1:2379}, scope: pg}
  dc2: {etcd3: {hosts: 10.0.2.1:2379}, scope: pg}
)";

TEST(SitesBackupsTest, SchedulesAreReadAndBadOnesNameFileLineAndKey) {
  auto good = parseSites(std::string(kSites) + "backups:\n  config: /etc/pgtandem/dc-backup.yml\n  full: '0 1 * * 0'\n"
                                               "  incr: '0 1 * * 1-6'\n  drill: '@weekly'\n",
                         "sites.yml");
  ASSERT_TRUE(good.ok()) << good.error().message;
  EXPECT_TRUE(good->backups.full && good->backups.incr && good->backups.drill);
  EXPECT_FALSE(good->backups.diff);
  EXPECT_FALSE(good->backups.allow_primary_dc);
  auto bad = parseSites(std::string(kSites) + "backups:\n  config: /etc/b.yml\n  full: '0 25 * * 0'\n", "sites.yml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("sites.yml:6: backups.full: the hour '25'"), std::string::npos)
      << bad.error().message;
  auto never = parseSites(std::string(kSites) + "backups:\n  config: /etc/b.yml\n  drill: '0 0 30 2 *'\n", "sites.yml");
  ASSERT_FALSE(never.ok());
  EXPECT_NE(never.error().message.find("backups.drill: '0 0 30 2 *' never falls due"), std::string::npos)
      << never.error().message;
  auto no_config = parseSites(std::string(kSites) + "backups:\n  full: '@daily'\n", "sites.yml");
  ASSERT_FALSE(no_config.ok());
  EXPECT_NE(no_config.error().message.find("backups.config: is required"), std::string::npos) << no_config.error().message;
}

}  // namespace
}  // namespace pgtandem::coordinator
