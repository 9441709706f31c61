// The coordinator's site operations against two DCs of real HA agents
// (their own rules fence, stop, publish the token, promote and follow) on
// in-memory DCSs, with fake PostgreSQL servers and a simulated clock
// (tests/fakes/two_dc_world.h). Bad input, rollback, resume, the journal,
// disasters and the faults of issue 15, without etcd or PostgreSQL. After
// every tick the world counts writable servers in both DCs.

#include "coordinator/site_operations.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "tests/fakes/two_dc_world.h"

namespace pgtandem::coordinator {
namespace {

using namespace std::chrono_literals;
using testing::TwoDcWorld;

constexpr int kDc1 = 0, kDc2 = 1;

class SiteOperationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(w_.runUntil([&] { return w_.steady(kDc1); }, 120s)) << "the two DCs never became steady";
  }

  static OperationLimits limits() {
    OperationLimits l;
    l.fence = 15s;
    l.token = l.catch_up = l.promote = 20s;
    l.follow = 60s;
    l.rejoin = 120s;
    return l;
  }
  SiteOperations operations() { return w_.operations(limits()); }
  Result<SwitchoverReport> switchover(const std::string& to) { return operations().switchover(to); }
  Result<PromoteReport> promote(const std::string& site, PromoteOptions options = {}) {
    return operations().promote(site, options);
  }
  Result<RejoinReport> rejoin(const std::string& site) { return operations().rejoin(site); }

  std::string said() {
    std::string all;
    for (const auto& line : w_.progress) all += line + "\n";
    return all;
  }
  std::string otherMemberOf(int dc, const std::string& than) {
    for (auto& n : w_.nodes) {
      if (n->dc == dc && n->name != than) return n->name;
    }
    return "";
  }
  void killAfterCatchUp(const std::string& victim) {
    w_.on_progress = [this, victim](const std::string& line) {
      if (line.find("catch_up:") != std::string::npos && w_.node(victim).alive) w_.killNode(victim);
    };
  }

  TwoDcWorld w_;
};

TEST_F(SiteOperationsTest, ASwitchoverAndBackMovesThePrimaryWithNothingLostAndNoRewind) {
  ASSERT_TRUE(operations().init().ok());
  auto there = switchover("dc2");
  ASSERT_TRUE(there.ok()) << there.error().message << "\n" << said();
  EXPECT_FALSE(there->resumed);
  EXPECT_TRUE(there->write_gap);
  ASSERT_TRUE(w_.runUntil([&] { return w_.steady(kDc2); }, 60s)) << said();
  EXPECT_EQ(w_.site(kDc2)->role, dcs::SiteRole::kPrimary);
  EXPECT_EQ(w_.site(kDc1)->role, dcs::SiteRole::kStandby);
  EXPECT_EQ(w_.lostOn(1), Lsn{0}) << "dc2 promoted without dc1's last commits";

  auto back = switchover("dc1");
  ASSERT_TRUE(back.ok()) << back.error().message << "\n" << said();
  ASSERT_TRUE(w_.runUntil([&] { return w_.steady(kDc1); }, 60s)) << said();
  EXPECT_EQ(w_.lostOn(2), Lsn{0});
  EXPECT_EQ(w_.rewinds(), 0) << "a clean switchover needs no rewind";
  EXPECT_LE(w_.max_writable, 1) << w_.two_writers;
  EXPECT_EQ(w_.site(kDc1)->epoch, 3) << "init gave 1; each switchover raised it";
  EXPECT_EQ(w_.peers.checkpoints, 2);
}

