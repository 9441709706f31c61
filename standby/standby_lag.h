#pragma once
// How far the standby DC is behind the primary DC, as the standby leader
// sees it. Pure, so it is tested without PostgreSQL.
//
//   bytes   - the upstream's last reported WAL end minus what we replayed
//             (unknown when not streaming: the upstream is out of reach);
//   seconds - 0 while streaming and caught up, otherwise the time since we
//             last were: it keeps growing while the primary DC is down;
//   source  - "stream", "archive" (replaying restore_command only) or "none";
//   contact_age - seconds since the standby leader last heard from the
//             primary DC (a WAL receiver message), on the agent's monotonic
//             clock: what a disaster promotion may lose is what the primary
//             DC acknowledged since then. Unknown until this agent has seen
//             the stream (an agent restarted while the primary DC is down
//             does not know).

#include <cstdint>
#include <optional>
#include <string>

#include "common/util/clock.h"

namespace pgtandem::standby {

struct ReplicaPosition {
  bool running = false;
  bool streaming = false;
  bool has_restore_command = false;
  std::optional<std::int64_t> upstream_lsn;
  std::optional<std::int64_t> replay_lsn;
  std::optional<double> upstream_silence_seconds;  // streaming: since the upstream's last message
};

struct StandbyLag {
  std::optional<std::int64_t> bytes;
  double seconds = 0;
  std::string source = "none";
  std::optional<double> contact_age;
};

class LagTracker {
 public:
  // Called once per HA cycle with the standby leader's position.
  StandbyLag observe(const ReplicaPosition& p, WallTime now, MonoTime mono);

 private:
  std::optional<WallTime> last_current_;  // the last time we were caught up
  std::optional<MonoTime> last_contact_;  // the last message from the primary DC
};

}  // namespace pgtandem::standby
