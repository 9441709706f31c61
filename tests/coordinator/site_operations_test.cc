// The DC switchover's steps on two in-memory DCSs, with a small world that
// plays the agents' part (a fenced primary stops and publishes its token, a
// DC without standby_cluster promotes, a DC given one follows). Bad input,
// rollback, resume and the journal, without etcd or PostgreSQL.

#include "coordinator/site_operations.h"

#include <gtest/gtest.h>

#include <set>

#include <boost/json.hpp>

#include "common/dcs/memory_dcs.h"
#include "tests/fakes/fake_site_peers.h"

namespace pgtandem::coordinator {
namespace {

using namespace std::chrono_literals;

using testing::FakePeers;

class SiteOperationsTest : public ::testing::Test {
 protected:
  SiteOperationsTest() {
    sites_.source_file = "sites.yml";
    sites_.sites.resize(2);
    sites_.sites[0].name = "dc1";
    sites_.sites[0].scope = "pg";
    sites_.sites[1].name = "dc2";
    sites_.sites[1].scope = "pgdr";
    sites_.sites[0].etcd.hosts = {"10.0.1.1:2379"};
    sites_.sites[1].etcd.hosts = {"10.0.2.1:2379"};
    put(*dc1_, "initialize", "7000");
    put(*dc1_, "config", R"({"ttl":30,"slots":{"dr":{"type":"physical"}}})");
    put(*dc1_, "leader", "pg1");
    put(*dc1_, "members/pg1", member("primary", 5432, R"("timeline":1)"));
    put(*dc1_, "members/pg2", member("replica", 5433, R"("timeline":1)"));
    put(*dc2_, "initialize", "7000");
    put(*dc2_, "config", R"({"ttl":30,"standby_cluster":{"host":"127.0.0.1","port":5432,"primary_slot_name":"dr"}})");
    put(*dc2_, "leader", "dr1");
    put(*dc2_, "members/dr1",
        member("standby_leader", 6432,
               R"("timeline":1,"replication_state":"streaming","standby_lag":{"source":"stream","bytes":0,"seconds":0})"));
    peers_.primary_codes["pg1"] = 200;
  }

  static std::string member(const std::string& role, int port, const std::string& extra) {
    return R"({"conn_url":"postgres://127.0.0.1:)" + std::to_string(port) + R"(/postgres","api_url":"http://127.0.0.1:)" +
           std::to_string(port + 1000) + R"(/patroni","state":"running","role":")" + role + R"(",)" + extra + "}";
  }
  void put(dcs::Dcs& d, const std::string& key, const std::string& value) {
    const std::string scope = &d == dc1_.get() ? "pg" : "pgdr";
    ASSERT_TRUE(d.put("/service/" + scope + "/" + key, value).ok());
  }
  std::string get(dcs::Dcs& d, const std::string& key) {
    const std::string scope = &d == dc1_.get() ? "pg" : "pgdr";
    auto got = d.get("/service/" + scope + "/" + key);
    return got.ok() && !got->kvs.empty() ? got->kvs[0].value : "";
  }
  std::optional<dcs::SiteState> site(dcs::Dcs& d) {
    const std::string text = get(d, "site");
    if (text.empty()) return std::nullopt;
    auto parsed = dcs::parseSiteState(text);
    return parsed.ok() ? std::optional<dcs::SiteState>(*parsed) : std::nullopt;
  }

