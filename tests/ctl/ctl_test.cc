// dcctl's verbs against the in-memory DCS (what needs no REST API): list,
// topology, history, show-config, edit-config, remove, dsn; the table
// formats and the YAML/JSON conversion; prompts answered on a stream.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>
#include <tuple>

#include "common/dcs/memory_dcs.h"
#include "ctl/backup_commands.h"
#include "ctl/commands.h"
#include "ctl/table.h"
#include "common/config/yaml_json.h"

namespace pgtandem::ctl {
namespace {

class CtlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.scope = "batman";
    store_ = dcs::MemoryStore::create(clock_);
    observer_ = store_->connect();
    const dcs::ClusterPaths paths("/service/", "batman");
    ASSERT_TRUE(observer_->put(paths.initialize(), "7300000000000000001").ok());
    ASSERT_TRUE(observer_->put(paths.leader(), "pg1").ok());
    ASSERT_TRUE(observer_->put(paths.config(), R"({"ttl":30,"loop_wait":10,"retry_timeout":10,"postgresql":{"parameters":{"work_mem":"4MB"}}})").ok());
    ASSERT_TRUE(observer_->put(paths.status(), R"({"optime":50331744})").ok());
    ASSERT_TRUE(observer_->put(paths.history(), R"([[1,25165984,"no recovery target specified","2026-11-22T06:00:00+00:00","pg1"]])").ok());
    member("pg1", 5433, "running", "", "");
    member("pg2", 5434, "running", "streaming", "");
    member("pg3", 5435, "running", "streaming", "pg2");
  }

  void member(const std::string& name, int port, const std::string& state, const std::string& replication,
              const std::string& replicatefrom) {
    dcs::MemberInfo m;
    m.name = name;
    m.conn_url = "postgres://127.0.0.1:" + std::to_string(port) + "/postgres";
    m.api_url = "http://127.0.0.1:1/patroni";
    m.state = state;
    m.replication_state = replication;
    m.timeline = 2;
    if (!replication.empty()) {
      m.receive_lsn = 50331744;
      m.replay_lsn = 50331744;
      m.xlog_location = 50331744;
    }
    if (!replicatefrom.empty()) m.tags.replicatefrom = replicatefrom;
    ASSERT_TRUE(observer_->put(dcs::ClusterPaths("/service/", "batman").member(name), dcs::toJson(m)).ok());
  }

  Context context(const std::string& input = "") {
    in_.str(input);
    in_.clear();
    out_.str("");
    err_.str("");
    return Context(config_, store_->connect(), Terminal{in_, out_, err_});
  }

  std::string configValue() {
    auto got = observer_->get("/service/batman/config");
    return got.ok() && !got->kvs.empty() ? got->kvs[0].value : "";
  }

  SimulatedClock clock_;
  config::Config config_;
  std::shared_ptr<dcs::MemoryStore> store_;
  std::unique_ptr<dcs::Dcs> observer_;
  std::istringstream in_;
  std::ostringstream out_, err_;
};

TEST_F(CtlTest, ListPretty) {
  auto ctx = context();
  ASSERT_EQ(listCommand(ctx, ListOptions{}), 0) << err_.str();
  const std::string out = out_.str();
  EXPECT_EQ(out.rfind("+ Cluster: batman (7300000000000000001) ", 0), 0u) << out;
  EXPECT_NE(out.find("| Member | Host           | Role    | State     | TL | Receive LSN | Receive Lag | Replay LSN | Replay Lag | Tags"), std::string::npos) << out;
  EXPECT_NE(out.find("| pg1    | 127.0.0.1:5433 | Leader  | running   |  2 |"), std::string::npos) << out;
  EXPECT_NE(out.find("| pg2    | 127.0.0.1:5434 | Replica | streaming |  2 | 0/3000060   |           0 | 0/3000060"), std::string::npos) << out;
  EXPECT_NE(out.find("{\"replicatefrom\":\"pg2\"}"), std::string::npos);
}

