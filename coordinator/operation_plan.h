#pragma once
// The cross-DC operations as data, with a pure core. For each kind: its
// steps in order, what a failure of each step means, what the driver must
// observe for it, and a pure decider per step:
//
//   decideStep(row, input) -> act (a named idempotent action) | step done |
//                             wait (reason) | fail (reason)
//
// over one round's view of both DCs, the journal, the epoch of this run,
// the limits and how long the step has waited. The driver
// (site_operations.cc) loops: decideNext (the journal says which step) ->
// observe what the row asks -> decideStep -> execute the action or journal
// the step -> again. A failure is undone, reported or left for the next run
// as the row says (OnFailure). New kinds (a rolling upgrade, a scheduled
// backup) are new tables and deciders, not new drivers.
// docs/site-operations.md lists the same steps; a test checks it.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/config/dynamic_json.h"
#include "common/dcs/cluster.h"
#include "common/dcs/site_state.h"
#include "common/util/result.h"
#include "coordinator/site_peers.h"
#include "coordinator/sites.h"

namespace pgtandem::coordinator {

enum class OperationKind {
  kSwitchover, kPromote, kRejoin,  // journaled in the site keys
  kBackup, kDrill,                 // scheduled: journaled in the backups keys
};

// Where a kind journals: the DC operations in the site keys (one at a
// time), the scheduled backups and drills in a key of their own (one at a
// time), so that a long backup never blocks a DC switchover.
enum class JournalSlot { kSiteKey, kBackupsKey };
JournalSlot journalSlot(OperationKind kind);

enum class Step { kPrecheck, kCheckpoint, kFence, kToken, kCatchUp, kPromote, kFollow, kBackup, kDrill };

// What a failed step leaves behind, and so what the driver does about it.
enum class OnFailure {
  kNothingChanged,  // report the error; the journal only records the attempt
  kRollBack,        // undo: the old primary DC takes writes again, nothing lost
  // kRollBack until the step's first write is sent (the journal says
  // "started" before it is sent), kRunAgain from then on: a write whose
  // answer was lost may have landed. From then on the step needs only the
  // DC taking over.
  kRollBackUntilSent,
  kRunAgain,  // forward only: the error says to run the command again
  // A run on its own (a scheduled backup): journaled as started before its
  // action, and a failure closes the run with the reason in its history.
  // Nothing to undo; the next scheduled time runs again.
  kRecordFailure,
};

const char* kindName(OperationKind kind);
std::optional<OperationKind> parseKind(std::string_view name);
const char* stepName(Step step);

// --- what the driver observed this round ------------------------------------

// What the driver asks the DCs' members for, beyond their DCSs, before a
// step decides (bits of StepRow::probes).
enum Probe : unsigned {
  kProbeNone = 0,
  kProbeFromHealth = 1u << 0,         // from's leader: long transactions, archiver
  kProbeFromPrimaryChecks = 1u << 1,  // every member of from: GET /primary
  kProbeToControlPoint = 1u << 2,     // to's leader: restartpoint, pg_control, replay position
  kProbeToWritable = 1u << 3,         // to's leader: pg_is_in_recovery and GET /primary
};

// One DC as the driver saw it this round. Immutable while deciding.
struct DcView {
  const Site* site = nullptr;  // from the sites file
  bool reachable = false;      // its DCS answered this round
  std::string error;           // why not
  dcs::ClusterSnapshot snapshot;
  // Probes, made only when the step asks for them.
  std::map<std::string, Result<int>> primary_checks;  // member -> GET /primary status
  std::optional<Result<ControlPoint>> leader_point;
  std::optional<Result<bool>> leader_in_recovery;
  std::optional<Result<int>> leader_primary_check;
  std::optional<Result<PrimaryHealth>> leader_health;
  // The snapshot's /config, parsed once per observation (refresh): nullopt
  // when it has none or it does not parse.
  std::optional<config::DynamicState> dynamic;