TEST_F(SiteOperationsTest, ASwitchoverLeavesItsJournalInBothHistoriesAndTheOldDcFollowsTheNewLeader) {
  auto report = switchover("dc2");
  ASSERT_TRUE(report.ok()) << report.error().message << "\n" << said();
  auto s1 = w_.site(kDc1), s2 = w_.site(kDc2);
  ASSERT_TRUE(s1 && s2);
  EXPECT_EQ(s1->epoch, 1);
  EXPECT_EQ(s2->epoch, 1);
  ASSERT_TRUE(s2->token);
  EXPECT_EQ(s2->token->from_site, "dc1");
  EXPECT_EQ(s2->token->timeline, 1);
  ASSERT_TRUE(s1->peer);
  EXPECT_EQ(s1->peer->scope, "pgdr") << "each DC's key names the other's, for the agents' epoch check";
  EXPECT_EQ(s1->peer->etcd_hosts, std::vector<std::string>{"etcd-dc2:2379"});
  EXPECT_FALSE(s1->operation);
  ASSERT_EQ(s1->history.size(), 1u);
  EXPECT_EQ(s1->history[0], s2->history[0]);
  EXPECT_EQ(s1->history[0].result, "done");
  std::vector<std::string> steps;
  for (const auto& step : s1->history[0].steps) steps.push_back(step.name + "=" + step.state);
  EXPECT_EQ(steps, (std::vector<std::string>{"precheck=done", "checkpoint=done", "fence=done", "token=done",
                                             "catch_up=done", "promote=done", "follow=done"}));
  // dc2 keeps the block it had; dc1 follows dc2's leader through the same slot name.
  EXPECT_NE(s2->standby_cluster_json.find(R"("primary_slot_name":"dr")"), std::string::npos);
  auto config1 = boost::json::parse(w_.key(kDc1, "config")).as_object();
  const auto& standby = config1.at("standby_cluster").as_object();
  EXPECT_EQ(standby.at("host").as_string(), w_.leader(kDc2));
  EXPECT_EQ(standby.at("port").as_int64(), 5432);
  EXPECT_EQ(standby.at("primary_slot_name").as_string(), "dr");
  EXPECT_EQ(config1.at("ttl").as_int64(), TwoDcWorld::kTtl) << "the rest of /config is kept";
  EXPECT_EQ(w_.key(kDc2, "config").find("standby_cluster"), std::string::npos);
}

TEST_F(SiteOperationsTest, BadInputGetsAClearErrorAndChangesNothing) {
  const std::string config1 = w_.key(kDc1, "config"), config2 = w_.key(kDc2, "config");
  auto expectUntouched = [&](const std::string& what) {
    EXPECT_EQ(w_.key(kDc1, "site"), "") << what;
    EXPECT_EQ(w_.key(kDc2, "site"), "") << what;
    EXPECT_EQ(w_.key(kDc1, "config"), config1) << what;
    EXPECT_EQ(w_.key(kDc2, "config"), config2) << what;
    EXPECT_EQ(w_.peers.checkpoints, 0) << what;
    EXPECT_TRUE(w_.steady(kDc1)) << what;
  };
  auto unknown = switchover("dc3");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "unknown site 'dc3'; sites.yml names dc1, dc2");
  auto already = switchover("dc1");
  ASSERT_FALSE(already.ok());
  EXPECT_EQ(already.error().message, "dc1 is already the primary DC: nothing to switch over");
  expectUntouched("already primary");

  // dc2's standby leader stops replaying; dc1 goes on writing.
  const std::string standby_leader = w_.leader(kDc2);
  w_.server(standby_leader).replay_paused = true;
  w_.run(5s);
  w_.sites.switchover.maximum_lag_bytes = 100;
  auto behind = switchover("dc2");
  ASSERT_FALSE(behind.ok());
  EXPECT_NE(behind.error().message.find("bytes behind, more than switchover.maximum_lag_bytes (100)"), std::string::npos)
      << behind.error().message;
  expectUntouched("too far behind");
  w_.sites.switchover.maximum_lag_bytes = 1 << 24;
  w_.server(standby_leader).replay_paused = false;

  w_.peers.health.longest_transaction_seconds = 60;
  auto long_tx = switchover("dc2");
  ASSERT_FALSE(long_tx.ok());
  EXPECT_NE(long_tx.error().message.find("transaction open for 60 s"), std::string::npos) << long_tx.error().message;
  expectUntouched("long transaction");
  w_.peers.health.longest_transaction_seconds = 0;

  w_.peers.health.archive_failing = true;
  auto archive = switchover("dc2");
  ASSERT_FALSE(archive.ok());
  EXPECT_NE(archive.error().message.find("archive_command is failing"), std::string::npos);
  expectUntouched("archive failing");
  w_.peers.health.archive_failing = false;

  w_.putKey(kDc1, "site", "{garbage");
  auto garbage = switchover("dc2");
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.error().message.find("holds garbage"), std::string::npos) << garbage.error().message;
  EXPECT_EQ(w_.key(kDc1, "site"), "{garbage") << "a site key that does not parse is never overwritten";
}

