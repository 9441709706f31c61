#pragma once
// Progress of a backup or restore: a bar redrawn in place on a terminal
// (bytes, rate, ETA), a line every few seconds otherwise. Workers call
// advance() from their threads; the clock is injected.

#include <cstdint>
#include <mutex>
#include <ostream>
#include <string>

#include "common/util/clock.h"
#include "common/util/units.h"

namespace pgtandem::backup {

class ProgressMeter {
 public:
  ProgressMeter(std::ostream& out, bool terminal, const Clock& clock, std::string what, std::uint64_t total_bytes);
  // Once the size of the whole is known.
  void setTotal(std::uint64_t total_bytes);
  void advance(std::uint64_t bytes);
  // The last report, always printed.
  void finish();

  // "1.2 GB of 2.0 GB (60%), 85.3 MB/s, 9 s left": pure, for tests.
  static std::string describe(std::uint64_t done, std::uint64_t total, double seconds);

 private:
  void print(bool last);

  std::ostream& out_;
  const bool terminal_;
  const Clock& clock_;
  const std::string what_;
  std::uint64_t total_;
  std::mutex mutex_;
  std::uint64_t done_ = 0;
  MonoTime started_, last_print_;
};

using pgtandem::formatBytes;

}  // namespace pgtandem::backup
