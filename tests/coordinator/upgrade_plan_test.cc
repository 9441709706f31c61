// The rolling upgrade's plan (coordinator/upgrade_plan.h): the safe order
// across both DCs, resuming (members on the target drop out), a DC with no
// replica to take its leader's role, and the refusals, each naming why.

#include <gtest/gtest.h>

#include "coordinator/upgrade_plan.h"
#include "coordinator/upgrade_precheck.h"
#include "tests/fakes/fake_remote_shell.h"

namespace pgtandem::coordinator {
namespace {

constexpr int k1518 = 150018, k1520 = 150020;
const std::string kStandbyConfig = R"({"ttl":30,"standby_cluster":{"host":"10.0.0.1","port":5432}})";

dcs::MemberInfo member(const std::string& name, const std::string& role, int version, std::int64_t replayed) {
  dcs::MemberInfo m;
  m.name = name;
  m.role = role;
  m.state = "running";
  m.server_version = version;
  m.replay_lsn = replayed;
  m.replication_state = role == "primary" ? "" : "streaming";
  return m;
}

// dc1 primary (pg1 leads; pg2, pg3), dc2 its standby cluster (dr1 leads; dr2).
struct Two {
  Site site1, site2;
  DcView dc1, dc2;
  Two() {
    site1.name = "dc1";
    site2.name = "dc2";
    dc1.site = &site1;
    dc2.site = &site2;
    dc1.reachable = dc2.reachable = true;
    dc1.snapshot.config_json = R"({"ttl":30})";
    dc1.snapshot.leader = dcs::LeaderInfo{"pg1", 1, 1};
    dc1.snapshot.members = {member("pg1", "primary", k1518, 0), member("pg2", "replica", k1518, 900),
                            member("pg3", "replica", k1518, 1000)};
    dc2.snapshot.config_json = kStandbyConfig;
    dc2.snapshot.leader = dcs::LeaderInfo{"dr1", 1, 1};
    dc2.snapshot.members = {member("dr1", "standby_leader", k1518, 800), member("dr2", "replica", k1518, 700)};
  }
  dcs::MemberInfo& m(DcView& dc, const std::string& name) {
    for (auto& x : dc.snapshot.members) {
      if (x.name == name) return x;
    }
    throw std::runtime_error(name);
  }
  Result<UpgradePlan> plan(int target = k1520) {
    dc1.refresh();
    dc2.refresh();
    return planUpgrade(dc1, dc2, target);
  }
};

std::vector<std::string> stepsOf(const UpgradePlan& plan) {
  std::vector<std::string> out;
  for (const auto& s : plan.steps) {
    out.push_back(std::string(upgradeActionName(s.action)) + " " + s.dc + "/" + s.member + (s.to_member.empty() ? "" : "->" + s.to_member));
  }
  return out;
}

TEST(UpgradePlan, TheStandbyDcFirstThenThePrimaryDcEachLeaderLastAfterHandingItsRoleOver) {
  Two two;
  auto plan = two.plan();
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(stepsOf(*plan), (std::vector<std::string>{"upgrade dc2/dr2", "hand_over dc2/dr1->dr2", "upgrade dc2/dr1",
                                                      "upgrade dc1/pg2", "upgrade dc1/pg3", "hand_over dc1/pg1->pg3",
                                                      "upgrade dc1/pg1"}))
      << "the most caught-up replica last, and it takes the role";
  EXPECT_TRUE(plan->notes.empty());
  // Either DC order in the arguments gives the same plan.
  auto swapped = planUpgrade(two.dc2, two.dc1, k1520);
  ASSERT_TRUE(swapped.ok());
  EXPECT_EQ(swapped->steps, plan->steps);
}

TEST(UpgradePlan, ARerunLeavesOutWhatIsAlreadyOnTheTarget) {
  Two two;
  two.m(two.dc2, "dr2").server_version = k1520;
  two.m(two.dc2, "dr1").server_version = k1520;
  two.m(two.dc1, "pg2").server_version = k1520;
  auto plan = two.plan();
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(stepsOf(*plan), (std::vector<std::string>{"upgrade dc1/pg3", "hand_over dc1/pg1->pg3", "upgrade dc1/pg1"}));
  EXPECT_EQ(plan->done, (std::vector<std::string>{"dc2/dr2 (15.20)", "dc2/dr1 (15.20)", "dc1/pg2 (15.20)"}));
  for (auto* dc : {&two.dc1, &two.dc2}) {
    for (auto& m : dc->snapshot.members) m.server_version = k1520;
  }
  auto finished = two.plan();
  ASSERT_TRUE(finished.ok());
  EXPECT_TRUE(finished->steps.empty());
  EXPECT_EQ(finished->done.size(), 5u);
}

TEST(UpgradePlan, AReplicaThatMayNotTakeTheRoleIsUpgradedButNotHandedIt) {
  Two two;
  two.m(two.dc1, "pg3").tags.nofailover = true;
  auto plan = two.plan();
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->steps[5].to_member, "pg2") << "pg3 is nofailover";
  // A DC of one member: upgraded in place, and the plan says what that costs.
  two.dc2.snapshot.members.pop_back();  // dr2
  auto alone = two.plan();
  ASSERT_TRUE(alone.ok()) << alone.error().message;
  EXPECT_EQ(stepsOf(*alone)[0], "upgrade dc2/dr1");
  ASSERT_EQ(alone->notes.size(), 1u);
  EXPECT_NE(alone->notes[0].find("its stream pauses"), std::string::npos) << alone->notes[0];
}

TEST(UpgradePlan, RefusalsNameWhatIsWrong) {
  struct Case {
    const char* name;
    std::function<void(Two&)> given;
    int target;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"a major upgrade", [](Two&) {}, 160002, "pg_upgrade's job"},
      {"a downgrade", [](Two& t) { t.m(t.dc1, "pg2").server_version = 150021; }, k1520, "no downgrades"},
      {"a member down", [](Two& t) { t.m(t.dc2, "dr2").state = "stopped"; }, k1520, "dc2/dr2 is stopped"},
      {"an older agent", [](Two& t) { t.m(t.dc1, "pg3").server_version.reset(); }, k1520, "publishes no server version"},
      {"paused", [](Two& t) { t.dc1.snapshot.config_json = R"({"ttl":30,"pause":true})"; }, k1520, "dc1 is paused"},
      {"the standby DC does not stream", [](Two& t) { t.m(t.dc2, "dr1").replication_state = "in archive recovery"; }, k1520,
       "does not stream"},
      {"no standby DC", [](Two& t) { t.dc2.snapshot.config_json = R"({"ttl":30})"; }, k1520, "neither DC is a standby cluster"},
      {"a DC that cannot be read",
       [](Two& t) {
         t.dc2.reachable = false;
         t.dc2.error = "no route to host";
       },
       k1520, "dc2's DCS cannot be read (no route to host)"},
      {"no leader", [](Two& t) { t.dc1.snapshot.leader.reset(); }, k1520, "dc1 has no leader"},
  };
  for (const Case& c : cases) {
    Two two;
    c.given(two);
    auto plan = two.plan(c.target);
    ASSERT_FALSE(plan.ok()) << c.name;
    EXPECT_NE(plan.error().message.find(c.says), std::string::npos) << c.name << ": " << plan.error().message;
    EXPECT_EQ(plan.error().message.rfind("no upgrade: ", 0), 0u) << plan.error().message;
  }
}