TEST_F(SiteOperationsTest, AStandbyPastTheTokenRollsBackAndTheOldDcIsWritableAgain) {
  const std::string standby_leader = w_.leader(kDc2);
  w_.on_progress = [&](const std::string& line) {
    // It replays WAL the demoted primary never wrote.
    if (line.find("token:") != std::string::npos) w_.server(standby_leader).lsn += 1000;
  };
  auto report = switchover("dc2");
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.error().message.find("replayed past the token"), std::string::npos) << report.error().message;
  EXPECT_NE(report.error().message.find("dc1 is the primary DC again"), std::string::npos);
  auto s1 = w_.site(kDc1);
  ASSERT_TRUE(s1);
  EXPECT_EQ(s1->role, dcs::SiteRole::kPrimary) << "unfenced";
  ASSERT_EQ(s1->history.size(), 1u);
  EXPECT_EQ(s1->history[0].result.rfind("aborted at catch_up", 0), 0u) << s1->history[0].result;
  EXPECT_FALSE(s1->operation);
  EXPECT_NE(w_.key(kDc2, "config").find("standby_cluster"), std::string::npos) << "dc2 was not promoted";
  EXPECT_EQ(w_.site(kDc2)->role, dcs::SiteRole::kStandby);
  EXPECT_TRUE(w_.runUntil([&] { return w_.writable() == std::vector<std::string>{w_.leader(kDc1)}; }, 60s))
      << "dc1's leader is not writable again";
  EXPECT_LE(w_.max_writable, 1) << w_.two_writers;
}

// Issue 15, hole 1: a switchover rolls back (dc2's standby leader stopped
// replaying), all of dc1 dies, dc2 is promoted with an epoch above both;
// when dc1 comes back it never accepts a write, and it rejoins.
TEST_F(SiteOperationsTest, ARolledBackSwitchoverThenADisasterLeavesOneWritableDc) {
  ASSERT_TRUE(operations().init().ok());
  const std::string standby_leader = w_.leader(kDc2);
  w_.server(standby_leader).replay_paused = true;
  auto rolled_back = switchover("dc2");
  ASSERT_FALSE(rolled_back.ok()) << said();
  EXPECT_NE(rolled_back.error().message.find("aborted at catch_up"), std::string::npos) << rolled_back.error().message;
  ASSERT_TRUE(w_.runUntil([&] { return w_.steady(kDc1); }, 60s)) << "dc1 is not writable again after the rollback";
  const std::int64_t dc1_epoch = w_.site(kDc1)->epoch;
  EXPECT_EQ(w_.site(kDc2)->epoch, dc1_epoch) << "dc2 must know the epoch dc1 was fenced with";
  w_.server(standby_leader).replay_paused = false;
  w_.run(10s);

  w_.killDc(kDc1);
  auto promoted = promote("dc2");
  ASSERT_TRUE(promoted.ok()) << promoted.error().message << "\n" << said();
  EXPECT_FALSE(promoted->other_reachable);
  EXPECT_GT(w_.site(kDc2)->epoch, dc1_epoch) << "dc1 (primary at its epoch) would not see itself superseded";
  ASSERT_TRUE(w_.runUntil([&] { return w_.writable().size() == 1 && w_.dcSteady(kDc2); }, 60s));
  EXPECT_EQ(w_.node(w_.writable().at(0)).dc, kDc2);

  w_.startDc(kDc1);
  for (int i = 0; i < 300; ++i) {  // 30 s: dc1's agents see dc2's higher epoch and stay fenced
    w_.tick();
    for (const auto& name : w_.writable()) ASSERT_EQ(w_.node(name).dc, kDc2) << name << " in dc1 became writable";
  }
  auto rejoined = rejoin("dc1");
  ASSERT_TRUE(rejoined.ok()) << rejoined.error().message << "\n" << said();
  EXPECT_TRUE(w_.runUntil([&] { return w_.steady(kDc2); }, 120s)) << "dc1 does not stream from dc2";
  EXPECT_LE(w_.max_writable, 1) << w_.two_writers;
}

// Issue 15, hole 2: dc2's standby leader dies right after catch_up. The
// member that takes its lock has every commit (it cascades from it), so the
// switchover finishes on it, nothing lost, no rewind.
TEST_F(SiteOperationsTest, TheStandbyLeaderKilledAfterCatchUpLosesNothing) {
  const std::string victim = w_.leader(kDc2);
  killAfterCatchUp(victim);
  auto report = switchover("dc2");
  ASSERT_TRUE(report.ok()) << report.error().message << "\n" << said();
  const auto writable = w_.writable();
  ASSERT_EQ(writable, std::vector<std::string>{otherMemberOf(kDc2, victim)});
  EXPECT_EQ(w_.lostOn(1), Lsn{0});
  EXPECT_EQ(w_.rewinds(), 0);
  EXPECT_LE(w_.max_writable, 1) << w_.two_writers;
}