  // The agents' part, once per coordinator poll.
  void worldStep() {
    clock_.advance(100ms);
    auto s1 = site(*dc1_);
    const std::string pg1 = get(*dc1_, "members/pg1");
    if (s1 && s1->role == dcs::SiteRole::kFenced && pg1.find(R"("state":"running")") != std::string::npos && stop_when_fenced_) {
      peers_.primary_codes["pg1"] = 503;
      put(*dc1_, "members/pg1",
          R"({"conn_url":"postgres://127.0.0.1:5432/postgres","api_url":"http://127.0.0.1:6432/patroni","state":"stopped","role":"demoted",)"
          R"("demotion_token":{"system_identifier":"7000","timeline":1,"redo_lsn":1000,"redo_wal_file":"000000010000000000000001","archived":true}})");
    }
    if (get(*dc2_, "config").find("standby_cluster") == std::string::npos && peers_.dr1_in_recovery) {
      peers_.dr1_in_recovery = false;
      peers_.primary_codes["dr1"] = 200;
      put(*dc2_, "members/dr1", member("primary", 6432, R"("timeline":2)"));
    }
    if (get(*dc1_, "config").find("standby_cluster") != std::string::npos &&
        get(*dc1_, "members/pg1").find("standby_leader") == std::string::npos) {
      put(*dc1_, "members/pg1", member("standby_leader", 5432, R"("timeline":2,"replication_state":"streaming")"));
      // pg2 had diverged: its agent rewound it.
      put(*dc1_, "members/pg2",
          member("replica", 5433,
                 R"("timeline":2,"replication_state":"streaming","repaired":{"action":"rewind","at":")" +
                     formatIsoTime(clock_.wallNow()) + R"("})"));
    }
  }

  SiteOperations operations() {
    DcsFactory connect = [&](const Site& s) -> Result<std::unique_ptr<dcs::Dcs>> {
      if (s.name == "dc1" && dc1_down_) return makeError(ErrorCode::kUnavailable, "no route to host");
      return std::unique_ptr<dcs::Dcs>((s.name == "dc1" ? store1_ : store2_)->connect());
    };
    OperationLimits limits;
    limits.fence = limits.token = limits.catch_up = limits.promote = limits.follow = 5s;
    return SiteOperations(sites_, connect, peers_, clock_, limits, {}, [&](std::chrono::milliseconds) { worldStep(); });
  }
  Result<SwitchoverReport> switchover(const std::string& to) { return operations().switchover(to); }
  Result<RejoinReport> rejoin(const std::string& site) { return operations().rejoin(site); }
  Result<PromoteReport> promote(const std::string& site, bool while_primary_runs = false) {
    return operations().promote(site, while_primary_runs);
  }

  SimulatedClock clock_;
  std::shared_ptr<dcs::MemoryStore> store1_ = dcs::MemoryStore::create(clock_);
  std::shared_ptr<dcs::MemoryStore> store2_ = dcs::MemoryStore::create(clock_);
  std::unique_ptr<dcs::MemoryDcs> dc1_ = store1_->connect();
  std::unique_ptr<dcs::MemoryDcs> dc2_ = store2_->connect();
  SitesConfig sites_;
  FakePeers peers_;
  bool stop_when_fenced_ = true;
  bool dc1_down_ = false;
};

TEST_F(SiteOperationsTest, SwitchoverRunsEveryStepAndLeavesTheJournalInTheHistory) {
  auto report = switchover("dc2");
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_FALSE(report->resumed);
  ASSERT_TRUE(report->write_gap);
  EXPECT_EQ(peers_.checkpoints, 1);
  auto s1 = site(*dc1_), s2 = site(*dc2_);
  ASSERT_TRUE(s1 && s2);
  EXPECT_EQ(s1->role, dcs::SiteRole::kStandby);
  EXPECT_EQ(s2->role, dcs::SiteRole::kPrimary);
  EXPECT_EQ(s1->epoch, 1);
  EXPECT_EQ(s2->epoch, 1);
  ASSERT_TRUE(s2->token);
  EXPECT_EQ(s2->token->redo_lsn, 1000);
  EXPECT_EQ(s2->token->from_site, "dc1");
  ASSERT_TRUE(s1->peer);
  EXPECT_EQ(s1->peer->scope, "pgdr") << "each DC's key names the other's, for the agents' epoch check";
  EXPECT_EQ(s1->peer->etcd_hosts, std::vector<std::string>{"10.0.2.1:2379"});
  EXPECT_FALSE(s1->operation);
  ASSERT_EQ(s1->history.size(), 1u);
  EXPECT_EQ(s1->history[0], s2->history[0]);
  EXPECT_EQ(s1->history[0].result, "done");
  std::vector<std::string> steps;
  for (const auto& step : s1->history[0].steps) steps.push_back(step.name + "=" + step.state);
  EXPECT_EQ(steps, (std::vector<std::string>{"precheck=done", "checkpoint=done", "fence=done", "token=done",
                                             "catch_up=done", "promote=done", "follow=done"}));
  // DC2 keeps the block it had; DC1 follows DC2's leader through the same slot name.
  EXPECT_NE(s2->standby_cluster_json.find(R"("primary_slot_name":"dr")"), std::string::npos);
  auto config1 = boost::json::parse(get(*dc1_, "config")).as_object();
  const auto& standby = config1.at("standby_cluster").as_object();
  EXPECT_EQ(standby.at("port").as_int64(), 6432);
  EXPECT_EQ(standby.at("primary_slot_name").as_string(), "dr");
  EXPECT_EQ(config1.at("ttl").as_int64(), 30) << "the rest of /config is kept";
  EXPECT_EQ(get(*dc2_, "config").find("standby_cluster"), std::string::npos);
}

