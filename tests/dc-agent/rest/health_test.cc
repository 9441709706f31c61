// Patroni's health-check codes as a table: one published status, one path,
// one expected code. No server, no DCS, no PostgreSQL.

#include <gtest/gtest.h>

#include "common/dcs/cluster_json.h"

#include <boost/json.hpp>

#include "dc-agent/rest/health.h"
#include "dc-agent/rest/metrics.h"
#include "dc-agent/rest/views.h"

namespace pgtandem::rest {
namespace {

using namespace std::chrono_literals;

const MonoTime kNow = MonoTime{} + 1000s;

agent::AgentStatus primary() {
  agent::AgentStatus s;
  s.name = "pg1";
  s.scope = "batman";
  s.state = "running";
  s.role = "primary";
  s.pg_running = true;
  s.pg_primary = true;
  s.server_version = 150018;
  s.timeline = 2;
  s.wal_position = 5000;
  s.holds_lock = true;
  s.lock_valid_until = kNow + 10s;
  s.dcs_ok = true;
  s.cluster_unlocked = false;
  s.last_cycle = kNow - 1s;
  s.ttl = 30s;
  return s;
}

agent::AgentStatus replica() {
  agent::AgentStatus s = primary();
  s.name = "pg2";
  s.role = "replica";
  s.pg_primary = false;
  s.wal_position.reset();
  s.holds_lock = false;
  s.lock_valid_until = {};
  s.receive_lsn = 5000;
  s.replay_lsn = 4000;
  s.cluster_optime = 5000;
  s.replication_state = "streaming";
  return s;
}

struct Row {
  const char* what;
  agent::AgentStatus status;
  std::string path;
  QueryParams query;
  int code;
};

TEST(HealthTest, PatroniCodes) {
  agent::AgentStatus expired = primary();
  expired.lock_valid_until = kNow - 1s;  // frozen agent: the lease may be gone
  agent::AgentStatus standby_leader = primary();
  standby_leader.standby_cluster = true;
  standby_leader.pg_primary = false;
  standby_leader.role = "standby_leader";
  agent::AgentStatus no_lb = replica();
  no_lb.tags.noloadbalance = true;
  agent::AgentStatus sync = replica();
  sync.sync_standby = true;
  agent::AgentStatus tagged = replica();
  tagged.raw_tags = {{"zone", "\"a\""}, {"nofailover", "true"}};
  agent::AgentStatus stopped = replica();
  stopped.state = "stopped";
  stopped.pg_running = false;
  agent::AgentStatus leader_pg_down = primary();
  leader_pg_down.pg_primary = false;
  leader_pg_down.state = "stopped";
  agent::AgentStatus fenced = primary();  // the site key fenced the DC; PostgreSQL not stopped yet
  fenced.site_role = dcs::SiteRole::kFenced;
  fenced.site_fenced = true;
  agent::AgentStatus site_primary = primary();
  site_primary.site_role = dcs::SiteRole::kPrimary;

  const std::vector<Row> rows = {
      {"/ is /primary", primary(), "/", {}, 200},
      {"primary", primary(), "/primary", {}, 200},
      {"read-write", primary(), "/read-write", {}, 200},
      {"master alias", primary(), "/master", {}, 200},
      {"leader", primary(), "/leader", {}, 200},
      {"standby-leader on primary", primary(), "/standby-leader", {}, 503},
      {"replica on primary", primary(), "/replica", {}, 503},
      {"read-only on primary", primary(), "/read-only", {}, 200},
      {"read-only-sync on primary", primary(), "/read-only-sync", {}, 200},
      {"health", primary(), "/health", {}, 200},
      {"expired lease", expired, "/primary", {}, 503},
      {"expired lease leader", expired, "/leader", {}, 503},
      {"lock but PostgreSQL down", leader_pg_down, "/primary", {}, 503},
      {"lock but PostgreSQL down: leader", leader_pg_down, "/leader", {}, 200},
      {"standby leader: primary", standby_leader, "/primary", {}, 503},
      {"standby leader", standby_leader, "/standby-leader", {}, 200},
      {"standby leader underscore", standby_leader, "/standby_leader", {}, 200},
      {"standby leader: leader", standby_leader, "/leader", {}, 200},
      {"standby leader: read-only", standby_leader, "/read-only", {}, 200},
      {"replica: primary", replica(), "/primary", {}, 503},
      {"replica", replica(), "/replica", {}, 200},
      {"replica lag ok", replica(), "/replica", {{"lag", "1kB"}}, 200},
      {"replica lag too big", replica(), "/replica", {{"lag", "100"}}, 503},
      {"replica lag garbage is ignored", replica(), "/replica", {{"lag", "lots"}}, 200},
      {"replica streaming", replica(), "/replica", {{"replication_state", "streaming"}}, 200},
      {"replica not in archive", replica(), "/replica", {{"replication_state", "in archive recovery"}}, 503},
      {"noloadbalance", no_lb, "/replica", {}, 503},
      {"read-only replica", replica(), "/read-only", {}, 200},
      {"async replica", replica(), "/async", {}, 200},
      {"sync on async replica", replica(), "/sync", {}, 503},
      {"sync replica", sync, "/sync", {}, 200},
      {"synchronous replica", sync, "/synchronous", {}, 200},
      {"async on sync replica", sync, "/async", {}, 503},
      {"read-only-sync on sync", sync, "/read-only-sync", {}, 200},
      {"read-only-sync on async", replica(), "/read-only-sync", {}, 503},
      {"tag matches", tagged, "/replica", {{"tag_zone", "a"}}, 200},
      {"bool tag matches", tagged, "/replica", {{"tag_nofailover", "true"}}, 200},
      {"tag differs", tagged, "/replica", {{"tag_zone", "b"}}, 503},
      {"tag missing", replica(), "/replica", {{"tag_zone", "a"}}, 503},
      {"tags ignored for primary", primary(), "/primary", {{"tag_zone", "a"}}, 200},
      {"stopped replica", stopped, "/replica", {}, 503},
      {"stopped health", stopped, "/health", {}, 503},
      {"unknown path", primary(), "/nothing", {}, 503},
      {"fenced DC: primary", fenced, "/primary", {}, 503},
      {"fenced DC: read-write", fenced, "/read-write", {}, 503},
      {"fenced DC: / is /primary", fenced, "/", {}, 503},
      {"fenced DC: leader", fenced, "/leader", {}, 200},
      {"site role primary", site_primary, "/primary", {}, 200},
  };
  for (const auto& row : rows) {
    EXPECT_EQ(healthStatus(row.path, row.query, row.status, kNow), row.code) << row.what;
  }
}

TEST(HealthTest, LivenessAndReadiness) {
  agent::AgentStatus p = primary();
  EXPECT_EQ(livenessStatus(p, kNow), 200);
  p.last_cycle = kNow - 31s;
  EXPECT_EQ(livenessStatus(p, kNow), 503);
  agent::AgentStatus r = replica();
  r.last_cycle = kNow - 31s;
  EXPECT_EQ(livenessStatus(r, kNow), 200) << "replicas get 2*ttl";
  r.last_cycle = kNow - 61s;
  EXPECT_EQ(livenessStatus(r, kNow), 503);
  r.pause = true;
  EXPECT_EQ(livenessStatus(r, kNow), 200) << "always alive in pause";

  EXPECT_EQ(readinessStatus({}, primary(), kNow), 200);
  EXPECT_EQ(readinessStatus({}, replica(), kNow), 200);
  EXPECT_EQ(readinessStatus({{"lag", "100"}}, replica(), kNow), 503);
  EXPECT_EQ(readinessStatus({{"lag", "100"}, {"mode", "write"}}, replica(), kNow), 200);
  agent::AgentStatus archive = replica();
  archive.replication_state = "in archive recovery";
  EXPECT_EQ(readinessStatus({}, archive, kNow), 503);
}

TEST(HealthTest, ByteSizes) {
  EXPECT_EQ(parseByteSize("0"), 0);
  EXPECT_EQ(parseByteSize("1048576"), 1048576);
  EXPECT_EQ(parseByteSize("16kB"), 16384);
  EXPECT_EQ(parseByteSize("10MB"), 10485760);
  EXPECT_EQ(parseByteSize("1GB"), 1073741824);
  EXPECT_EQ(parseByteSize("2 TB"), 2LL << 40);
  EXPECT_EQ(parseByteSize("12B"), 12);
  EXPECT_FALSE(parseByteSize(""));
  EXPECT_FALSE(parseByteSize("-1"));
  EXPECT_FALSE(parseByteSize("1XB"));
  EXPECT_FALSE(parseByteSize("99999999999TB"));
}

TEST(ViewsTest, PatroniDocument) {
  agent::AgentStatus s = primary();
  s.raw_tags = {{"zone", "\"a\""}};
  s.system_id = "7300000000000000001";
  s.pending_restart = {"max_connections"};
  s.replication = {{"pg2", "streaming", "async", "replicator", "127.0.0.1", 0}};
  const auto doc = boost::json::parse(patroniJson(s)).as_object();
  EXPECT_EQ(doc.at("state"), "running");
  EXPECT_EQ(doc.at("role"), "primary");
  EXPECT_EQ(doc.at("server_version"), 150018);
  EXPECT_EQ(doc.at("xlog").at("location"), 5000);
  EXPECT_EQ(doc.at("timeline"), 2);
  EXPECT_EQ(doc.at("tags").at("zone"), "a");
  EXPECT_EQ(doc.at("database_system_identifier"), "7300000000000000001");
  EXPECT_EQ(doc.at("pending_restart"), true);
  EXPECT_EQ(doc.at("replication").at(0).at("application_name"), "pg2");
  EXPECT_EQ(doc.at("patroni").at("scope"), "batman");
  EXPECT_FALSE(doc.contains("cluster_unlocked"));

  const auto r = boost::json::parse(patroniJson(replica())).as_object();
  EXPECT_EQ(r.at("xlog").at("received_location"), 5000);
  EXPECT_EQ(r.at("xlog").at("replayed_location"), 4000);
  EXPECT_EQ(r.at("replication_state"), "streaming");
}

TEST(ViewsTest, ClusterDocument) {
  dcs::ClusterSnapshot c;
  c.leader = dcs::LeaderInfo{"pg1", 1, 1};
  dcs::MemberInfo m1;
  m1.name = "pg1";
  m1.conn_url = "postgres://127.0.0.1:5433/postgres";
  m1.state = "running";
  m1.role = "primary";
  m1.timeline = 3;
  dcs::MemberInfo m2 = m1;
  m2.name = "pg2";
  m2.conn_url = "postgres://127.0.0.1:5434/postgres";
  m2.role = "replica";
  m2.replication_state = "streaming";
  m2.receive_lsn = 0x3000060;
  m2.replay_lsn = 0x3000000;
  m2.xlog_location = 0x3000060;
  m2.tags.nofailover = true;
  c.members = {m1, m2};
  c.status = dcs::StatusInfo{0x3000060, {}, {}, 0};
  c.sync = dcs::SyncInfo{"pg1", {"pg2"}, std::nullopt, 0};
  c.failover = dcs::FailoverInfo{"pg1", "pg2", "2030-01-01T00:00:00+00:00", 0};
  const auto doc = boost::json::parse(dcs::clusterJson(c, {false, true, true})).as_object();
  const auto& members = doc.at("members").as_array();
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].at("role"), "leader");
  EXPECT_EQ(members[0].at("host"), "127.0.0.1");
  EXPECT_EQ(members[0].at("port"), 5433);
  EXPECT_FALSE(members[0].as_object().contains("lag"));
  EXPECT_EQ(members[1].at("role"), "sync_standby");
  EXPECT_EQ(members[1].at("state"), "streaming");
  EXPECT_EQ(members[1].at("receive_lsn"), "0/3000060");
  EXPECT_EQ(members[1].at("receive_lag"), 0);
  EXPECT_EQ(members[1].at("replay_lag"), 0x60);
  EXPECT_EQ(members[1].at("tags").at("nofailover"), true);
  EXPECT_EQ(doc.at("pause"), true);
  EXPECT_EQ(doc.at("scheduled_switchover").at("to"), "pg2");

