#pragma once
// The cross-DC operations as data: for each kind, its steps in order, what a
// failure of each step means, and one pure function that reads an
// operation's journal and says what comes next. The driver
// (site_operations.cc) loops: decide -> execute the step -> journal it.
// New kinds (a rolling upgrade, a scheduled backup) are new tables, not new
// drivers. docs/site-operations.md lists the same steps; a test checks it.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/dcs/site_state.h"

namespace pgtandem::coordinator {

enum class OperationKind { kSwitchover, kPromote, kRejoin };

enum class Step { kPrecheck, kCheckpoint, kFence, kToken, kCatchUp, kPromote, kFollow };

// What a failed step leaves behind, and so what the driver does about it.
enum class OnFailure {
  kNothingChanged,  // report the error; the journal only records the attempt
  kRollBack,        // undo: the old primary DC takes writes again, nothing lost
  kRunAgain,        // forward only: the error says to run the command again
};

struct StepRow {
  Step step;
  OnFailure on_failure;
  const char* what;  // one line, for the docs and the log
};

const char* kindName(OperationKind kind);
std::optional<OperationKind> parseKind(std::string_view name);
const char* stepName(Step step);

// The steps of `kind`, in order.
const std::vector<StepRow>& stepTable(OperationKind kind);

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

}  // namespace pgtandem::coordinator
