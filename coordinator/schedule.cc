#include "coordinator/schedule.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>

namespace pgtandem::coordinator {

namespace {

const std::map<std::string, int> kMonthNames = {{"jan", 1}, {"feb", 2}, {"mar", 3}, {"apr", 4},  {"may", 5},  {"jun", 6},
                                                {"jul", 7}, {"aug", 8}, {"sep", 9}, {"oct", 10}, {"nov", 11}, {"dec", 12}};
const std::map<std::string, int> kDayNames = {{"sun", 0}, {"mon", 1}, {"tue", 2}, {"wed", 3},
                                              {"thu", 4}, {"fri", 5}, {"sat", 6}};

std::optional<int> valueOf(std::string text, const std::map<std::string, int>& names) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  if (const auto it = names.find(text); it != names.end()) return it->second;
  if (text.empty() || text.size() > 2 || !std::all_of(text.begin(), text.end(), ::isdigit)) return std::nullopt;
  return std::stoi(text);
}

// One field into `bits` (indexes low..high). Errors name the field.
Status parseField(const std::string& field, const char* what, int low, int high, const std::map<std::string, int>& names,
                  std::vector<bool>& bits) {
  bits.assign(static_cast<std::size_t>(high) + 1, false);
  auto bad = [&](const std::string& why) {
    return makeError(ErrorCode::kInvalidArgument, std::string(what) + " '" + field + "': " + why);
  };
  for (std::size_t start = 0; start <= field.size();) {
    const auto comma = std::min(field.find(',', start), field.size());
    const std::string item = field.substr(start, comma - start);
    start = comma + 1;
    if (item.empty()) return bad("an empty item");
    int step = 1;
    std::string range = item;
    if (const auto slash = item.find('/'); slash != std::string::npos) {
      const std::string s = item.substr(slash + 1);
      if (s.empty() || s.size() > 2 || !std::all_of(s.begin(), s.end(), ::isdigit) || std::stoi(s) == 0) {
        return bad("the step '" + s + "' is not a number from 1");
      }
      step = std::stoi(s);
      range = item.substr(0, slash);
    }
    int from = low, to = high;
    if (range != "*") {
      const auto dash = range.find('-');
      const auto a = valueOf(range.substr(0, dash), names);
      const auto b = dash == std::string::npos ? a : valueOf(range.substr(dash + 1), names);
      if (!a || !b) return bad("'" + range + "' is not a number or a name");
      from = *a;
      to = dash == std::string::npos && item.find('/') != std::string::npos ? high : *b;
      if (from < low || to > high || from > to) {
        return bad(std::to_string(from) + "-" + std::to_string(to) + " is outside " + std::to_string(low) + "-" +
                   std::to_string(high));
      }
    }
    for (int v = from; v <= to; v += step) bits[static_cast<std::size_t>(v)] = true;
    if (comma == field.size()) break;
  }
  return okStatus();
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

}  // namespace

Result<CronSchedule> parseCron(const std::string& given) {
  std::string text = given;
  const std::map<std::string, std::string> shorthands = {
      {"@hourly", "0 * * * *"}, {"@daily", "0 0 * * *"}, {"@midnight", "0 0 * * *"},
      {"@weekly", "0 0 * * 0"}, {"@monthly", "0 0 1 * *"}};
  if (const auto it = shorthands.find(lower(text)); it != shorthands.end()) text = it->second;
  std::vector<std::string> fields;
  for (std::size_t at = 0; at < text.size();) {
    while (at < text.size() && std::isspace(static_cast<unsigned char>(text[at]))) ++at;
    std::size_t end = at;
    while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end]))) ++end;
    if (end > at) fields.push_back(text.substr(at, end - at));
    at = end;
  }
  if (fields.size() != 5) {
    return makeError(ErrorCode::kInvalidArgument, "'" + given + "' is not a cron schedule: give five fields (minute hour "
                                                  "day-of-month month day-of-week) or @hourly, @daily, @weekly, @monthly");
  }
  CronSchedule s;
  s.text = given;
  std::vector<bool> bits;
  PGT_TRY(parseField(fields[0], "the minute", 0, 59, {}, bits));
  for (int i = 0; i < 60; ++i) s.minutes[i] = bits[i];
  PGT_TRY(parseField(fields[1], "the hour", 0, 23, {}, bits));
  for (int i = 0; i < 24; ++i) s.hours[i] = bits[i];
  PGT_TRY(parseField(fields[2], "the day of month", 1, 31, {}, bits));
  for (int i = 1; i <= 31; ++i) s.days_of_month[i] = bits[i];
  PGT_TRY(parseField(fields[3], "the month", 1, 12, kMonthNames, bits));
  for (int i = 1; i <= 12; ++i) s.months[i] = bits[i];
  PGT_TRY(parseField(fields[4], "the day of week", 0, 7, kDayNames, bits));
  for (int i = 0; i <= 6; ++i) s.weekdays[i] = bits[i];
  if (bits[7]) s.weekdays[0] = true;  // 7 is Sunday too
  s.any_day_of_month = fields[2] == "*";
  s.any_weekday = fields[4] == "*";
  return s;
}

