#include "common/util/clock.h"

#include <thread>

#include <cstdio>
#include <ctime>

namespace pgtandem {

void RealClock::sleepFor(std::chrono::milliseconds duration) const { std::this_thread::sleep_for(duration); }

RealClock& RealClock::instance() {
  static RealClock clock;
  return clock;
}

std::string formatIsoTime(WallTime time) {
  const auto since = time.time_since_epoch();
  const std::time_t seconds = std::chrono::duration_cast<std::chrono::seconds>(since).count();
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since).count() % 1000;
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char buffer[96];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(millis));
  return buffer;
}

std::optional<WallTime> parseIsoTime(const std::string& text) {
  int year, month, day, hour, minute;
  double second;
  char tail[16] = {0};
  const int n = std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%lf%15s", &year, &month, &day, &hour, &minute, &second, tail);
  if (n < 6) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = static_cast<int>(second);
  const std::time_t utc = ::timegm(&tm);
  if (utc == -1) return std::nullopt;
  long offset_seconds = 0;
  const std::string zone(tail);
  if (!zone.empty() && zone != "Z") {
    int oh = 0, om = 0;
    char sign = 0;
    if (std::sscanf(zone.c_str(), "%c%2d:%2d", &sign, &oh, &om) < 2 || (sign != '+' && sign != '-')) return std::nullopt;
    offset_seconds = (oh * 3600 + om * 60) * (sign == '+' ? 1 : -1);
  }
  return std::chrono::system_clock::from_time_t(utc - offset_seconds);
}

}  // namespace pgtandem