// Issue 15, hole 2: dc2's other member stopped replaying before the token.
// When the standby leader dies after catch_up, that member is never
// promoted (site.token_gate): the run fails forward, and running it again
// once the member at the token is back finishes it.
TEST_F(SiteOperationsTest, AMemberBehindTheTokenIsNeverPromoted) {
  const std::string victim = w_.leader(kDc2), behind = otherMemberOf(kDc2, victim);
  w_.server(behind).replay_paused = true;
  w_.run(2s);
  killAfterCatchUp(victim);
  auto first = switchover("dc2");
  EXPECT_FALSE(first.ok()) << "nobody at the token could be promoted";
  for (int i = 0; i < 300; ++i) {
    w_.tick();
    ASSERT_FALSE(w_.server(behind).primary) << behind << " was promoted without the last commits";
  }
  w_.on_progress = {};
  w_.startNode(victim);  // its server has the token
  auto again = switchover("dc2");
  ASSERT_TRUE(again.ok()) << again.error().message << "\n" << said();
  EXPECT_TRUE(again->resumed);
  ASSERT_EQ(w_.writable(), std::vector<std::string>{victim});
  EXPECT_EQ(w_.lostOn(1), Lsn{0});
  EXPECT_LE(w_.max_writable, 1) << w_.two_writers;
}

// A coordinator that died while rolling back (dc1 still fenced): running
// the command again finishes the rollback, not the switchover.
TEST_F(SiteOperationsTest, ARollbackCutShortIsFinishedByTheNextRun) {
  const std::string op =
      R"("operation":{"kind":"switchover","from":"dc1","to":"dc2","started_at":"t0","steps":[)"
      R"({"name":"precheck","state":"done"},{"name":"checkpoint","state":"done"},{"name":"fence","state":"done"},)"
      R"({"name":"token","state":"done"},{"name":"catch_up","state":"failed"},)"
      R"({"name":"rollback","state":"started","detail":"aborted at catch_up: dc2 replayed past the token"}]})";
  w_.putKey(kDc1, "site", R"({"role":"fenced","epoch":2,)" + op + "}");
  w_.putKey(kDc2, "site", R"({"role":"standby","epoch":2,)" + op + "}");
  ASSERT_TRUE(w_.runUntil([&] { return w_.writable().empty(); }, 20s)) << "the fenced DC kept its primary";
  auto report = switchover("dc2");
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.error().message.find("aborted at catch_up: dc2 replayed past the token; dc1 is the primary DC again"),
            std::string::npos)
      << report.error().message;
  auto s1 = w_.site(kDc1);
  ASSERT_TRUE(s1);
  EXPECT_EQ(s1->role, dcs::SiteRole::kPrimary);
  EXPECT_FALSE(s1->operation);
  ASSERT_EQ(s1->history.size(), 1u);
  EXPECT_EQ(s1->history[0].result, "aborted at catch_up: dc2 replayed past the token");
  EXPECT_EQ(w_.peers.checkpoints, 0) << "nothing of the switchover was run again";
  EXPECT_NE(w_.key(kDc2, "config").find("standby_cluster"), std::string::npos) << "dc2 was not promoted";
  EXPECT_TRUE(w_.runUntil([&] { return w_.steady(kDc1); }, 60s)) << "dc1 is not writable again";
}

// The coordinator cut from dc2 (its DCS and members) once dc1 is fenced:
// the rollback reaches dc1 alone, so dc2's key keeps the open journal.
// dc1 takes writes again at once; after the heal the next run starts a new
// switchover instead of resuming the one dc1 closed, and finishes it.
TEST_F(SiteOperationsTest, CutFromTheStandbyDcOnceFencedRollsBackAndTheNextRunStartsAfresh) {
  w_.on_progress = [&](const std::string& line) {
    if (line.find("fence:") != std::string::npos) w_.coordinator_cut[kDc2] = true;
  };
  auto rolled_back = switchover("dc2");
  ASSERT_FALSE(rolled_back.ok());
  EXPECT_NE(rolled_back.error().message.find("dc1 is the primary DC again"), std::string::npos) << rolled_back.error().message;
  EXPECT_TRUE(w_.runUntil([&] { return w_.writable() == std::vector<std::string>{w_.leader(kDc1)}; }, 60s))
      << "dc1 does not take writes again while the coordinator is cut from dc2";
  ASSERT_TRUE(w_.site(kDc2) && w_.site(kDc2)->operation) << "the test needs dc2's journal left open";
  w_.on_progress = {};
  w_.coordinator_cut[kDc2] = false;
  w_.progress.clear();
  auto report = switchover("dc2");
  ASSERT_TRUE(report.ok()) << report.error().message << "\n" << said();
  EXPECT_FALSE(report->resumed) << "the rolled-back switchover was resumed";
  EXPECT_NE(said().find("closing its journal in dc2 too"), std::string::npos) << said();
  EXPECT_FALSE(w_.site(kDc2)->operation);
  EXPECT_TRUE(w_.runUntil([&] { return w_.steady(kDc2); }, 60s));
  EXPECT_EQ(w_.lostOn(1), Lsn{0});
  EXPECT_LE(w_.max_writable, 1) << w_.two_writers;
}

