#pragma once
// Site operations as named, journaled, idempotent steps. The journal lives in
// both DCs' site keys (common/dcs/site_state.h), so a coordinator that dies
// mid-way is replaced by running the same command again: it reads the
// journal and goes on from the first step not done.
//
// Planned DC switchover, from the primary DC `from` to the standby DC `to`:
//   precheck   both DCs readable, `to` streams with lag under the limit, no
//              long transaction, the archive keeps up, nobody paused
//   checkpoint CHECKPOINT on `from`'s primary (a short shutdown checkpoint)
//   fence      `from`'s site key says fenced (epoch + 1); every member's
//              /primary answers 503; the primary stops cleanly (agents)
//   token      `from`'s leader publishes where it stopped: system ID,
//              timeline, REDO LSN and WAL file (archived)
//   catch_up   `to`'s standby leader, after a restartpoint, has replayed
//              exactly to the token: wait while behind, abort if past
//   promote    `to`'s site key says primary; standby_cluster leaves its
//              /config; its leader is a writable primary
//   follow     `from` gets standby_cluster pointing at `to`; its leader
//              streams the new timeline (no rewind, no re-clone)
// Until catch_up is done, a failure rolls back: `from` is unfenced and its
// leader starts as a primary again, nothing lost. From promote on, only
// forward: running the command again finishes the switchover.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/util/clock.h"
#include "common/util/result.h"
#include "coordinator/backup_runner.h"
#include "coordinator/operation_plan.h"
#include "coordinator/site_peers.h"
#include "coordinator/site_status.h"
#include "coordinator/sites.h"

namespace pgtandem::coordinator {

struct OperationLimits {
  std::chrono::milliseconds poll{100};
  std::chrono::seconds fence{15};     // every member answers /primary with 503
  std::chrono::seconds token{60};     // the primary stopped and published its token
  std::chrono::seconds catch_up{60};  // the standby DC replayed to the token
  std::chrono::seconds promote{60};   // the standby DC's leader is writable
  std::chrono::seconds follow{120};   // the old DC streams from the new primary
  std::chrono::seconds rejoin{1800};  // every member rewound or re-cloned, and streaming
};

struct SwitchoverReport {
  std::string from_site, to_site;
  bool resumed = false;
  // From the fence to the new primary being writable, when this run did both.
  std::optional<std::chrono::milliseconds> write_gap;
  std::string summary;  // several lines, for the operator
};

struct PromoteReport {
  std::string site, other;
  bool other_reachable = false;
  bool other_fenced = false;  // its site key really says fenced at the new epoch
  std::string fence_error;    // why fencing it failed, when reachable
  std::int64_t epoch = 0;
  // What the promotion may lose. The promoted DC last heard from the other
  // DC at most `silent_for_seconds` before the promotion (its standby
  // leader's contact age plus ttl, the most the key it is read from can
  // lag): writes the other DC acknowledged after that may be lost. nullopt:
  // unknown (its agent never saw the stream). `known_behind_bytes`: what it
  // knew it lacked (a lower bound, not a bound).
  std::optional<std::int64_t> silent_for_seconds;
  std::optional<std::int64_t> known_behind_bytes;
  std::string silent_since;  // ISO time, when silent_for_seconds is known
  std::string summary;
};

struct RejoinReport {
  std::string site, primary_site;
  // Per member: "rewound", "re-cloned" or "followed (no rewind needed)".
  std::vector<std::pair<std::string, std::string>> members;
  std::string summary;
};

class SiteOperations {
 public:
  using Progress = std::function<void(const std::string&)>;
  using Sleep = std::function<void(std::chrono::milliseconds)>;

  SiteOperations(const SitesConfig& sites, DcsFactory connect, SitePeers& peers, const Clock& clock,
                 OperationLimits limits = {}, Progress progress = {}, Sleep sleep = {});
  ~SiteOperations();

  // Writes both DCs' site keys where they are missing (role from /config,
  // epoch 1) and names each DC's peer in the other's key, so that agents
  // can check their epoch (peer_site.h) before any disaster. Safe to repeat.
  Result<std::string> init();

  // Moves the primary role to `to_site` (planned; both DCs healthy), or
  // resumes an interrupted switchover to it. Errors say what is wrong and
  // what state the DCs were left in.
  Result<SwitchoverReport> switchover(const std::string& to_site);

  // Disaster: makes the standby DC `site` primary although the other DC is
  // down. Raises the fencing epoch in `site`'s DCS and, when it answers, in
  // the other's (fenced there). Refuses while the other DC has a running
  // primary it can see, and, when the other DC cannot be reached, while the
  // DCs have no site keys naming each other, unless `options` say so.
  // Reports the data-loss bound.
  Result<PromoteReport> promote(const std::string& site, PromoteOptions options = {});

  // After a disaster promotion: `site` (superseded) becomes a standby
  // cluster of the other DC. Its agents rewind where they diverged (their
  // restore_command must reach both archives), re-clone only where rewind
  // fails; the report says which, per member.
  Result<RejoinReport> rejoin(const std::string& site);

  // The scheduled backups and drills (the sites file's `backups:`), one run
  // at a time, journaled in each DC's backups key: resumes the run a
  // coordinator left open there (a crash mid-backup runs it again), else
  // starts `now_kind` when given, else the first run due now
  // (coordinator/schedule.h), and takes it to the end. Its summary, nullopt
  // when nothing was due; an error says why the run failed (recorded).
  Result<std::optional<std::string>> runScheduled(BackupRunner& runner, std::optional<ScheduledKind> now_kind = {});

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgtandem::coordinator
