// The operation tables and the pure "what next" over a journal, row by row;
// the steps in docs/site-operations.md checked against the tables.

#include <gtest/gtest.h>

#include "tests/support/row_name.h"

#include <fstream>
#include <sstream>

#include "coordinator/operation_plan.h"

namespace pgtandem::coordinator {
namespace {

dcs::SiteOperation journalWith(std::vector<std::pair<std::string, std::string>> steps) {
  dcs::SiteOperation op;
  op.kind = "switchover";
  for (auto& [name, state] : steps) op.steps.push_back({name, state, "t", ""});
  return op;
}

struct Row {
  const char* name;
  OperationKind kind;
  dcs::SiteOperation journal;
  Next::Type type;
  std::optional<Step> step;
  std::optional<OnFailure> on_failure;
};

std::vector<Row> rows() {
  using T = Next::Type;
  using F = OnFailure;
  const auto S = OperationKind::kSwitchover;
  return {
      {"a new switchover starts with its prechecks", S, journalWith({}), T::kRun, Step::kPrecheck, F::kNothingChanged},
      {"after the prechecks, the checkpoint; a failure rolls back", S, journalWith({{"precheck", "done"}}), T::kRun,
       Step::kCheckpoint, F::kRollBack},
      {"a failed step is run again", S, journalWith({{"precheck", "done"}, {"checkpoint", "failed"}}), T::kRun,
       Step::kCheckpoint, F::kRollBack},
      {"catch_up is the last step that rolls back", S,
       journalWith({{"precheck", "done"}, {"checkpoint", "done"}, {"fence", "done"}, {"token", "done"}}), T::kRun,
       Step::kCatchUp, F::kRollBack},
      {"promote rolls back until it sends its first write, then only forward", S,
       journalWith({{"precheck", "done"}, {"checkpoint", "done"}, {"fence", "done"}, {"token", "done"}, {"catch_up", "done"}}),
       T::kRun, Step::kPromote, F::kRollBackUntilSent},
      {"a promote journaled as started is run again", S,
       journalWith({{"precheck", "done"}, {"checkpoint", "done"}, {"fence", "done"}, {"token", "done"}, {"catch_up", "done"},
                    {"promote", "started"}}),
       T::kRun, Step::kPromote, F::kRollBackUntilSent},
      {"every step done: close the journal", S,
       journalWith({{"precheck", "done"}, {"checkpoint", "done"}, {"fence", "done"}, {"token", "done"},
                    {"catch_up", "done"}, {"promote", "done"}, {"follow", "done"}}),
       T::kDone, std::nullopt, std::nullopt},
      {"a rollback under way is finished first", S,
       journalWith({{"precheck", "done"}, {"fence", "done"}, {"catch_up", "failed"}, {"rollback", "started"}}),
       T::kFinishRollBack, std::nullopt, std::nullopt},
      {"a promotion: precheck, fence, promote", OperationKind::kPromote, journalWith({{"precheck", "done"}}), T::kRun,
       Step::kFence, F::kRunAgain},
      {"a rejoin follows once fenced", OperationKind::kRejoin, journalWith({{"precheck", "done"}, {"fence", "done"}}),
       T::kRun, Step::kFollow, F::kRunAgain},
  };
}

class OperationPlanTest : public ::testing::TestWithParam<Row> {};

TEST_P(OperationPlanTest, DecidesFromTheJournal) {
  const Row& row = GetParam();
  const Next next = decideNext(row.kind, row.journal);
  EXPECT_EQ(next.type, row.type);
  if (row.step) {
    ASSERT_TRUE(next.row);
    EXPECT_EQ(next.row->step, *row.step) << stepName(next.row->step);
    EXPECT_EQ(next.row->on_failure, *row.on_failure);
  } else {
    EXPECT_FALSE(next.row);
  }
}

INSTANTIATE_TEST_SUITE_P(Rows, OperationPlanTest, ::testing::ValuesIn(rows()), pgtandem::testing::rowName<Row>);

TEST(OperationPlan, KindsAndStepsHaveNames) {
  for (OperationKind kind : {OperationKind::kSwitchover, OperationKind::kPromote, OperationKind::kRejoin,
                             OperationKind::kBackup, OperationKind::kDrill}) {
    EXPECT_EQ(parseKind(kindName(kind)), kind);
    EXPECT_FALSE(stepTable(kind).empty());
    if (journalSlot(kind) == JournalSlot::kSiteKey) {
      EXPECT_EQ(stepTable(kind).front().step, Step::kPrecheck) << "every DC operation checks before it changes anything";
      EXPECT_EQ(stepTable(kind).front().on_failure, OnFailure::kNothingChanged);
    } else {
      for (const auto& row : stepTable(kind)) EXPECT_EQ(row.on_failure, OnFailure::kRecordFailure) << "a scheduled run changes no role";
    }
  }
  EXPECT_FALSE(parseKind("upgrade"));
}

// Once a step that cannot be undone has run, no later step may roll back.
TEST(OperationPlan, NoRollbackAfterAForwardOnlyStep) {
  for (OperationKind kind : {OperationKind::kSwitchover, OperationKind::kPromote, OperationKind::kRejoin}) {
    bool forward_only = false;
    for (const auto& row : stepTable(kind)) {
      if (forward_only) {
        EXPECT_NE(row.on_failure, OnFailure::kRollBack) << kindName(kind) << ": " << stepName(row.step);
        EXPECT_NE(row.on_failure, OnFailure::kRollBackUntilSent) << kindName(kind) << ": " << stepName(row.step);
      }
      forward_only |= row.on_failure == OnFailure::kRunAgain || row.on_failure == OnFailure::kRollBackUntilSent;
    }
  }
}

// docs/site-operations.md says each kind's steps in one line, in order.
TEST(OperationPlan, TheDocsListTheSameSteps) {
  std::ifstream in(std::string(PGTANDEM_SOURCE_DIR) + "/docs/site-operations.md");
  ASSERT_TRUE(in) << "docs/site-operations.md is missing";
  std::stringstream text;
  text << in.rdbuf();
  for (OperationKind kind : {OperationKind::kSwitchover, OperationKind::kPromote, OperationKind::kRejoin,
                             OperationKind::kBackup, OperationKind::kDrill}) {
    std::string line = std::string("Steps of `") + kindName(kind) + "`:";
    for (std::size_t i = 0; i < stepTable(kind).size(); ++i) {
      line += std::string(i == 0 ? " " : " → ") + "`" + stepName(stepTable(kind)[i].step) + "`";
    }
    EXPECT_NE(text.str().find(line), std::string::npos) << "docs/site-operations.md lacks: " << line;
  }
}

}  // namespace
}  // namespace pgtandem::coordinator