// Cut from dc2 after catch_up, before promote sends anything there: dc2
// was never told to promote, so the switchover still rolls back and dc1
// takes writes again (it used to stop there, leaving no primary at all).
TEST_F(SiteOperationsTest, CutFromTheStandbyDcBeforePromoteSendsAnythingRollsBack) {
  w_.on_progress = [&](const std::string& line) {
    if (line.find("catch_up:") != std::string::npos) w_.coordinator_cut[kDc2] = true;
  };
  auto report = switchover("dc2");
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.error().message.find("aborted at promote"), std::string::npos) << report.error().message;
  EXPECT_NE(report.error().message.find("dc1 is the primary DC again"), std::string::npos) << report.error().message;
  EXPECT_TRUE(w_.runUntil([&] { return w_.writable() == std::vector<std::string>{w_.leader(kDc1)}; }, 60s));
  EXPECT_NE(w_.key(kDc2, "config").find("standby_cluster"), std::string::npos) << "dc2 was promoted";
  EXPECT_LE(w_.max_writable, 1) << w_.two_writers;
}

// Cut once promote journaled that it is sending dc2's new role: the write
// may have landed, so only forward: the command says to run it again, dc1
// stays fenced, and the next run finishes.
TEST_F(SiteOperationsTest, CutFromTheStandbyDcOncePromoteIsUnderWayOnlyGoesForward) {
  w_.on_progress = [&](const std::string& line) {
    if (line.find("promote: sending") != std::string::npos) w_.coordinator_cut[kDc2] = true;
  };
  auto report = switchover("dc2");
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.error().message.find("run the command again"), std::string::npos) << report.error().message;
  EXPECT_EQ(report.error().message.find("primary DC again"), std::string::npos) << report.error().message;
  w_.run(5s);
  EXPECT_TRUE(w_.writable().empty()) << "dc1 took writes although dc2 may be promoting";
  w_.on_progress = {};
  w_.coordinator_cut[kDc2] = false;
  auto again = switchover("dc2");
  ASSERT_TRUE(again.ok()) << again.error().message << "\n" << said();
  EXPECT_TRUE(again->resumed);
  EXPECT_TRUE(w_.runUntil([&] { return w_.steady(kDc2); }, 60s));
  EXPECT_EQ(w_.lostOn(1), Lsn{0});
  EXPECT_LE(w_.max_writable, 1) << w_.two_writers;
}

// Cut from dc1 once promote is under way: dc1 is fenced and its token
// recorded, so dc2 is promoted without it and takes writes; the command
// says to run it again for dc1 to follow, and the next run does that.
TEST_F(SiteOperationsTest, CutFromTheOldDcOncePromoteIsUnderWayStillPromotesTheNewDc) {
  w_.on_progress = [&](const std::string& line) {
    if (line.find("promote: sending") != std::string::npos) w_.coordinator_cut[kDc1] = true;
  };
  auto report = switchover("dc2");
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.error().message.find("dc2 is the primary DC, but"), std::string::npos) << report.error().message;
  EXPECT_TRUE(w_.runUntil([&] { return w_.writable() == std::vector<std::string>{w_.leader(kDc2)}; }, 60s))
      << "dc2 does not take writes while the coordinator is cut from dc1";
  // Each refused call is an etcd deadline waited out: the lost DC is tried
  // once per step, not once per poll round.
  EXPECT_LE(w_.coordinator_cut_calls[kDc1], 6) << said();
  w_.on_progress = {};
  w_.coordinator_cut[kDc1] = false;
  auto again = switchover("dc2");
  ASSERT_TRUE(again.ok()) << again.error().message << "\n" << said();
  EXPECT_TRUE(w_.runUntil([&] { return w_.steady(kDc2); }, 60s));
  EXPECT_EQ(w_.lostOn(1), Lsn{0});
  EXPECT_LE(w_.max_writable, 1) << w_.two_writers;
}