  void refresh();  // after the snapshot changed
  const std::string& name() const { return site->name; }
  const dcs::MemberInfo* leader() const { return snapshot.leaderMember(); }
};

// Pure readings of a DC's /config, shared by the deciders and the reports.
std::optional<config::DynamicState> readDynamic(const dcs::ClusterSnapshot& snapshot);
bool hasStandbyCluster(const std::optional<config::DynamicState>& dynamic);
bool hasStandbyCluster(const dcs::ClusterSnapshot& snapshot);
std::string standbyClusterBlock(const dcs::ClusterSnapshot& snapshot);  // JSON text, "" when none
bool paused(const std::optional<config::DynamicState>& dynamic);
int ttlOf(const std::optional<config::DynamicState>& dynamic);  // /config's ttl, 30 when unknown
bool isPrimaryRole(const std::string& member_role);
// The site key's role, or from /config when there is no key.
dcs::SiteRole siteRoleOf(const dcs::ClusterSnapshot& snapshot);
// The standby_cluster block `dc` gets when it follows `upstream`: the sites
// file's if it has one; else the block `dc` had before its last promotion
// (its site key), pointed at `upstream`'s current leader, with the slot name
// `upstream` used when it was the standby (one slot name for both
// directions, kept as a permanent slot in both DCs).
Result<std::string> standbyBlockFor(const DcView& dc, const DcView& upstream);

// --- what a step decides ------------------------------------------------------

// Named, idempotent writes and calls; the driver executes them.
enum class Action {
  kCheckpoint,            // CHECKPOINT on from's leader
  kRaiseEpoch,            // to's key: epoch = max(epoch, E)
  kFenceFrom,             // from's key: fenced at E
  kFenceTo,               // to's key: fenced at E (rejoin)
  kGrantTo,               // to's key: primary at E, granted (disaster promotion)
  kRecordToken,           // both keys: the demotion token (payload: its JSON)
  kMarkToPrimary,         // to's key: primary at E; to's standby_cluster block saved in it
  kLeaveStandbyTo,        // to's /config: standby_cluster removed
  kFollowFrom,            // from's /config: standby_cluster = payload
  kMarkFromStandby,       // from's key: standby at E
  kFollowTo,              // to's /config: standby_cluster = payload (rejoin)
  kMarkToStandby,         // to's key: standby at E (rejoin)
  kTakeBackup,            // a base backup of `target` (scheduled; BackupRunner)
  kRunDrill,              // a restore drill of the newest backup (scheduled; BackupRunner)
};
const char* actionName(Action action);

struct Verdict {
  enum class Type {
    kAct,       // execute `action`, then decide again
    kStepDone,  // journal the step with `detail`
    kWait,      // nothing to do until the DCs change (`detail` says what is awaited)
    kFail,      // the step failed (`detail`); the row's OnFailure says what follows
  };
  Type type = Type::kWait;
  Action action = Action::kCheckpoint;
  std::string payload;  // the action's argument (a token, a standby_cluster block)
  std::string target_dc, target_member;  // kTakeBackup: the member it copies
  // An action whose failure the step tolerates: the failure is recorded in
  // StepInput::failed_actions and the step decides again.
  bool tolerate_failure = false;
  ErrorCode code = ErrorCode::kConflict;  // of a failure
  std::string rule;    // "<kind>.<step>.<condition>", for logs and tests
  std::string detail;  // one line
};

// What the operator takes responsibility for in a disaster promotion.
struct PromoteOptions {
  bool while_primary_runs = false;  // the other DC answers and its primary runs: it is fenced first
  bool without_site_keys = false;   // `site init` never ran: the other DC cannot learn it was superseded
};

// The settings an operation runs with.
struct OperationSettings {
  SwitchoverLimits switchover;
  PromoteOptions promote;
  bool backup_allow_primary_dc = false;  // a scheduled backup may copy a replica of the primary DC
};

struct StepInput {
  OperationKind kind = OperationKind::kSwitchover;
  const DcView* from = nullptr;  // switchover: the old primary DC; promote, rejoin: the other DC
  const DcView* to = nullptr;    // switchover, promote: the DC taking over; rejoin: the DC rejoining
  const dcs::SiteOperation* journal = nullptr;
  std::int64_t epoch = 0;  // this run's epoch (operationEpoch)
  OperationSettings settings;
  // From the step's first round: how long it has waited, and what `to`
  // looked like then (rejoin reports each member's repair as a change).
  std::chrono::milliseconds waited{0};
  const dcs::ClusterSnapshot* to_at_step_start = nullptr;
  std::set<Action> executed_actions;              // what this step did so far, in this run
  std::map<Action, std::string> failed_actions;  // tolerated failures of this step, with why
  std::chrono::system_clock::time_point wall_now{};
};

struct StepRow {
  Step step;
  OnFailure on_failure;
  unsigned probes;  // Probe bits
  Verdict (*decide)(const StepInput&);
  const char* what;  // one line, for the docs and the log
};

// The steps of `kind`, in order.
const std::vector<StepRow>& stepTable(OperationKind kind);

// decide() of the row, with a wait longer than `limit` turned into a
// failure. Pure.
Verdict decideStep(const StepRow& row, const StepInput& input, std::chrono::seconds limit);

// What the driver does next, from the journal alone.
struct Next {
  enum class Type {
    kRun,             // run `row` (the first step not done)
    kFinishRollBack,  // a rollback was under way: finish it (`reason`)
    kDone,            // every step is done: close the journal
  };
  Type type = Type::kDone;
  std::optional<StepRow> row;
  std::string reason;
};

Next decideNext(OperationKind kind, const dcs::SiteOperation& journal);

// The epoch a run of `kind` works at, from both DCs' keys and the journal:
// above every epoch ever used (epochs are never reused), except that a
// resumed operation whose fence is done keeps the epoch it fenced at, and a
// rejoin takes the primary DC's. Pure.
std::int64_t operationEpoch(OperationKind kind, const DcView& from, const DcView& to, const dcs::SiteOperation& journal);

// What each member of `now` did since `before` (nullptr: unknown): "rewound",
// "re-cloned" or "followed (no rewind needed)". A repair is a change of the
// member's own report, so no two hosts' clocks are compared.
std::vector<std::pair<std::string, std::string>> memberRepairs(const dcs::ClusterSnapshot& now,
                                                               const dcs::ClusterSnapshot* before);

// The disaster promotion's loss bound, from the standby leader's contact
// age (plus ttl: the most its member key may lag): writes the other DC
// acknowledged after `since` may be lost. nullopt: unknown.
struct LossBound {
  std::int64_t silent_for_seconds = 0;
  std::chrono::system_clock::time_point since;
};
std::optional<LossBound> lossBound(const DcView& standby_dc, std::chrono::system_clock::time_point now);

}  // namespace pgtandem::coordinator