TEST_F(CtlTest, ListMachineFormats) {
  auto ctx = context();
  ASSERT_EQ(listCommand(ctx, ListOptions{"batman", Format::kJson}), 0);
  const auto rows = boost::json::parse(out_.str()).as_array();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].at("Cluster"), "batman");
  EXPECT_EQ(rows[0].at("Member"), "pg1");
  EXPECT_EQ(rows[0].at("Role"), "Leader");
  EXPECT_EQ(rows[1].at("State"), "streaming");

  auto ctx2 = context();
  ASSERT_EQ(listCommand(ctx2, ListOptions{"batman", Format::kTsv}), 0);
  EXPECT_EQ(out_.str().rfind("Cluster\tMember\tHost\tRole\tState\tTL", 0), 0u) << out_.str();
  EXPECT_NE(out_.str().find("batman\tpg2\t127.0.0.1:5434\tReplica\tstreaming\t2"), std::string::npos);

  auto ctx3 = context();
  ASSERT_EQ(listCommand(ctx3, ListOptions{"batman", Format::kYaml}), 0);
  EXPECT_NE(out_.str().find("- Cluster: batman\n  Member: pg1\n"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("  Receive LSN: 0/3000060\n"), std::string::npos) << out_.str();
}

TEST_F(CtlTest, ListFootersAndUnknownCluster) {
  ASSERT_TRUE(observer_->put("/service/batman/config", R"({"ttl":30,"loop_wait":10,"retry_timeout":10,"pause":true})").ok());
  ASSERT_TRUE(observer_->put("/service/batman/failover", R"({"leader":"pg1","member":"pg2","scheduled_at":"2030-01-01T00:00:00+00:00"})").ok());
  auto ctx = context();
  ASSERT_EQ(listCommand(ctx, ListOptions{}), 0);
  EXPECT_NE(out_.str().find(" Maintenance mode: on\n"), std::string::npos);
  EXPECT_NE(out_.str().find(" Switchover scheduled at: 2030-01-01T00:00:00+00:00 from: pg1 to: pg2\n"), std::string::npos);
  auto ctx2 = context();
  ASSERT_EQ(listCommand(ctx2, ListOptions{"robin"}), 0);
  EXPECT_NE(out_.str().find("Cluster: robin (uninitialized)"), std::string::npos);
}