// A primary whose agent hangs publishes no token (its lease guard stops
// PostgreSQL once the lease runs out, as the real guard thread does): the
// switchover rolls back and dc2 is never promoted.
TEST_F(SiteOperationsTest, APrimaryThatNeverStopsRollsBack) {
  const std::string primary = w_.leader(kDc1);
  w_.node(primary).frozen = true;
  auto report = switchover("dc2");
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.error().message.find("aborted at token"), std::string::npos) << report.error().message;
  EXPECT_EQ(w_.site(kDc1)->role, dcs::SiteRole::kPrimary);
  EXPECT_NE(w_.key(kDc2, "config").find("standby_cluster"), std::string::npos) << "dc2 was not promoted";
  EXPECT_EQ(w_.max_writable, 1) << w_.two_writers;
  w_.node(primary).frozen = false;
  EXPECT_TRUE(w_.runUntil([&] { return w_.steady(kDc1); }, 60s));
}

// A leader whose REST API does not answer is not "fenced": it may still
// take writes. The switchover rolls back.
TEST_F(SiteOperationsTest, AnUnansweringLeaderIsNotCountedAsFenced) {
  w_.peers.unreachable = {w_.leader(kDc1)};
  auto report = switchover("dc2");
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.error().message.find("aborted at fence"), std::string::npos) << report.error().message;
  EXPECT_EQ(w_.site(kDc1)->role, dcs::SiteRole::kPrimary) << "rolled back";
  EXPECT_TRUE(w_.runUntil([&] { return w_.steady(kDc1); }, 60s));
}

TEST_F(SiteOperationsTest, AnotherOperationInProgressIsNotTouched) {
  w_.putKey(kDc1, "site",
            R"({"role":"primary","epoch":3,"operation":{"kind":"rejoin","from":"dc2","to":"dc1","started_at":"x","steps":[]}})");
  const std::string before = w_.key(kDc1, "site");
  auto report = switchover("dc2");
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().message, "a rejoin from dc2 to dc1 is in progress (started x): run that command again to finish it");
  EXPECT_EQ(w_.key(kDc1, "site"), before);
}

TEST_F(SiteOperationsTest, ResumesFromTheJournalAfterTheCoordinatorDied) {
  // A coordinator died right after fencing dc1: its agents stop and publish the token.
  const std::string op =
      R"("operation":{"kind":"switchover","from":"dc1","to":"dc2","started_at":"t0","steps":[)"
      R"({"name":"precheck","state":"done"},{"name":"checkpoint","state":"done"},{"name":"fence","state":"done"}]})";
  w_.putKey(kDc1, "site", R"({"role":"fenced","epoch":1,)" + op + "}");
  w_.putKey(kDc2, "site", R"({"role":"standby","epoch":0,)" + op + "}");
  w_.run(3s);
  auto report = switchover("dc2");
  ASSERT_TRUE(report.ok()) << report.error().message << "\n" << said();
  EXPECT_TRUE(report->resumed);
  EXPECT_FALSE(report->write_gap) << "this run did not fence: it cannot know the gap";
  EXPECT_EQ(w_.peers.checkpoints, 0) << "done steps are not repeated";
  EXPECT_EQ(w_.site(kDc1)->role, dcs::SiteRole::kStandby);
  EXPECT_EQ(w_.site(kDc1)->epoch, 1) << "the epoch of the fence is kept";
  EXPECT_EQ(w_.site(kDc2)->role, dcs::SiteRole::kPrimary);
  EXPECT_EQ(w_.site(kDc2)->history.at(0).started_at, "t0");
  EXPECT_TRUE(w_.runUntil([&] { return w_.steady(kDc2); }, 60s));
  EXPECT_EQ(w_.lostOn(1), Lsn{0});
}

