// The synchronous-mode plan: /sync stays a subset of what PostgreSQL treats
// as synchronous.

#include <gtest/gtest.h>

#include "dc-agent/ha/sync.h"

namespace pgtandem::agent {
namespace {

dcs::ClusterSnapshot clusterWith(std::vector<std::string> members, std::optional<dcs::SyncInfo> sync = std::nullopt) {
  dcs::ClusterSnapshot c;
  for (const auto& name : members) {
    dcs::MemberInfo m;
    m.name = name;
    c.members.push_back(m);
  }
  c.sync = std::move(sync);
  return c;
}

TEST(SyncPlan, NewStandbyJoinsPostgresFirstAndSyncKeyAfterConfirmation) {
  auto cluster = clusterWith({"n1", "n2", "n3"});
  auto first = planSync(cluster, {{"n2", "streaming", "async"}, {"n3", "streaming", "async"}}, "n1", true, false, 1);
  EXPECT_EQ(first.synchronous_standby_names, "FIRST 1 (\"n2\")");
  EXPECT_TRUE(first.sync_standby.empty()) << "not in /sync before PostgreSQL confirms";
  EXPECT_EQ(first.key_op, SyncPlan::KeyOp::kWrite);  // leader=n1, nobody yet

  cluster.sync = dcs::SyncInfo{"n1", {}, std::nullopt, 3};
  auto second = planSync(cluster, {{"n2", "streaming", "sync"}, {"n3", "streaming", "async"}}, "n1", true, false, 1);
  EXPECT_EQ(second.sync_standby, std::vector<std::string>{"n2"});
  EXPECT_EQ(second.key_op, SyncPlan::KeyOp::kWrite);
}

TEST(SyncPlan, LostStandbyLeavesTheKeyAndIsReplaced) {
  auto cluster = clusterWith({"n1", "n2", "n3"}, dcs::SyncInfo{"n1", {"n2"}, std::nullopt, 3});
  auto plan = planSync(cluster, {{"n3", "streaming", "async"}}, "n1", true, false, 1);
  EXPECT_TRUE(plan.sync_standby.empty()) << "n2 leaves /sync; n3 is not confirmed yet";
  EXPECT_EQ(plan.synchronous_standby_names, "FIRST 1 (\"n3\")");
}

TEST(SyncPlan, CurrentStandbyIsKeptAndNosyncSkipped) {
  auto cluster = clusterWith({"n1", "n2", "n3"}, dcs::SyncInfo{"n1", {"n3"}, std::nullopt, 3});
  cluster.members[1].tags.nosync = true;
  auto plan = planSync(cluster, {{"n2", "streaming", "async"}, {"n3", "streaming", "sync"}}, "n1", true, false, 2);
  EXPECT_EQ(plan.synchronous_standby_names, "FIRST 1 (\"n3\")");
  EXPECT_EQ(plan.key_op, SyncPlan::KeyOp::kKeep);
}

TEST(SyncPlan, StrictModeBlocksWithoutCandidatesAndOffDeletesTheKey) {
  auto cluster = clusterWith({"n1"}, dcs::SyncInfo{"n1", {}, std::nullopt, 3});
  EXPECT_EQ(planSync(cluster, {}, "n1", true, true, 1).synchronous_standby_names,
            std::string("\"") + kStrictPlaceholder + "\"");
  EXPECT_EQ(planSync(cluster, {}, "n1", true, false, 1).synchronous_standby_names, "");
  EXPECT_EQ(planSync(cluster, {}, "n1", false, false, 1).key_op, SyncPlan::KeyOp::kDelete);
}

TEST(SyncPlan, OnlySyncMembersMayTakeOver) {
  auto cluster = clusterWith({"n1", "n2"}, dcs::SyncInfo{"n1", {"n2"}, std::nullopt, 3});
  EXPECT_TRUE(allowedBySync(cluster, "n2"));
  EXPECT_TRUE(allowedBySync(cluster, "n1"));
  EXPECT_FALSE(allowedBySync(cluster, "n3"));
  EXPECT_FALSE(allowedBySync(clusterWith({"n1"}), "n3")) << "no /sync (gone, or garbage skipped): fail closed";
}

}  // namespace
}  // namespace pgtandem::agent
