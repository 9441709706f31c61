// The cluster state model: Patroni's key layout and JSON values, and garbage
// that is skipped and reported once.

#include <gtest/gtest.h>

#include "common/dcs/cluster.h"
#include "common/dcs/memory_dcs.h"

namespace pgtandem::dcs {
namespace {

// Values as Patroni 4.x writes them (captured from its docs and code).
const char* kPatroniMember =
    R"({"conn_url":"postgres://10.0.0.2:5432/postgres","api_url":"http://10.0.0.2:8008/patroni",)"
    R"("state":"streaming","role":"replica","version":"4.0.4","xlog_location":50331808,)"
    R"("receive_lsn":50331808,"replay_lsn":50331800,"replication_state":"streaming","timeline":3,)"
    R"("tags":{"nofailover":false,"failover_priority":2,"replicatefrom":"n1","dc":"east"}})";

class ClusterTest : public ::testing::Test {
 protected:
  void put(const std::string& key, const std::string& value) { ASSERT_TRUE(dcs_->put(paths_.base() + key, value, 0).ok()); }

  SimulatedClock clock_;
  std::shared_ptr<MemoryStore> store_ = MemoryStore::create(clock_);
  std::unique_ptr<MemoryDcs> dcs_ = store_->connect();
  ClusterPaths paths_{"/service", "batman"};
  MalformedValueLog log_;
};

TEST(ClusterPathsTest, FollowsPatronisLayout) {
  ClusterPaths paths("service/", "batman");
  EXPECT_EQ(paths.base(), "/service/batman/");
  EXPECT_EQ(paths.leader(), "/service/batman/leader");
  EXPECT_EQ(paths.member("n1"), "/service/batman/members/n1");
  EXPECT_EQ(ClusterPaths("", "x").base(), "/service/x/");
}

TEST_F(ClusterTest, ReadsPatroniWrittenValues) {
  put("initialize", "7301234567890123456");
  put("config", R"({"ttl":30,"loop_wait":10,"postgresql":{"use_pg_rewind":true}})");
  put("leader", "n1");
  put("members/n2", kPatroniMember);
  put("members/n1", R"({"conn_url":"postgres://10.0.0.1:5432/postgres","api_url":"http://10.0.0.1:8008/patroni","state":"running","role":"master","version":"3.0.2","xlog_location":50331808,"timeline":3})");
  put("status", R"({"optime":50331808,"slots":{"n2":50331808,"dr":50331000},"retain_slots":["n1","n2"]})");
  put("sync", R"({"leader":"n1","sync_standby":"n2,n3","quorum":1})");
  put("failover", R"({"leader":"n1","member":"n2","scheduled_at":"2026-11-22T10:00:00+00:00"})");
  put("history", R"([[1,25165984,"no recovery target specified","2026-11-20T10:00:00+00:00","n1"],[2,33554592,"no recovery target specified"]])");
  put("failsafe", R"({"n1":"http://10.0.0.1:8008/patroni","n2":"http://10.0.0.2:8008/patroni"})");

  auto snapshot = loadCluster(*dcs_, paths_, log_);
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(log_.reportedCount(), 0u);
  EXPECT_EQ(snapshot->initialize, "7301234567890123456");
  ASSERT_TRUE(snapshot->config_json);
  ASSERT_TRUE(snapshot->leader);
  EXPECT_EQ(snapshot->leader->name, "n1");
  EXPECT_FALSE(snapshot->isUnlocked());
  ASSERT_EQ(snapshot->members.size(), 2u);
  EXPECT_EQ(snapshot->members[0].name, "n1");
  EXPECT_EQ(snapshot->members[0].role, "primary") << "Patroni 3's 'master' reads as 'primary'";
  ASSERT_NE(snapshot->leaderMember(), nullptr);
  const MemberInfo* n2 = snapshot->member("n2");
  ASSERT_NE(n2, nullptr);
  EXPECT_EQ(n2->replay_lsn, 50331800);
  EXPECT_EQ(n2->timeline, 3);
  EXPECT_EQ(n2->tags.failover_priority, 2);
  EXPECT_EQ(n2->tags.replicatefrom, "n1");
  EXPECT_EQ(n2->tags.other.at("dc"), "\"east\"");
  EXPECT_GT(n2->mod_revision, 0);
  EXPECT_EQ(snapshot->status->slots.at("dr"), 50331000);
  EXPECT_EQ(snapshot->sync->sync_standby, (std::vector<std::string>{"n2", "n3"}));
  EXPECT_EQ(snapshot->failover->candidate, "n2");
  ASSERT_EQ(snapshot->history.size(), 2u);
  EXPECT_EQ(snapshot->history[0].new_leader, "n1");
  EXPECT_EQ(snapshot->failsafe.size(), 2u);
}

TEST_F(ClusterTest, GarbageIsSkippedAndReportedOnce) {
  put("leader", "n1");
  put("members/n1", R"({"role":"primary","state":"running"})");
  put("members/bad", "{not json");
  put("members/typed", R"({"xlog_location":"many"})");
  put("status", "[1,2]");
  put("config", "null");
  put("history", R"([["x"]])");
  put("failover", "{}");
  put("sync", R"({"sync_standby":7})");

  for (int i = 0; i < 3; ++i) {
    auto snapshot = loadCluster(*dcs_, paths_, log_);
    ASSERT_TRUE(snapshot.ok());
    EXPECT_EQ(snapshot->members.size(), 1u);
    EXPECT_FALSE(snapshot->status);
    EXPECT_FALSE(snapshot->config_json);
    EXPECT_FALSE(snapshot->failover);
    EXPECT_FALSE(snapshot->sync);
    EXPECT_TRUE(snapshot->history.empty());
  }
  EXPECT_EQ(log_.reportedCount(), 7u) << "each bad value is reported once, not once per read";
  // A new bad value at the same key is a new report.
  put("members/bad", "{still not json");
  (void)loadCluster(*dcs_, paths_, log_);
  EXPECT_EQ(log_.reportedCount(), 8u);
}

// Member keys: EveryMemberFieldRoundTripsToTheSameText below.
TEST(ClusterJsonTest, RoundTripsEveryValue) {
  StatusInfo status{42, {{"n2", 40}}, {"n2"}, 0};
  EXPECT_EQ(*parseStatus(toJson(status)), status);
  SyncInfo sync{"n1", {"n2", "n3"}, 1, 0};
  EXPECT_EQ(*parseSync(toJson(sync)), sync);
  SyncInfo none{"n1", {}, std::nullopt, 0};
  EXPECT_EQ(toJson(none), R"({"leader":"n1","sync_standby":null})");
  FailoverInfo failover{"n1", "n2", "2026-11-22T10:00:00+00:00", 0};
  EXPECT_EQ(*parseFailover(toJson(failover)), failover);
  std::vector<HistoryEntry> history{{1, 100, "no recovery target specified", "2026-11-22T10:00:00+00:00", "n2"}};
  EXPECT_EQ(*parseHistory(toJson(history)), history);
}

// Agents compare the DCS copy of their member key with what they would
// write (toJson of both): every field must survive the round trip, or an
// agent would rewrite its key every loop.
TEST(ClusterJson, EveryMemberFieldRoundTripsToTheSameText) {
  MemberInfo m;
  m.name = "dr1";
  m.conn_url = "postgres://10.0.2.1:5432/postgres";
  m.api_url = "http://10.0.2.1:8008/patroni";
  m.state = "running";
  m.role = "standby_leader";
  m.version = "0.1.0";
  m.proxy_url = "postgres://10.0.2.9:5432/postgres";
  m.tags.nofailover = true;
  m.tags.failover_priority = 2;
  m.tags.replicatefrom = "dr2";
  m.tags.other["zone"] = "\"b\"";
  m.xlog_location = 5000;
  m.receive_lsn = 5000;
  m.replay_lsn = 4900;
  m.replication_state = "streaming";
  m.timeline = 3;
  m.pending_restart = true;
  m.server_version = 150020;
  m.pause = true;
  m.scheduled_restart = "2026-12-01T10:00:00+00:00";
  m.standby_source = "stream";
  m.standby_lag_bytes = 12;
  m.standby_lag_seconds = 1;
  m.demotion_token = DemotionToken{"7000", 2, 4096, "000000020000000000000001", "", true};
  m.repaired = "rewind";
  m.repaired_at = "2026-12-01T09:00:00.000Z";
  const std::string text = toJson(m);
  auto back = parseMember("dr1", text);
  ASSERT_TRUE(back.ok()) << back.error().toString();
  EXPECT_EQ(*back, m);
  EXPECT_EQ(toJson(*back), text);
  StatusInfo status{42, {{"dr", 40}}, {"dr"}, 0};
  EXPECT_EQ(toJson(*parseStatus(toJson(status))), toJson(status));
}

TEST(ClusterJson, StandbyLagRoundTrips) {
  MemberInfo m;
  m.name = "dr1";
  m.state = "running";
  m.role = "standby_leader";
  m.standby_source = "archive";
  m.standby_lag_seconds = 12;
  auto back = parseMember("dr1", toJson(m));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->standby_source, "archive");
  EXPECT_FALSE(back->standby_lag_bytes);
  EXPECT_EQ(back->standby_lag_seconds, 12);
  m.standby_lag_bytes = 77;
  EXPECT_EQ(parseMember("dr1", toJson(m))->standby_lag_bytes, 77);
}

}  // namespace
}  // namespace pgtandem::dcs

namespace pgtandem::dcs {
namespace {

TEST(MarksTest, RoundTripAndGarbageIsNamed) {
  MemberMark mark;
  mark.nofailover = mark.noloadbalance = true;
  mark.reason = "upgrade to 15.20";
  const std::map<std::string, MemberMark> marks = {{"pg2", mark}};
  auto back = parseMarks(marksJson(marks));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, marks);
  MemberTags tags;
  tags.nosync = true;
  const MemberTags marked = withMark(tags, &back->at("pg2"));
  EXPECT_TRUE(marked.nofailover && marked.noloadbalance && marked.nosync) << "the mark adds, never removes";
  EXPECT_EQ(withMark(tags, nullptr), tags);
  for (const char* bad : {"[]", R"({"pg2": true})", R"({"pg2": {"nofailover": "yes"}})", R"({"pg2": {"novacuum": true}})",
                          R"({"pg2": {"reason": 3}})"}) {
    auto parsed = parseMarks(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
  }
}

}  // namespace
}  // namespace pgtandem::dcs