// Hole 5: the bound printed is the standby leader's own contact age (on its
// monotonic clock) plus ttl, and what was really lost was written inside it.
TEST_F(SiteOperationsTest, PromoteInADisasterRaisesTheEpochAndReportsTheLossBound) {
  ASSERT_TRUE(operations().init().ok());
  w_.killDc(kDc1);
  w_.run(5s);
  auto report = promote("dc2");
  ASSERT_TRUE(report.ok()) << report.error().message << "\n" << said();
  EXPECT_FALSE(report->other_reachable);
  ASSERT_TRUE(report->silent_for_seconds) << report->summary;
  // Its contact age, published at its last loop (at most loop_wait ago), plus ttl.
  EXPECT_GE(*report->silent_for_seconds, 5 - TwoDcWorld::kLoopWait + TwoDcWorld::kTtl);
  EXPECT_LE(*report->silent_for_seconds, 6 + TwoDcWorld::kTtl);
  EXPECT_NE(report->summary.find("dc2 last heard from dc1 at most " + std::to_string(*report->silent_for_seconds) +
                                 " s before this promotion: writes dc1 acknowledged after "),
            std::string::npos)
      << report->summary;
  // dc1 wrote 100 bytes a tick; it died within a tick of dc2's last copy.
  EXPECT_LE(w_.lostOn(1).value_or(1 << 20), Lsn{100});
  auto s2 = w_.site(kDc2);
  ASSERT_TRUE(s2);
  EXPECT_EQ(s2->role, dcs::SiteRole::kPrimary);
  EXPECT_EQ(s2->epoch, 2);
  EXPECT_EQ(s2->granted_epoch, 2) << "its agents cannot ask dc1 to confirm the new epoch";
  EXPECT_EQ(s2->history.at(0).kind, "promote");
  EXPECT_EQ(w_.key(kDc2, "config").find("standby_cluster"), std::string::npos);
  EXPECT_EQ(w_.site(kDc1)->epoch, 1) << "dc1 could not be reached: its key is as init left it";
  auto again = promote("dc2");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, "dc2 is already the primary DC: nothing to promote");
}

// Agents restarted while dc1 was down never saw the stream: the report says
// the loss is unknown instead of printing a bound.
TEST_F(SiteOperationsTest, PromoteSaysTheLossIsUnknownWhenItIs) {
  ASSERT_TRUE(operations().init().ok());
  w_.killDc(kDc1);
  for (auto& n : w_.nodes) {
    if (n->dc == kDc2) w_.killNode(n->name);
  }
  w_.startDc(kDc2);
  ASSERT_TRUE(w_.runUntil([&] { return !w_.leader(kDc2).empty() && w_.server(w_.leader(kDc2)).running; }, 60s));
  auto report = promote("dc2");
  ASSERT_TRUE(report.ok()) << report.error().message << "\n" << said();
  EXPECT_FALSE(report->silent_for_seconds);
  EXPECT_NE(report->summary.find("how much of dc1's last writes may be lost is unknown"), std::string::npos)
      << report->summary;
}

// "Fenced" is said only when dc1's key really says so: a key that cannot be
// written (garbage here; dc1's agents fail closed on it) is reported as such.
TEST_F(SiteOperationsTest, PromoteSaysWhenFencingTheOtherDcFailed) {
  ASSERT_TRUE(operations().init().ok());
  w_.putKey(kDc1, "site", "{garbage");
  ASSERT_TRUE(w_.runUntil([&] { return w_.writable().empty(); }, 30s)) << "dc1 kept a writable primary on a garbled key";
  auto report = promote("dc2");
  ASSERT_TRUE(report.ok()) << report.error().message << "\n" << said();
  EXPECT_TRUE(report->other_reachable);
  EXPECT_FALSE(report->other_fenced);
  EXPECT_NE(report->summary.find("dc1 could not be fenced (dc1: its site key /service/pg/site holds garbage"),
            std::string::npos)
      << report->summary;
  EXPECT_EQ(report->summary.find("dc1 is fenced"), std::string::npos) << report->summary;
  EXPECT_LE(w_.max_writable, 1) << w_.two_writers;
}

TEST_F(SiteOperationsTest, InitWritesBothSiteKeysOnceWithTheirPeers) {
  auto first = operations().init();
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(*first, "dc1: primary at epoch 1 (created)\ndc2: standby at epoch 1 (created)");
  ASSERT_TRUE(w_.site(kDc1) && w_.site(kDc1)->peer);
  EXPECT_EQ(w_.site(kDc1)->peer->site, "dc2");
  EXPECT_EQ(w_.site(kDc2)->peer->site, "dc1");
  auto again = operations().init();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, "dc1: primary at epoch 1 (kept)\ndc2: standby at epoch 1 (kept)");
  // dc1's key lost (an etcd restore, a hand-made delete) while dc2 is
  // primary after a promotion: init must not bring dc1 back as primary.
  ASSERT_TRUE(w_.observers[kDc1]->erasePrefix("/service/pg/site").ok());
  auto raw = w_.key(kDc2, "site");
  ASSERT_NE(raw.find("\"standby\""), std::string::npos);
  raw.replace(raw.find("\"standby\""), 9, "\"primary\"");
  w_.putKey(kDc2, "site", raw);
  auto missing = operations().init();
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("dc1 has no site key while dc2's says primary"), std::string::npos)
      << missing.error().message;
  EXPECT_EQ(w_.key(kDc1, "site"), "") << "init wrote dc1's key after all";
  ASSERT_TRUE(w_.observers[kDc2]->erasePrefix("/service/pgdr/site").ok());
  w_.putKey(kDc2, "config", R"({"ttl":10})");
  auto both = operations().init();
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.error().message.find("both DCs are primary clusters"), std::string::npos);
}