TEST_F(SiteOperationsTest, BadInputGetsAClearErrorAndChangesNothing) {
  const std::string config1 = get(*dc1_, "config"), config2 = get(*dc2_, "config");
  auto expectUntouched = [&](const std::string& what) {
    EXPECT_EQ(get(*dc1_, "site"), "") << what;
    EXPECT_EQ(get(*dc2_, "site"), "") << what;
    EXPECT_EQ(get(*dc1_, "config"), config1) << what;
    EXPECT_EQ(get(*dc2_, "config"), config2) << what;
    EXPECT_EQ(peers_.checkpoints, 0) << what;
  };
  auto unknown = switchover("dc3");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "unknown site 'dc3'; sites.yml names dc1, dc2");
  auto already = switchover("dc1");
  ASSERT_FALSE(already.ok());
  EXPECT_EQ(already.error().message, "dc1 is already the primary DC: nothing to switch over");
  expectUntouched("already primary");

  sites_.switchover.maximum_lag_bytes = 100;
  put(*dc2_, "members/dr1",
      member("standby_leader", 6432,
             R"("timeline":1,"replication_state":"streaming","standby_lag":{"source":"stream","bytes":5000,"seconds":3})"));
  auto behind = switchover("dc2");
  ASSERT_FALSE(behind.ok());
  EXPECT_EQ(behind.error().message, "dc2 is 5000 bytes behind, more than switchover.maximum_lag_bytes (100)");
  expectUntouched("too far behind");
  sites_.switchover.maximum_lag_bytes = 1 << 24;

  peers_.health.longest_transaction_seconds = 60;
  auto long_tx = switchover("dc2");
  ASSERT_FALSE(long_tx.ok());
  EXPECT_NE(long_tx.error().message.find("transaction open for 60 s"), std::string::npos) << long_tx.error().message;
  expectUntouched("long transaction");
  peers_.health.longest_transaction_seconds = 0;

  peers_.health.archive_failing = true;
  auto archive = switchover("dc2");
  ASSERT_FALSE(archive.ok());
  EXPECT_NE(archive.error().message.find("archive_command is failing"), std::string::npos);
  expectUntouched("archive failing");
  peers_.health.archive_failing = false;

  put(*dc1_, "site", "{garbage");
  auto garbage = switchover("dc2");
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.error().message.find("holds garbage"), std::string::npos) << garbage.error().message;
  EXPECT_EQ(get(*dc1_, "site"), "{garbage") << "a site key that does not parse is never overwritten";
}

TEST_F(SiteOperationsTest, AStandbyPastTheTokenRollsBackAndTheOldDcIsWritableAgain) {
  peers_.standby_redo = 2000;  // it replayed WAL the demoted primary never wrote
  auto report = switchover("dc2");
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.error().message.find("replayed past the token"), std::string::npos) << report.error().message;
  EXPECT_NE(report.error().message.find("dc1 is the primary DC again"), std::string::npos);
  auto s1 = site(*dc1_);
  ASSERT_TRUE(s1);
  EXPECT_EQ(s1->role, dcs::SiteRole::kPrimary) << "unfenced";
  ASSERT_EQ(s1->history.size(), 1u);
  EXPECT_EQ(s1->history[0].result.rfind("aborted at catch_up", 0), 0u) << s1->history[0].result;
  EXPECT_FALSE(s1->operation);
  EXPECT_NE(get(*dc2_, "config").find("standby_cluster"), std::string::npos) << "DC2 was not promoted";
  EXPECT_EQ(site(*dc2_)->role, dcs::SiteRole::kStandby);
}

