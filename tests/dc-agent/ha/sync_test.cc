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

// maximum_lag_on_syncnode: the synchronous standby 20 MB behind the other
// one leaves /sync first, and the healthy one is made synchronous instead.
TEST(SyncPlan, ASyncStandbyLaggingPastTheLimitIsSwappedForAHealthyOne) {
  constexpr Lsn kMb = 1 << 20;
  auto cluster = clusterWith({"n1", "n2", "n3"}, dcs::SyncInfo{"n1", {"n2"}, std::nullopt, 3});
  const std::vector<StandbyStatus> standbys = {{"n2", "streaming", "sync", "", "", 1, 100 * kMb},
                                               {"n3", "streaming", "potential", "", "", 2, 120 * kMb}};
  auto swapped = planSync(cluster, standbys, "n1", true, false, 1, SyncLagLimit{16 * kMb, 121 * kMb});
  EXPECT_TRUE(swapped.sync_standby.empty()) << "n2 leaves /sync before it stops being synchronous";
  EXPECT_EQ(swapped.key_op, SyncPlan::KeyOp::kWrite);
  EXPECT_EQ(swapped.synchronous_standby_names, "FIRST 1 (\"n3\")");

  // Within the limit, or with the limit off (Patroni's -1 and 0), nothing moves.
  for (const SyncLagLimit& limit : {SyncLagLimit{32 * kMb, 121 * kMb}, SyncLagLimit{-1, 121 * kMb}, SyncLagLimit{0, 121 * kMb}}) {
    auto kept = planSync(cluster, standbys, "n1", true, false, 1, limit);
    EXPECT_EQ(kept.sync_standby, std::vector<std::string>{"n2"}) << limit.maximum_bytes;
    EXPECT_EQ(kept.key_op, SyncPlan::KeyOp::kKeep) << limit.maximum_bytes;
  }
}

// With one standby its lag is measured from the leader's position; a
// standby whose position is unknown is no candidate while a limit is set.
TEST(SyncPlan, ALoneStandbyIsMeasuredFromTheLeaderAndAnUnknownPositionIsNoCandidate) {
  constexpr Lsn kMb = 1 << 20;
  auto cluster = clusterWith({"n1", "n2"}, dcs::SyncInfo{"n1", {"n2"}, std::nullopt, 3});
  const std::vector<StandbyStatus> behind = {{"n2", "streaming", "sync", "", "", 1, 10 * kMb}};
  EXPECT_TRUE(planSync(cluster, behind, "n1", true, false, 1, SyncLagLimit{1 * kMb, 20 * kMb}).sync_standby.empty());
  EXPECT_EQ(planSync(cluster, behind, "n1", true, true, 1, SyncLagLimit{1 * kMb, 20 * kMb}).synchronous_standby_names,
            std::string("\"") + kStrictPlaceholder + "\"")
      << "strict mode blocks commits rather than running without a synchronous standby";
  EXPECT_EQ(planSync(cluster, behind, "n1", true, false, 1, SyncLagLimit{16 * kMb, 20 * kMb}).sync_standby,
            std::vector<std::string>{"n2"});
  const std::vector<StandbyStatus> unknown = {{"n2", "streaming", "sync"}};
  EXPECT_TRUE(planSync(cluster, unknown, "n1", true, false, 1, SyncLagLimit{16 * kMb, 20 * kMb}).sync_standby.empty());
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