std::optional<WallTime> nextRun(const CronSchedule& s, WallTime after) {
  using namespace std::chrono;
  auto t = time_point_cast<minutes>(after) + minutes(1);
  const auto limit = t + hours(24 * 366 * 5);
  while (t < limit) {
    const std::time_t seconds = system_clock::to_time_t(t);
    std::tm tm{};
    ::gmtime_r(&seconds, &tm);
    const bool month = s.months[static_cast<std::size_t>(tm.tm_mon + 1)];
    const bool dom = s.days_of_month[static_cast<std::size_t>(tm.tm_mday)];
    const bool dow = s.weekdays[static_cast<std::size_t>(tm.tm_wday)];
    const bool day = s.any_day_of_month && s.any_weekday ? true
                     : s.any_day_of_month                ? dow
                     : s.any_weekday                     ? dom
                                                         : (dom || dow);
    if (!month || !day) {  // the next day's midnight
      t = time_point_cast<minutes>(t - minutes(tm.tm_hour * 60 + tm.tm_min) + hours(24));
      continue;
    }
    if (!s.hours[static_cast<std::size_t>(tm.tm_hour)]) {
      t = t - minutes(tm.tm_min) + hours(1);
      continue;
    }
    if (!s.minutes[static_cast<std::size_t>(tm.tm_min)]) {
      t += minutes(1);
      continue;
    }
    return time_point_cast<WallTime::duration>(t);
  }
  return std::nullopt;
}

const char* scheduledKindName(ScheduledKind kind) {
  switch (kind) {
    case ScheduledKind::kFull: return "full";
    case ScheduledKind::kDiff: return "diff";
    case ScheduledKind::kIncr: return "incr";
    case ScheduledKind::kDrill: return "drill";
  }
  return "full";
}

std::vector<ScheduledKind> dueRuns(const BackupSchedules& schedules, const LastRuns& last, WallTime now) {
  auto due = [&](const std::optional<CronSchedule>& schedule, const std::optional<WallTime>& ran) {
    if (!schedule) return false;
    // Never run: due at the first scheduled time from an hour ago on (a new
    // schedule does not fire for all of the past).
    const WallTime since = ran.value_or(now - std::chrono::hours(1));
    const auto next = nextRun(*schedule, since);
    return next && *next <= now;
  };
  std::vector<ScheduledKind> runs;
  if (due(schedules.full, last.full)) {
    runs.push_back(ScheduledKind::kFull);
  } else if (due(schedules.diff, last.diff)) {
    runs.push_back(ScheduledKind::kDiff);
  } else if (due(schedules.incr, last.incr)) {
    runs.push_back(ScheduledKind::kIncr);
  }
  if (due(schedules.drill, last.drill)) runs.push_back(ScheduledKind::kDrill);
  return runs;
}

}  // namespace pgtandem::coordinator