// Epochs are never reused: after a rolled-back switchover, a promotion of
// dc2 that reaches only dc2 still gets an epoch above dc1's.
TEST_F(SiteOperationsTest, AnEpochRaisedByARolledBackSwitchoverIsNeverUsedAgain) {
  ASSERT_TRUE(operations().init().ok());
  peers_.standby_redo = 2000;
  ASSERT_FALSE(switchover("dc2").ok());
  const std::int64_t dc1_epoch = site(*dc1_)->epoch;
  EXPECT_EQ(site(*dc1_)->role, dcs::SiteRole::kPrimary);
  EXPECT_EQ(site(*dc2_)->epoch, dc1_epoch) << "dc2 must know the epoch dc1 was fenced with";
  peers_.standby_redo = 1000;
  dc1_down_ = true;
  auto promoted = promote("dc2");
  ASSERT_TRUE(promoted.ok()) << promoted.error().message;
  dc1_down_ = false;
  EXPECT_GT(site(*dc2_)->epoch, dc1_epoch) << "dc1 (primary at its epoch) would not see itself superseded";
  EXPECT_EQ(site(*dc1_)->role, dcs::SiteRole::kPrimary) << "dc1 was down: its key is unchanged";
  auto rejoined = rejoin("dc1");
  EXPECT_TRUE(rejoined.ok()) << rejoined.error().message;
}

// A coordinator that died while rolling back (dc1 still fenced): running
// the command again finishes the rollback, not the switchover.
TEST_F(SiteOperationsTest, ARollbackCutShortIsFinishedByTheNextRun) {
  const std::string op =
      R"("operation":{"kind":"switchover","from":"dc1","to":"dc2","started_at":"t0","steps":[)"
      R"({"name":"precheck","state":"done"},{"name":"checkpoint","state":"done"},{"name":"fence","state":"done"},)"
      R"({"name":"token","state":"done"},{"name":"catch_up","state":"failed"},)"
      R"({"name":"rollback","state":"started","detail":"aborted at catch_up: dc2 replayed past the token"}]})";
  put(*dc1_, "site", R"({"role":"fenced","epoch":2,)" + op + "}");
  put(*dc2_, "site", R"({"role":"standby","epoch":2,)" + op + "}");
  auto report = switchover("dc2");
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.error().message.find("aborted at catch_up: dc2 replayed past the token; dc1 is the primary DC again"),
            std::string::npos)
      << report.error().message;
  auto s1 = site(*dc1_);
  ASSERT_TRUE(s1);
  EXPECT_EQ(s1->role, dcs::SiteRole::kPrimary);
  EXPECT_FALSE(s1->operation);
  ASSERT_EQ(s1->history.size(), 1u);
  EXPECT_EQ(s1->history[0].result, "aborted at catch_up: dc2 replayed past the token");
  EXPECT_EQ(peers_.checkpoints, 0) << "nothing of the switchover was run again";
  EXPECT_NE(get(*dc2_, "config").find("standby_cluster"), std::string::npos) << "dc2 was not promoted";
}

TEST_F(SiteOperationsTest, APrimaryThatNeverStopsRollsBack) {
  stop_when_fenced_ = false;
  auto report = switchover("dc2");
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.error().message.find("aborted at fence"), std::string::npos) << report.error().message;
  EXPECT_EQ(site(*dc1_)->role, dcs::SiteRole::kPrimary);
}

// A leader whose REST API does not answer is not "fenced": it may still
// take writes. An unanswering replica is reported, not waited for.
TEST_F(SiteOperationsTest, AnUnansweringLeaderIsNotCountedAsFenced) {
  stop_when_fenced_ = false;
  peers_.unreachable = {"pg1"};
  auto report = switchover("dc2");
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.error().message.find("aborted at fence"), std::string::npos) << report.error().message;
  EXPECT_EQ(site(*dc1_)->role, dcs::SiteRole::kPrimary) << "rolled back";
}