  const auto standby = boost::json::parse(dcs::clusterJson(c, {true, false, false})).as_object();
  EXPECT_EQ(standby.at("members").at(0).at("role"), "standby_leader");
  EXPECT_EQ(standby.at("members").at(1).at("role"), "replica") << "sync roles only in synchronous mode";
}

TEST(MetricsTest, PatroniNamesAndOurs) {
  agent::AgentStatus s = primary();
  s.decisions = {{"leader.renew", 7}};
  const std::string text = renderMetrics(s, kNow, WallTime{} + 100s);
  EXPECT_NE(text.find("patroni_primary{scope=\"batman\",name=\"pg1\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("patroni_postgres_running{scope=\"batman\",name=\"pg1\"} 1"), std::string::npos);
  EXPECT_NE(text.find("patroni_postgres_timeline{scope=\"batman\",name=\"pg1\"} 2"), std::string::npos);
  EXPECT_NE(text.find("# TYPE patroni_replica gauge"), std::string::npos);
  EXPECT_NE(text.find("pgtandem_decisions_total{scope=\"batman\",name=\"pg1\",rule=\"leader.renew\"} 7"),
            std::string::npos);
  EXPECT_NE(text.find("pgtandem_lock_renew_seconds"), std::string::npos);
  EXPECT_NE(text.find("pgtandem_dcs_last_contact_age_seconds"), std::string::npos);
  EXPECT_NE(text.find("pgtandem_dynamic_config_valid{scope=\"batman\",name=\"pg1\"} 1"), std::string::npos);
  s.dynamic_config_error = "ttl: must be a number";
  EXPECT_NE(renderMetrics(s, kNow, WallTime{} + 100s).find("pgtandem_dynamic_config_valid{scope=\"batman\",name=\"pg1\"} 0"),
            std::string::npos);
  EXPECT_EQ(boost::json::parse(patroniJson(s)).at("dynamic_config_error"), "ttl: must be a number");
}

TEST(MetricsTest, SiteMetricsOnlyWithASiteKey) {
  agent::AgentStatus s = primary();
  EXPECT_EQ(renderMetrics(s, kNow, WallTime{} + 100s).find("pgtandem_site_"), std::string::npos);
  s.site_role = dcs::SiteRole::kFenced;
  s.site_fenced = true;
  s.site_epoch = 3;
  const std::string text = renderMetrics(s, kNow, WallTime{} + 100s);
  EXPECT_NE(text.find("pgtandem_site_role{scope=\"batman\",name=\"pg1\",role=\"fenced\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("pgtandem_site_epoch{scope=\"batman\",name=\"pg1\"} 3"), std::string::npos);
  EXPECT_NE(text.find("pgtandem_site_fenced{scope=\"batman\",name=\"pg1\"} 1"), std::string::npos);
}

}  // namespace
}  // namespace pgtandem::rest
