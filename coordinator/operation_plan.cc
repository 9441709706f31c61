#include "coordinator/operation_plan.h"

namespace pgtandem::coordinator {

const char* kindName(OperationKind kind) {
  switch (kind) {
    case OperationKind::kSwitchover: return "switchover";
    case OperationKind::kPromote: return "promote";
    case OperationKind::kRejoin: return "rejoin";
  }
  return "unknown";
}

std::optional<OperationKind> parseKind(std::string_view name) {
  for (OperationKind kind : {OperationKind::kSwitchover, OperationKind::kPromote, OperationKind::kRejoin}) {
    if (name == kindName(kind)) return kind;
  }
  return std::nullopt;
}

const char* stepName(Step step) {
  switch (step) {
    case Step::kPrecheck: return "precheck";
    case Step::kCheckpoint: return "checkpoint";
    case Step::kFence: return "fence";
    case Step::kToken: return "token";
    case Step::kCatchUp: return "catch_up";
    case Step::kPromote: return "promote";
    case Step::kFollow: return "follow";
  }
  return "unknown";
}

const std::vector<StepRow>& stepTable(OperationKind kind) {
  using F = OnFailure;
  static const std::vector<StepRow> switchover = {
      {Step::kPrecheck, F::kNothingChanged, "both DCs readable, the standby DC streams within the lag limit, no long transaction, the archive keeps up, nobody paused"},
      {Step::kCheckpoint, F::kRollBack, "CHECKPOINT on the primary DC's primary, so that its shutdown checkpoint is short"},
      {Step::kFence, F::kRollBack, "the new epoch in both keys; the primary DC fenced; every member answers /primary with 503"},
      {Step::kToken, F::kRollBack, "the primary DC's leader stopped cleanly and published where (the demotion token)"},
      {Step::kCatchUp, F::kRollBack, "the standby DC's standby leader replayed exactly to the token"},
      {Step::kPromote, F::kRunAgain, "the standby DC's key says primary, standby_cluster leaves its /config, its leader is writable"},
      {Step::kFollow, F::kRunAgain, "the old primary DC follows the new one as a standby cluster"},
  };
  static const std::vector<StepRow> promote = {
      {Step::kPrecheck, F::kNothingChanged, "the DC is a standby cluster with a running standby leader; the loss bound"},
      {Step::kFence, F::kRunAgain, "a new, granted epoch in the promoted DC's key; the other DC fenced where it answers"},
      {Step::kPromote, F::kRunAgain, "the DC's key says primary, standby_cluster leaves its /config, its leader is writable"},
  };
  static const std::vector<StepRow> rejoin = {
      {Step::kPrecheck, F::kNothingChanged, "the other DC is primary at a newer epoch; this DC was superseded"},
      {Step::kFence, F::kRunAgain, "this DC fenced at the primary DC's epoch"},
      {Step::kFollow, F::kRunAgain, "standby_cluster points at the primary DC; every member streams its timeline"},
  };
  switch (kind) {
    case OperationKind::kSwitchover: return switchover;
    case OperationKind::kPromote: return promote;
    case OperationKind::kRejoin: return rejoin;
  }
  return switchover;
}

Next decideNext(OperationKind kind, const dcs::SiteOperation& journal) {
  Next next;
  if (const dcs::OperationStep* rolling_back = journal.step("rollback")) {
    next.type = Next::Type::kFinishRollBack;
    next.reason = rolling_back->detail;
    return next;
  }
  for (const StepRow& row : stepTable(kind)) {
    if (journal.done(stepName(row.step))) continue;
    next.type = Next::Type::kRun;
    next.row = row;
    return next;
  }
  return next;  // kDone
}

}  // namespace pgtandem::coordinator
