// Who may take the leader role (common/dcs/candidates.h), the one rule the
// HA decision, the REST API and dcctl share.

#include <gtest/gtest.h>

#include "common/dcs/candidates.h"

namespace pgtandem::dcs {
namespace {

MemberInfo member(const std::string& name, const std::string& state) {
  MemberInfo m;
  m.name = name;
  m.state = state;
  return m;
}

TEST(Candidates, TagsAndStateDecide) {
  EXPECT_TRUE(eligibleCandidate(member("a", "running")));
  EXPECT_TRUE(eligibleCandidate(member("a", "streaming")));
  for (const char* state : {"stopped", "starting", "crashed", "creating replica", ""}) {
    EXPECT_FALSE(eligibleCandidate(member("a", state))) << state;
    EXPECT_TRUE(promotable(member("a", state))) << "tags allow it: " << state;
  }
  MemberInfo nofailover = member("a", "running");
  nofailover.tags.nofailover = true;
  EXPECT_FALSE(promotable(nofailover));
  EXPECT_FALSE(eligibleCandidate(nofailover));
  MemberInfo priority_zero = member("a", "running");
  priority_zero.tags.failover_priority = 0;
  EXPECT_FALSE(eligibleCandidate(priority_zero));
  priority_zero.tags.failover_priority = 2;
  EXPECT_TRUE(eligibleCandidate(priority_zero));
}

TEST(Candidates, WhyNotSaysWhy) {
  ClusterSnapshot cluster;
  cluster.members = {member("pg1", "running"), member("pg2", "stopped"), member("pg3", "running")};
  cluster.members[2].tags.nofailover = true;
  EXPECT_FALSE(whyNotCandidate(cluster, "pg1"));
  EXPECT_EQ(whyNotCandidate(cluster, "pg2"), "member pg2 is not running (stopped)");
  EXPECT_EQ(whyNotCandidate(cluster, "pg3"), "member pg3 is tagged nofailover");
  EXPECT_EQ(whyNotCandidate(cluster, "pg9"), "member pg9 is not in the cluster");
}

}  // namespace
}  // namespace pgtandem::dcs
