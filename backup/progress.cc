#include "backup/progress.h"

#include <cstdio>

namespace pgtandem::backup {

std::string ProgressMeter::describe(std::uint64_t done, std::uint64_t total, double seconds) {
  std::string text = formatBytes(done) + " of " + formatBytes(total);
  if (total > 0) text += " (" + std::to_string(done >= total ? 100 : done * 100 / total) + "%)";
  if (seconds > 0.05) {
    const double rate = static_cast<double>(done) / seconds;
    text += ", " + formatBytes(static_cast<std::uint64_t>(rate)) + "/s";
    if (rate > 0 && total > done) text += ", " + std::to_string(static_cast<long>((total - done) / rate + 0.5)) + " s left";
  }
  return text;
}

ProgressMeter::ProgressMeter(std::ostream& out, bool terminal, const Clock& clock, std::string what,
                             std::uint64_t total_bytes)
    : out_(out), terminal_(terminal), clock_(clock), what_(std::move(what)), total_(total_bytes),
      started_(clock.monotonicNow()), last_print_(started_) {}

void ProgressMeter::setTotal(std::uint64_t total_bytes) {
  std::lock_guard lock(mutex_);
  total_ = total_bytes;
}

void ProgressMeter::advance(std::uint64_t bytes) {
  std::lock_guard lock(mutex_);
  done_ += bytes;
  const auto every = terminal_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(5000);
  if (clock_.monotonicNow() - last_print_ >= every) print(false);
}

void ProgressMeter::finish() {
  std::lock_guard lock(mutex_);
  print(true);
}

void ProgressMeter::print(bool last) {
  last_print_ = clock_.monotonicNow();
  const double seconds = std::chrono::duration<double>(last_print_ - started_).count();
  const std::string text = what_ + ": " + describe(done_, std::max(total_, done_), seconds);
  if (terminal_) {
    constexpr int kWidth = 30;
    const int filled = total_ == 0 ? kWidth : static_cast<int>(std::min<std::uint64_t>(done_, total_) * kWidth / total_);
    out_ << "\r[" << std::string(filled, '#') << std::string(kWidth - filled, ' ') << "] " << text << "\x1b[K";
    if (last) out_ << "\n";
  } else {
    out_ << text << "\n";
  }
  out_.flush();
}

}  // namespace pgtandem::backup