TEST_F(SiteOperationsTest, RejoinAfterADisasterSaysWhatEachMemberDid) {
  auto early = rejoin("dc1");
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().message, "dc2 is not the primary DC: dc1 has nothing to rejoin");
  ASSERT_TRUE(operations().init().ok());
  const std::string old_primary = w_.leader(kDc1);
  w_.killDc(kDc1);  // its primary wrote once more after dc2's last copy: it diverged
  ASSERT_TRUE(promote("dc2").ok()) << said();
  w_.startDc(kDc1);
  w_.run(5s);
  auto report = rejoin("dc1");
  ASSERT_TRUE(report.ok()) << report.error().message << "\n" << said();
  // The report says what each agent really did. The old primary went past
  // the fork; its replica, cascading from it after the restart, too.
  ASSERT_EQ(report->members.size(), 2u);
  for (const auto& [name, what] : report->members) {
    EXPECT_EQ(what, w_.node(name).postgres->rewinds > 0 ? "rewound" : "followed (no rewind needed)") << name;
  }
  EXPECT_EQ(w_.node(old_primary).postgres->rewinds, 1);
  auto s1 = w_.site(kDc1);
  ASSERT_TRUE(s1);
  EXPECT_EQ(s1->role, dcs::SiteRole::kStandby);
  EXPECT_EQ(s1->epoch, 2) << "the rejoined DC takes the primary DC's epoch";
  EXPECT_EQ(s1->history.back().kind, "rejoin");
  EXPECT_TRUE(w_.runUntil([&] { return w_.steady(kDc2); }, 60s)) << "dc1 does not stream from dc2";
  auto again = rejoin("dc1");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, "dc1 is already a standby cluster: nothing to rejoin");
  EXPECT_LE(w_.max_writable, 1) << w_.two_writers;
}

// Without site keys naming each other, dc1's agents could not learn they
// were superseded: a disaster promotion says so and needs --force. The
// test shows why: dc1, back, is writable again.
TEST_F(SiteOperationsTest, PromoteWithoutSiteKeysNeedsForceForTheOtherDcWouldComeBackWritable) {
  w_.killDc(kDc1);
  auto refused = promote("dc2");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("were never given site keys (`dcctl site init`)"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(w_.key(kDc2, "site"), "") << "nothing written";
  EXPECT_NE(w_.key(kDc2, "config").find("standby_cluster"), std::string::npos);
  auto forced = promote("dc2", PromoteOptions{.without_site_keys = true});
  ASSERT_TRUE(forced.ok()) << forced.error().message << "\n" << said();
  w_.startDc(kDc1);
  EXPECT_TRUE(w_.runUntil([&] { return w_.writable().size() == 2; }, 60s)) << "the danger the refusal names";
}

TEST_F(SiteOperationsTest, PromoteRefusesWhileTheOtherDcsPrimaryRunsUnlessTold) {
  auto refused = promote("dc2");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("use `dcctl site switchover --to dc2`"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(w_.key(kDc1, "site"), "");
  EXPECT_EQ(w_.key(kDc2, "site"), "");
  auto forced = promote("dc2", PromoteOptions{.while_primary_runs = true});
  ASSERT_TRUE(forced.ok()) << forced.error().message << "\n" << said();
  EXPECT_TRUE(forced->other_reachable);
  EXPECT_TRUE(forced->other_fenced);
  EXPECT_EQ(w_.site(kDc1)->role, dcs::SiteRole::kFenced) << "the other DC is fenced where it can be reached";
  EXPECT_EQ(w_.site(kDc1)->epoch, 1);
  EXPECT_EQ(w_.site(kDc2)->role, dcs::SiteRole::kPrimary);
  EXPECT_EQ(w_.writable(), std::vector<std::string>{w_.leader(kDc2)});
  EXPECT_LE(w_.max_writable, 1) << "dc1's primary stopped before dc2's was promoted";
}

}  // namespace
}  // namespace pgtandem::coordinator