TEST_F(SiteOperationsTest, AnotherOperationInProgressIsNotTouched) {
  put(*dc1_, "site", R"({"role":"primary","epoch":3,"operation":{"kind":"rejoin","from":"dc2","to":"dc1","started_at":"x","steps":[]}})");
  const std::string before = get(*dc1_, "site");
  auto report = switchover("dc2");
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().message, "a rejoin from dc2 to dc1 is in progress (started x): run that command again to finish it");
  EXPECT_EQ(get(*dc1_, "site"), before);
}

TEST_F(SiteOperationsTest, ResumesFromTheJournalAfterTheCoordinatorDied) {
  // A coordinator died right after fencing DC1.
  const std::string op =
      R"("operation":{"kind":"switchover","from":"dc1","to":"dc2","started_at":"t0","steps":[)"
      R"({"name":"precheck","state":"done"},{"name":"checkpoint","state":"done"},{"name":"fence","state":"done"}]})";
  put(*dc1_, "site", R"({"role":"fenced","epoch":1,)" + op + "}");
  put(*dc2_, "site", R"({"role":"standby","epoch":0,)" + op + "}");
  auto report = switchover("dc2");
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_TRUE(report->resumed);
  EXPECT_FALSE(report->write_gap) << "this run did not fence: it cannot know the gap";
  EXPECT_EQ(peers_.checkpoints, 0) << "done steps are not repeated";
  EXPECT_EQ(site(*dc1_)->role, dcs::SiteRole::kStandby);
  EXPECT_EQ(site(*dc1_)->epoch, 1) << "the epoch of the fence is kept";
  EXPECT_EQ(site(*dc2_)->role, dcs::SiteRole::kPrimary);
  EXPECT_EQ(site(*dc2_)->history.at(0).started_at, "t0");
}

TEST_F(SiteOperationsTest, PromoteInADisasterRaisesTheEpochAndReportsTheLossBound) {
  dc1_down_ = true;
  put(*dc2_, "members/dr1",
      member("standby_leader", 6432,
             R"("timeline":1,"replication_state":"streaming",)"
             R"("standby_lag":{"source":"stream","bytes":5000,"seconds":3,"contact_age":4})"));
  auto report = promote("dc2");
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_FALSE(report->other_reachable);
  EXPECT_EQ(report->known_behind_bytes, 5000);
  EXPECT_EQ(report->silent_for_seconds, 4 + 30) << "contact age plus ttl (the most the key can lag)";
  EXPECT_NE(report->summary.find("dc2 last heard from dc1 at most 34 s before this promotion: writes dc1 acknowledged after "),
            std::string::npos)
      << report->summary;
  EXPECT_NE(report->summary.find("knew it was 5000 bytes behind; more may have been written since"), std::string::npos);
  auto s2 = site(*dc2_);
  ASSERT_TRUE(s2);
  EXPECT_EQ(s2->role, dcs::SiteRole::kPrimary);
  EXPECT_EQ(s2->epoch, 1);
  EXPECT_EQ(s2->granted_epoch, 1) << "its agents cannot ask dc1 to confirm the new epoch";
  EXPECT_EQ(s2->history.at(0).kind, "promote");
  EXPECT_EQ(get(*dc2_, "config").find("standby_cluster"), std::string::npos);
  EXPECT_EQ(get(*dc1_, "site"), "") << "dc1 could not be reached";
  auto again = promote("dc2");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, "dc2 is already the primary DC: nothing to promote");
}

// An agent that never saw the stream (restarted while dc1 was down) does
// not know: the report says so instead of printing a bound.
TEST_F(SiteOperationsTest, PromoteSaysTheLossIsUnknownWhenItIs) {
  dc1_down_ = true;
  put(*dc2_, "members/dr1",
      member("standby_leader", 6432,
             R"("timeline":1,"standby_lag":{"source":"none","bytes":null,"seconds":0,"contact_age":null})"));
  auto report = promote("dc2");
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_FALSE(report->silent_for_seconds);
  EXPECT_NE(report->summary.find("how much of dc1's last writes may be lost is unknown"), std::string::npos)
      << report->summary;
}