// The server version: a column when the members differ (a minor upgrade
// under way) or with -e; a member on new binaries it has not restarted on
// shows its pending restart.
TEST_F(CtlTest, ListShowsTheVersionsWhenTheMembersDiffer) {
  for (const auto& [name, port, version, pending] : {std::tuple{"pg1", 5433, 150018, true}, std::tuple{"pg2", 5434, 150018, false},
                                                     std::tuple{"pg3", 5435, 150018, false}}) {
    dcs::MemberInfo m;
    m.name = name;
    m.conn_url = "postgres://127.0.0.1:" + std::to_string(port) + "/postgres";
    m.state = "running";
    m.timeline = 2;
    m.server_version = version;
    m.pending_restart = pending;
    ASSERT_TRUE(observer_->put(dcs::ClusterPaths("/service/", "batman").member(name), dcs::toJson(m)).ok());
  }
  auto same = context();
  ASSERT_EQ(listCommand(same, ListOptions{}), 0);
  EXPECT_EQ(out_.str().find("Version"), std::string::npos) << "one version: no column\n" << out_.str();
  auto extended = context();
  ListOptions e;
  e.extended = true;
  ASSERT_EQ(listCommand(extended, e), 0);
  EXPECT_NE(out_.str().find("| Version | Pending restart |"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("| 15.18   | *               |"), std::string::npos) << out_.str();

  dcs::MemberInfo upgraded = *dcs::parseMember("pg2", observer_->get("/service/batman/members/pg2")->kvs[0].value);
  upgraded.server_version = 150020;
  ASSERT_TRUE(observer_->put("/service/batman/members/pg2", dcs::toJson(upgraded)).ok());
  auto mixed = context();
  ASSERT_EQ(listCommand(mixed, ListOptions{}), 0);
  EXPECT_NE(out_.str().find("| Version | Pending restart |"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("| 15.20   |"), std::string::npos) << out_.str();
}

TEST_F(CtlTest, ListShowsTheStandbyLag) {
  dcs::MemberInfo m;
  m.name = "pg1";
  m.conn_url = "postgres://127.0.0.1:5433/postgres";
  m.state = "running";
  m.role = "standby_leader";
  m.standby_source = "stream";
  m.standby_lag_bytes = 4096;
  m.standby_lag_seconds = 3;
  ASSERT_TRUE(observer_->put("/service/batman/members/pg1", dcs::toJson(m)).ok());
  ASSERT_TRUE(observer_->put("/service/batman/config",
                             R"({"ttl":30,"loop_wait":10,"retry_timeout":10,"standby_cluster":{"host":"dc1","port":5432}})").ok());
  auto ctx = context();
  ASSERT_EQ(listCommand(ctx, ListOptions{}), 0);
  EXPECT_NE(out_.str().find("| pg1    | 127.0.0.1:5433 | Standby Leader |"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find(" Standby lag behind the primary DC: 4096 bytes, 3 s (stream)\n"), std::string::npos) << out_.str();
}

TEST_F(CtlTest, TopologyFollowsReplicatefrom) {
  auto ctx = context();
  ASSERT_EQ(topologyCommand(ctx, ListOptions{}), 0);
  const std::string out = out_.str();
  const auto pg1 = out.find("| pg1 "), pg2 = out.find("| + pg2 "), pg3 = out.find("|   + pg3 ");
  ASSERT_NE(pg1, std::string::npos) << out;
  ASSERT_NE(pg2, std::string::npos) << out;
  ASSERT_NE(pg3, std::string::npos) << out;
  EXPECT_LT(pg1, pg2);
  EXPECT_LT(pg2, pg3);
}

TEST_F(CtlTest, HistoryAndShowConfig) {
  auto ctx = context();
  ASSERT_EQ(historyCommand(ctx, "", Format::kTsv), 0);
  EXPECT_EQ(out_.str(), "TL\tLSN\tReason\tTimestamp\tNew Leader\n1\t25165984\tno recovery target specified\t2026-11-22T06:00:00+00:00\tpg1\n");
  auto ctx2 = context();
  ASSERT_EQ(showConfigCommand(ctx2, ""), 0);
  EXPECT_EQ(out_.str(), "ttl: 30\nloop_wait: 10\nretry_timeout: 10\npostgresql:\n  parameters:\n    work_mem: 4MB\n");
}

TEST_F(CtlTest, EditConfigWithSettingsShowsADiffAndAsks) {
  auto declined = context("n\n");
  EXPECT_EQ(editConfigCommand(declined, "", EditOptions{{"ttl=40"}, {}, "", "", false}), 1);
  EXPECT_NE(out_.str().find("-ttl: 30\n+ttl: 40\n"), std::string::npos) << out_.str();
  EXPECT_NE(err_.str().find("aborted, nothing was written"), std::string::npos);
  EXPECT_NE(configValue().find("\"ttl\":30"), std::string::npos);

  auto accepted = context("y\n");
  EXPECT_EQ(editConfigCommand(accepted, "", EditOptions{{"ttl=40", "synchronous_mode=true"}, {"max_connections=200", "work_mem=null"}, "", "", false}), 0)
      << err_.str();
  const auto doc = boost::json::parse(configValue());
  EXPECT_EQ(doc.at("ttl"), 40);
  EXPECT_EQ(doc.at("synchronous_mode"), true);
  EXPECT_EQ(doc.at("postgresql").at("parameters").at("max_connections"), 200);
  EXPECT_FALSE(doc.at("postgresql").at("parameters").as_object().contains("work_mem"));

  auto unchanged = context();
  EXPECT_EQ(editConfigCommand(unchanged, "", EditOptions{{"ttl=40"}, {}, "", "", true}), 0);
  EXPECT_EQ(out_.str(), "Not changed\n");
}

TEST_F(CtlTest, EditConfigRefusesInvalidValuesAndKeepsTheOldOne) {
  const std::string before = configValue();
  auto ctx = context();
  ctx.force = true;
  EXPECT_EQ(editConfigCommand(ctx, "", EditOptions{{"ttl=5"}, {}, "", "", true}), 1);
  EXPECT_NE(err_.str().find("invalid"), std::string::npos) << err_.str();
  auto bad_type = context();
  bad_type.force = true;
  EXPECT_EQ(editConfigCommand(bad_type, "", EditOptions{{"loop_wait=soon"}, {}, "", "", true}), 1);
  auto bad_syntax = context();
  EXPECT_EQ(editConfigCommand(bad_syntax, "", EditOptions{{"=3"}, {}, "", "", true}), 1);
  EXPECT_EQ(configValue(), before);
}

TEST_F(CtlTest, EditConfigApplyAndReplaceFromYaml) {
  auto apply = context("postgresql:\n  parameters:\n    work_mem: 8MB\nmaximum_lag_on_failover: 2097152\n");
  apply.force = true;
  ASSERT_EQ(editConfigCommand(apply, "", EditOptions{{}, {}, "-", "", true}), 0) << err_.str();
  auto doc = boost::json::parse(configValue());
  EXPECT_EQ(doc.at("postgresql").at("parameters").at("work_mem"), "8MB");
  EXPECT_EQ(doc.at("maximum_lag_on_failover"), 2097152);
  EXPECT_EQ(doc.at("ttl"), 30);

  auto replace = context("ttl: 20\nloop_wait: 5\nretry_timeout: 5\n");
  replace.force = true;
  ASSERT_EQ(editConfigCommand(replace, "", EditOptions{{}, {}, "", "-", true}), 0) << err_.str();
  EXPECT_EQ(boost::json::parse(configValue()), boost::json::parse(R"({"ttl":20,"loop_wait":5,"retry_timeout":5})"));

  auto broken = context("ttl: [1,\n");
  broken.force = true;
  EXPECT_EQ(editConfigCommand(broken, "", EditOptions{{}, {}, "-", "", true}), 1);
  EXPECT_NE(err_.str().find("-:"), std::string::npos) << "names the input and line: " << err_.str();
}

TEST_F(CtlTest, EditConfigInTheEditor) {
  // The "editor" is a sed script: it edits the file in place, as vi would.
  ::setenv("EDITOR", "sed -i -e 's/^ttl: 30/ttl: 45/'", 1);
  auto ctx = context("y\n");
  EXPECT_EQ(editConfigCommand(ctx, "", EditOptions{}), 0) << err_.str();
  EXPECT_NE(out_.str().find("-ttl: 30\n+ttl: 45\n"), std::string::npos) << out_.str();
  EXPECT_EQ(boost::json::parse(configValue()).at("ttl"), 45);
  ::setenv("EDITOR", "false", 1);
  auto failing = context();
  EXPECT_EQ(editConfigCommand(failing, "", EditOptions{}), 1);
  EXPECT_NE(err_.str().find("the editor (false) failed; nothing was written"), std::string::npos) << err_.str();
  ::setenv("EDITOR", "sed -i -e 's/^ttl: 45/ttl: [/'", 1);
  auto broken = context();
  EXPECT_EQ(editConfigCommand(broken, "", EditOptions{}), 1);
  EXPECT_NE(err_.str().find("dcctl: the edited configuration:"), std::string::npos) << err_.str();
  ::unsetenv("EDITOR");
  EXPECT_EQ(boost::json::parse(configValue()).at("ttl"), 45);
}

TEST_F(CtlTest, RemoveAsksForTheNameTheSentenceAndTheLeader) {
  auto wrong_name = context("robin\n");
  EXPECT_EQ(removeCommand(wrong_name, ""), 1);
  auto no_sentence = context("batman\nyes\n");
  EXPECT_EQ(removeCommand(no_sentence, ""), 1);
  auto wrong_leader = context("batman\nYes I am aware\npg2\n");
  EXPECT_EQ(removeCommand(wrong_leader, ""), 1);
  EXPECT_TRUE(observer_->get("/service/batman/leader")->kvs.size() == 1) << "nothing was removed";
  auto done = context("batman\nYes I am aware\npg1\n");
  EXPECT_EQ(removeCommand(done, ""), 0) << err_.str();
  EXPECT_TRUE(observer_->getPrefix("/service/batman/")->kvs.empty());
}

TEST_F(CtlTest, DsnAndUnknownMembers) {
  auto ctx = context();
  ASSERT_EQ(dsnCommand(ctx, "", "", ""), 0);
  EXPECT_EQ(out_.str(), "host=127.0.0.1 port=5433\n");
  auto replica = context();
  ASSERT_EQ(dsnCommand(replica, "", "replica", ""), 0);
  EXPECT_NE(out_.str().find("port=543"), std::string::npos);
  auto unknown = context();
  EXPECT_EQ(dsnCommand(unknown, "", "", "pg9"), 1);
  EXPECT_EQ(err_.str(), "dcctl: pg9 is not a member of cluster batman\n");
  auto restart_unknown = context();
  restart_unknown.force = true;
  EXPECT_EQ(restartCommand(restart_unknown, MemberSelection{"", {"pg9"}, "any"}, {}), 1);
  EXPECT_EQ(err_.str(), "dcctl: pg9 is not a member of cluster batman\n");
}

TEST_F(CtlTest, ChangesWithoutALiveMemberFailWithAReason) {
  // The members' API URLs point nowhere: nothing answers.
  auto ctx = context();
  ctx.force = true;
  EXPECT_EQ(pauseCommand(ctx, "", true, false), 1);
  EXPECT_NE(err_.str().find("no member answered"), std::string::npos) << err_.str();
  auto no_leader = context();
  ASSERT_TRUE(observer_->erasePrefix("/service/batman/leader").ok());
  EXPECT_EQ(switchoverCommand(no_leader, "", "", "pg2", ""), 1);
  EXPECT_EQ(err_.str(), "dcctl: cluster batman has no leader: use failover\n");
}

// The same candidate rule as the agents' (common/dcs/candidates.h), said
// before anything is sent.
TEST_F(CtlTest, ACandidateThatCannotBePromotedIsRefusedBeforeAsking) {
  dcs::MemberInfo tagged;
  tagged.name = "pg3";
  tagged.conn_url = "postgres://127.0.0.1:5435/postgres";
  tagged.state = "running";
  tagged.tags.nofailover = true;
  ASSERT_TRUE(observer_->put("/service/batman/members/pg3", dcs::toJson(tagged)).ok());
  auto failover = context();
  failover.force = true;
  EXPECT_EQ(failoverCommand(failover, "", "pg3"), 1);
  EXPECT_EQ(err_.str(), "dcctl: cannot fail over: member pg3 is tagged nofailover\n");
  member("pg2", 5434, "stopped", "", "");
  auto switchover = context();
  switchover.force = true;
  EXPECT_EQ(switchoverCommand(switchover, "", "", "pg2", ""), 1);
  EXPECT_EQ(err_.str(), "dcctl: cannot switch over: member pg2 is not running (stopped)\n");
}

TEST(YamlJsonTest, RoundTrip) {
  const std::string json = R"({"ttl":30,"name":"a: b","flag":true,"none":null,"list":[1,"x"],"empty":{},"nested":{"k":"v"}})";
  auto yaml = config::jsonToYaml(json);
  ASSERT_TRUE(yaml.ok());
  EXPECT_EQ(*yaml, "ttl: 30\nname: \"a: b\"\nflag: true\nnone: null\nlist:\n  - 1\n  - x\nempty: {}\nnested:\n  k: v\n");
  auto back = config::yamlToJson(*yaml, "test");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(boost::json::parse(*back), boost::json::parse(json));
  EXPECT_EQ(boost::json::parse(*config::yamlToJson("a: 'on'\nb: on\nc: 1.5\n", "t")), boost::json::parse(R"({"a":"on","b":true,"c":1.5})"));
}

TEST(BackupTableTest, ListsEachBackupWithItsTypePriorAndSizesInEveryFormat) {
  backup::BackupManifest full;
  full.label = "20261204-100000F";
  full.from_replica = true;
  full.timeline = 1;
  full.start_wal = "000000010000000000000002";
  full.stop_wal = "000000010000000000000003";
  backup::ManifestEntry file;
  file.path = "base/5/1259";
  file.size = 3 << 20;
  full.entries.push_back(file);
  backup::BackupManifest incr = full;
  incr.label = "20261204-110000I";
  incr.type = backup::BackupType::kIncr;
  incr.prior = full.label;
  incr.entries[0].reference = full.label;
  const Table table = backupTable("main", {full, incr}, {"20261204-120000F"});
  std::ostringstream json;
  render(table, Format::kJson, json);
  const auto rows = boost::json::parse(json.str()).as_array();
  ASSERT_EQ(rows.size(), 3u) << json.str();
  EXPECT_EQ(rows[1].at("Type").as_string(), "incr");
  EXPECT_EQ(rows[1].at("Prior").as_string(), full.label);
  EXPECT_EQ(rows[1].at("Size").as_string(), "3.0 MB");
  EXPECT_EQ(rows[1].at("Copied").as_string(), "0 B");
  EXPECT_EQ(rows[0].at("From").as_string(), "replica");
  EXPECT_EQ(rows[2].at("Type").as_string(), "unfinished");
  std::ostringstream pretty;
  render(table, Format::kPretty, pretty);
  EXPECT_NE(pretty.str().find("Stanza: main"), std::string::npos) << pretty.str();
  std::ostringstream yaml;
  render(table, Format::kYaml, yaml);
  EXPECT_NE(yaml.str().find("Label: 20261204-110000I"), std::string::npos) << yaml.str();
}

}  // namespace
}  // namespace pgtandem::ctl
