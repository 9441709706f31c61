#pragma once
// Scheduled backups and restore drills (the sites file's `backups:`): cron
// schedules and which run is due. Pure. Where a backup runs:
// coordinator/backup_schedule.h.
//
//   backups:
//     config: /etc/pgtandem/dc-backup.yml   # the repository (dc-backup's configuration)
//     full: "0 1 * * 0"                     # cron, UTC: minute hour day-of-month month day-of-week
//     diff: ""                              # "" or absent: never
//     incr: "0 1 * * 1-6"
//     drill: "0 4 * * 0"
//     allow_primary_dc: false               # the primary DC only when the standby DC cannot

#include <bitset>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/util/clock.h"
#include "common/util/result.h"

namespace pgtandem::coordinator {

// Five cron fields: "*", numbers, ranges "1-5", lists "1,3", steps "*/15"
// or "0-30/10", month and weekday names (jan, mon), 7 as Sunday; or
// @hourly, @daily, @weekly, @monthly. A day is due when its day of month or
// its weekday matches, when both are restricted (cron's rule).
struct CronSchedule {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days_of_month;  // 1..31
  std::bitset<13> months;         // 1..12
  std::bitset<7> weekdays;        // 0 = Sunday
  bool any_day_of_month = true, any_weekday = true;
  std::string text;
};
Result<CronSchedule> parseCron(const std::string& text);

// The first whole minute strictly after `after` that matches (UTC); nullopt
// when none does within five years (31 February).
std::optional<WallTime> nextRun(const CronSchedule& schedule, WallTime after);

enum class ScheduledKind { kFull, kDiff, kIncr, kDrill };
const char* scheduledKindName(ScheduledKind kind);

struct BackupSchedules {
  std::string config;  // the dc-backup configuration's path
  std::optional<CronSchedule> full, diff, incr, drill;
  bool allow_primary_dc = false;
  bool any() const { return full || diff || incr || drill; }
};

// When each kind last ran (started), if ever.
struct LastRuns {
  std::optional<WallTime> full, diff, incr, drill;
};

// What is due at `now`: the kinds whose last scheduled time since their
// last run has passed. When a full and an incr fall due together only the
// full runs (it makes the incr pointless); likewise full over diff and
// diff over incr. A run missed while the coordinator was down runs once,
// not once per missed time. Pure.
std::vector<ScheduledKind> dueRuns(const BackupSchedules& schedules, const LastRuns& last, WallTime now);

}  // namespace pgtandem::coordinator
