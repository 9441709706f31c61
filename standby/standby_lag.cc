#include "standby/standby_lag.h"

#include <algorithm>

namespace pgtandem::standby {

StandbyLag LagTracker::observe(const ReplicaPosition& p, WallTime now, MonoTime mono) {
  StandbyLag lag;
  lag.source = !p.running ? "none" : p.streaming ? "stream" : p.has_restore_command ? "archive" : "none";
  if (p.streaming && p.upstream_lsn && p.replay_lsn) lag.bytes = std::max<std::int64_t>(0, *p.upstream_lsn - *p.replay_lsn);
  const bool current = p.streaming && lag.bytes && *lag.bytes == 0;
  if (current || !last_current_) last_current_ = now;  // the clock starts at the first observation
  lag.seconds = current ? 0 : std::chrono::duration<double>(now - *last_current_).count();
  if (p.streaming) {
    const auto silence = std::chrono::duration_cast<MonoTime::duration>(
        std::chrono::duration<double>(p.upstream_silence_seconds.value_or(0)));
    const MonoTime heard = mono - silence;
    if (!last_contact_ || heard > *last_contact_) last_contact_ = heard;
  }
  if (last_contact_) lag.contact_age = std::chrono::duration<double>(mono - *last_contact_).count();
  return lag;
}

}  // namespace pgtandem::standby