// The install step's dry run on every member the plan upgrades, over SSH to
// its conn_url's host: all tried, each failure named.
TEST(UpgradePrecheck, TheDryRunOnEveryMemberToUpgradeAndEachFailureNamed) {
  Two two;
  int n = 0;
  for (auto* dc : {&two.dc1, &two.dc2}) {
    for (auto& m : dc->snapshot.members) m.conn_url = "postgres://10.0.0." + std::to_string(++n) + ":5432/postgres";
  }
  two.m(two.dc1, "pg2").server_version = k1520;  // done: not checked
  auto plan = two.plan();
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  UpgradeSettings settings;
  settings.ssh_user = "admin";
  testing::FakeRemoteShell shell;
  const std::vector<DcView> views = {two.dc1, two.dc2};
  auto checked = checkInstallable(*plan, views, settings, shell);
  ASSERT_TRUE(checked.ok()) << checked.error().message;
  EXPECT_EQ(checked->size(), 4u) << "pg1, pg3, dr1, dr2";
  ASSERT_EQ(shell.ran.size(), 4u);
  for (const auto& line : shell.ran) {
    EXPECT_NE(line.find(": apt-get install -s -q postgresql-15='15.20-*'"), std::string::npos) << line;
  }
  EXPECT_EQ(shell.ran[0].rfind("10.0.0.5: ", 0), 0u) << "dr2 first, as in the plan: " << shell.ran[0];

  CommandResult broken;
  broken.exit_code = 100;
  broken.output = "E: Version '15.20-*' for 'postgresql-15' was not found";
  shell.answers.insert_or_assign("10.0.0.3", Result<CommandResult>(broken));  // pg3
  shell.answers.insert_or_assign(  // dr1
      "10.0.0.4", Result<CommandResult>(makeError(ErrorCode::kPermissionDenied, "the host key of 10.0.0.4:22 is not the one in /kh")));
  shell.ran.clear();
  auto refused = checkInstallable(*plan, views, settings, shell);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(shell.ran.size(), 4u) << "every member is tried";
  const std::string& why = refused.error().message;
  EXPECT_NE(why.find("cannot run on 2 member(s)"), std::string::npos) << why;
  EXPECT_NE(why.find("dc1/pg3 on admin@10.0.0.3:22: the dry run"), std::string::npos) << why;
  EXPECT_NE(why.find("exited 100: E: Version"), std::string::npos) << why;
  EXPECT_NE(why.find("dc2/dr1 on admin@10.0.0.4:22: the host key"), std::string::npos) << why;
}

}  // namespace
}  // namespace pgtandem::coordinator