// "Fenced" is said only when dc1's key really says so: a key that cannot
// be written (garbage here) is reported as such, not as fenced.
TEST_F(SiteOperationsTest, PromoteSaysWhenFencingTheOtherDcFailed) {
  put(*dc1_, "site", "{garbage");
  put(*dc1_, "members/pg1", member("primary", 5432, R"("timeline":1,"state":"stopped")"));
  auto report = promote("dc2");
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_TRUE(report->other_reachable);
  EXPECT_FALSE(report->other_fenced);
  EXPECT_NE(report->summary.find("dc1 could not be fenced (dc1: its site key /service/pg/site holds garbage"),
            std::string::npos)
      << report->summary;
  EXPECT_EQ(report->summary.find("dc1 is fenced"), std::string::npos) << report->summary;
}

TEST_F(SiteOperationsTest, InitWritesBothSiteKeysOnceWithTheirPeers) {
  auto first = operations().init();
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(*first, "dc1: primary at epoch 1 (created)\ndc2: standby at epoch 1 (created)");
  ASSERT_TRUE(site(*dc1_) && site(*dc1_)->peer);
  EXPECT_EQ(site(*dc1_)->peer->site, "dc2");
  EXPECT_EQ(site(*dc2_)->peer->site, "dc1");
  auto again = operations().init();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, "dc1: primary at epoch 1 (kept)\ndc2: standby at epoch 1 (kept)");
  // dc1's key lost (an etcd restore, a hand-made delete) while dc2 is
  // primary after a promotion: init must not bring dc1 back as primary.
  ASSERT_TRUE(dc1_->erasePrefix("/service/pg/site").ok());
  auto raw = get(*dc2_, "site");
  ASSERT_NE(raw.find("\"standby\""), std::string::npos);
  raw.replace(raw.find("\"standby\""), 9, "\"primary\"");
  put(*dc2_, "site", raw);
  auto missing = operations().init();
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("dc1 has no site key while dc2's says primary"), std::string::npos)
      << missing.error().message;
  EXPECT_EQ(get(*dc1_, "site"), "") << "init wrote dc1's key after all";
  put(*dc1_, "site", "");
  ASSERT_TRUE(dc1_->erasePrefix("/service/pg/site").ok());
  ASSERT_TRUE(dc2_->erasePrefix("/service/pgdr/site").ok());
  put(*dc2_, "config", R"({"ttl":30})");
  auto both = operations().init();
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.error().message.find("both DCs are primary clusters"), std::string::npos);
}

TEST_F(SiteOperationsTest, RejoinAfterADisasterSaysWhatEachMemberDid) {
  auto early = rejoin("dc1");
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().message, "dc2 is not the primary DC: dc1 has nothing to rejoin");
  dc1_down_ = true;
  ASSERT_TRUE(promote("dc2").ok());
  dc1_down_ = false;  // DC1 is back, its old primary still thinks it leads
  auto report = rejoin("dc1");
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->members, (std::vector<std::pair<std::string, std::string>>{
                                 {"pg1", "followed (no rewind needed)"}, {"pg2", "rewound"}}));
  auto s1 = site(*dc1_);
  ASSERT_TRUE(s1);
  EXPECT_EQ(s1->role, dcs::SiteRole::kStandby);
  EXPECT_EQ(s1->epoch, 1) << "the rejoined DC takes the primary DC's epoch";
  EXPECT_EQ(s1->history.back().kind, "rejoin");
  EXPECT_NE(get(*dc1_, "config").find(R"("port":6432)"), std::string::npos) << "it follows dc2's leader";
  auto again = rejoin("dc1");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, "dc1 is already a standby cluster: nothing to rejoin");
}

TEST_F(SiteOperationsTest, PromoteRefusesWhileTheOtherDcsPrimaryRunsUnlessTold) {
  auto refused = promote("dc2");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("use `dcctl site switchover --to dc2`"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(get(*dc1_, "site"), "");
  EXPECT_EQ(get(*dc2_, "site"), "");
  auto forced = promote("dc2", true);
  ASSERT_TRUE(forced.ok()) << forced.error().message;
  EXPECT_TRUE(forced->other_reachable);
  EXPECT_EQ(site(*dc1_)->role, dcs::SiteRole::kFenced) << "the other DC is fenced where it can be reached";
  EXPECT_EQ(site(*dc1_)->epoch, 1);
  EXPECT_EQ(site(*dc2_)->role, dcs::SiteRole::kPrimary);
}

}  // namespace
}  // namespace pgtandem::coordinator
