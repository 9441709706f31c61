// When the agent runs an operation asked through the REST API
// (dc-agent/ha/operation_rules.h): a row per rule, with Patroni's
// messages; every rule id has a row.

#include <gtest/gtest.h>

#include "tests/support/row_name.h"

#include <set>

#include "dc-agent/ha/operation_rules.h"

namespace pgtandem::agent {
namespace {

using Kind = OperationRequest::Kind;
using Type = OperationVerdict::Type;

OperationRequest request(Kind kind) {
  OperationRequest r;
  r.kind = kind;
  return r;
}

// A running replica of a primary DC, initialized, nothing pending.
OperationContext replica() {
  OperationContext c;
  c.data_initialized = true;
  c.pg_running = true;
  c.server_version = 150018;
  return c;
}

struct Row {
  const char* name;
  OperationRequest request;
  OperationContext context;
  Type type;
  std::string rule;
  std::string message = "";
};

std::vector<Row> rows() {
  auto with = [](OperationContext c, auto change) {
    change(c);
    return c;
  };
  auto restart = [](auto change) {
    OperationRequest r = request(Kind::kRestart);
    change(r);
    return r;
  };
  const auto later = WallTime(std::chrono::hours(24 * 365 * 60));
  return {
      {"reload always runs", request(Kind::kReload), replica(), Type::kRun, "reload.run"},
      {"nothing to cancel", request(Kind::kCancelRestart), replica(), Type::kRefuse, "cancel_restart.none",
       "no restarts are scheduled"},
      {"cancel the scheduled restart", request(Kind::kCancelRestart),
       with(replica(), [](OperationContext& c) { c.restart_scheduled = true; }), Type::kRun, "cancel_restart.run"},
      {"one scheduled restart at a time", restart([&](OperationRequest& r) { r.scheduled_at = later; }),
       with(replica(), [](OperationContext& c) { c.restart_scheduled = true; }), Type::kRefuse, "restart.scheduled_twice",
       "Another restart is already scheduled"},
      {"no scheduled restart while paused", restart([&](OperationRequest& r) { r.scheduled_at = later; }),
       with(replica(), [](OperationContext& c) { c.paused = true; }), Type::kRefuse, "restart.scheduled_paused",
       "Can't schedule restart in the paused state"},
      {"a restart for later is kept", restart([&](OperationRequest& r) { r.scheduled_at = later; }), replica(),
       Type::kSchedule, "restart.schedule", "Restart scheduled"},
      {"no data, no restart", request(Kind::kRestart),
       with(replica(), [](OperationContext& c) { c.data_initialized = false; }), Type::kRefuse, "restart.not_initialized",
       "postgres is not initialized"},
      {"another role than asked", restart([](OperationRequest& r) { r.role = "primary"; }), replica(), Type::kRefuse,
       "restart.role", "restart conditions are not satisfied: role is replica"},
      {"a standby leader is one", restart([](OperationRequest& r) { r.role = "standby_leader"; }),
       with(replica(), [](OperationContext& c) { c.leads = c.standby_cluster = true; }), Type::kRun, "restart.run"},
      {"only if pending, nothing pending", restart([](OperationRequest& r) { r.only_if_pending = true; }), replica(),
       Type::kRefuse, "restart.not_pending", "restart conditions are not satisfied: no restart pending"},
      {"only if pending, pending", restart([](OperationRequest& r) { r.only_if_pending = true; }),
       with(replica(), [](OperationContext& c) { c.pending_restart = true; }), Type::kRun, "restart.run"},
      {"a version that is not one", restart([](OperationRequest& r) { r.postgres_version = "fifteen"; }), replica(),
       Type::kRefuse, "restart.bad_version", "postgres_version must look like 15.20"},
      {"the running version is not older", restart([](OperationRequest& r) { r.postgres_version = "15.18"; }), replica(),
       Type::kRefuse, "restart.version_not_older", "restart conditions are not satisfied: version is not older"},
      {"the running version is older", restart([](OperationRequest& r) { r.postgres_version = "15.20"; }), replica(),
       Type::kRun, "restart.run"},
      {"reinitialize without a leader", request(Kind::kReinitialize),
       with(replica(), [](OperationContext& c) { c.cluster_unlocked = true; }), Type::kRefuse, "reinitialize.no_leader",
       "Cluster has no leader, can not reinitialize"},
      {"the leader is not reinitialized", request(Kind::kReinitialize),
       with(replica(), [](OperationContext& c) { c.leads = true; }), Type::kRefuse, "reinitialize.leader",
       "I am the leader, can not reinitialize"},
      {"reinitialize a replica", request(Kind::kReinitialize), replica(), Type::kRun, "reinitialize.run"},
  };
}

class OperationRulesTest : public ::testing::TestWithParam<Row> {};

TEST_P(OperationRulesTest, Judges) {
  const Row& row = GetParam();
  const OperationVerdict verdict = judgeOperation(row.request, row.context);
  EXPECT_EQ(verdict.rule, row.rule);
  EXPECT_EQ(verdict.type, row.type);
  if (!row.message.empty()) {
    EXPECT_EQ(verdict.message, row.message);
  }
}

INSTANTIATE_TEST_SUITE_P(Rows, OperationRulesTest, ::testing::ValuesIn(rows()), pgtandem::testing::rowName<Row>);

TEST(OperationRules, EveryRuleHasARow) {
  std::set<std::string> tested;
  for (const Row& row : rows()) tested.insert(row.rule);
  for (const std::string& id : operationRuleIds()) EXPECT_TRUE(tested.count(id)) << "no row tests " << id;
}

TEST(OperationRules, TheRoleARestartNames) {
  OperationContext c = replica();
  EXPECT_EQ(restartRole(c), "replica");
  c.pg_primary = true;
  EXPECT_EQ(restartRole(c), "primary");
  c.pg_running = c.pg_primary = false;
  EXPECT_EQ(restartRole(c), "");
  c.leads = c.standby_cluster = true;
  EXPECT_EQ(restartRole(c), "standby_leader");
}

}  // namespace
}  // namespace pgtandem::agent
