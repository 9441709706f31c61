// The REST API of real dc-agents (real etcd, real PostgreSQL 15): every
// endpoint and status code on a three-node cluster, the actions (switchover,
// failover, restart, reload, reinitialize, config), and HAProxy with
// Patroni's standard configuration following a failover.

#include <boost/json.hpp>

#include "tests/dc-agent/agent_cluster.h"

namespace pgtandem::testing {
namespace {

using namespace std::chrono_literals;

using RestCluster = AgentCluster;

std::string roleOf(const http::Response& patroni) {
  boost::system::error_code ec;
  auto doc = boost::json::parse(patroni.body, ec);
  if (ec || !doc.is_object() || !doc.as_object().contains("role")) return "";
  return std::string(doc.at("role").as_string());
}

TEST_F(RestCluster, EndpointsAndActions) {
  for (auto& n : nodes_) startAgent(n);
  ASSERT_TRUE(eventually([&] { return healthy(3); }, 120s)) << "no healthy three-node cluster";
  const std::string first = *leader();
  ASSERT_TRUE(session(byName(first))->execute("CREATE TABLE t (v text)").ok());
  // Health checks: the status the agents publish catches up within a loop.
  ASSERT_TRUE(eventually(
      [&] {
        for (auto& n : nodes_) {
          const bool leads = n.name == first;
          if (api(n, "GET", "/primary").status != (leads ? 200 : 503)) return false;
          if (api(n, "GET", "/replica").status != (leads ? 503 : 200)) return false;
        }
        // The leader's last published status lists both standbys.
        const auto doc = boost::json::parse(api(byName(first), "GET", "/patroni").body);
        return doc.as_object().contains("replication") && doc.at("replication").as_array().size() == 2;
      },
      30s))
      << "health checks do not match the cluster";
  for (auto& n : nodes_) {
    const bool leads = n.name == first;
    SCOPED_TRACE(n.name);
    EXPECT_EQ(api(n, "GET", "/").status, leads ? 200 : 503);
    EXPECT_EQ(api(n, "GET", "/read-write").status, leads ? 200 : 503);
    EXPECT_EQ(api(n, "GET", "/leader").status, leads ? 200 : 503);
    EXPECT_EQ(api(n, "GET", "/standby-leader").status, 503);
    EXPECT_EQ(api(n, "HEAD", "/primary").status, leads ? 200 : 503);
    EXPECT_EQ(api(n, "OPTIONS", "/primary").status, leads ? 200 : 503);
    EXPECT_EQ(api(n, "GET", "/read-only").status, 200);
    EXPECT_EQ(api(n, "GET", "/replica?lag=1GB").status, leads ? 503 : 200);
    EXPECT_EQ(api(n, "GET", "/replica?replication_state=streaming").status, leads ? 503 : 200);
    EXPECT_EQ(api(n, "GET", "/replica?tag_zone=a").status, 503);
    EXPECT_EQ(api(n, "GET", "/async").status, leads ? 503 : 200);
    EXPECT_EQ(api(n, "GET", "/sync").status, 503);
    EXPECT_EQ(api(n, "GET", "/read-only-sync").status, leads ? 200 : 503);
    EXPECT_EQ(api(n, "GET", "/health").status, 200);
    EXPECT_EQ(api(n, "GET", "/liveness").status, 200);
    EXPECT_EQ(api(n, "GET", "/readiness").status, 200);
    const auto patroni = api(n, "GET", "/patroni");
    EXPECT_EQ(patroni.status, 200);
    EXPECT_EQ(roleOf(patroni), leads ? "primary" : "replica");
    auto doc = boost::json::parse(patroni.body);
    EXPECT_EQ(doc.at("state"), "running");
    EXPECT_EQ(doc.at("server_version").as_int64() / 10000, 15);
    EXPECT_EQ(doc.at("patroni").at("scope"), "itest");
    EXPECT_EQ(doc.at("database_system_identifier").as_string().size(), 19u);
    if (leads) {
      EXPECT_FALSE(doc.at("replication").as_array().empty());
    }
    const auto metrics = api(n, "GET", "/metrics");
    EXPECT_NE(metrics.body.find("patroni_primary{scope=\"itest\",name=\"" + n.name + "\"} " + (leads ? "1" : "0")),
              std::string::npos)
        << metrics.body.substr(0, 400);
  }
  const auto cluster = api(byName(first), "GET", "/cluster");
  ASSERT_EQ(cluster.status, 200);
  const auto members = boost::json::parse(cluster.body).at("members").as_array();
  ASSERT_EQ(members.size(), 3u);
  for (const auto& m : members) {
    const bool is_first = m.at("name").as_string() == first;
    EXPECT_EQ(m.at("role"), is_first ? "leader" : "replica");
    EXPECT_EQ(m.at("state"), is_first ? "running" : "streaming");
  }
  EXPECT_EQ(api(byName(first), "GET", "/history").status, 200);
  EXPECT_EQ(api(byName(first), "GET", "/config").status, 200);

  // Changes need credentials; bad bodies get 400 and change nothing.
  AgentNode& any = nodes_[0];
  EXPECT_EQ(api(any, "POST", "/switchover", R"({"leader":")" + first + "\"}", false).status, 401);
  EXPECT_EQ(api(any, "POST", "/switchover", "{broken").status, 400);
  EXPECT_EQ(api(any, "POST", "/failover", R"({"leader":")" + first + "\"}").status, 400);
  EXPECT_EQ(api(any, "PATCH", "/config", R"({"ttl":"long"})").status, 400);
  EXPECT_EQ(api(any, "POST", "/switchover", R"({"leader":"nobody"})").status, 412);
  EXPECT_EQ(api(any, "DELETE", "/switchover").status, 404);

  // PATCH /config.
  const auto patched = api(any, "PATCH", "/config", R"({"maximum_lag_on_failover":2097152})");
  EXPECT_EQ(patched.status, 200);
  EXPECT_EQ(boost::json::parse(api(any, "GET", "/config").body).at("maximum_lag_on_failover"), 2097152);

  // Switchover to a named member through the API.
  ASSERT_TRUE(eventually([&] { return memberKeysRunning(); }, 60s));
  std::string target;
  for (auto& n : nodes_) {
    if (n.name != first) target = n.name;
  }
  const auto switched = api(any, "POST", "/switchover", R"({"leader":")" + first + R"(","candidate":")" + target + "\"}");
  EXPECT_EQ(switched.status, 200) << switched.body;
  EXPECT_EQ(switched.body, "Successfully switched over to \"" + target + "\"");
  ASSERT_TRUE(eventually([&] { return healthy(3); }, 120s)) << "no healthy cluster after the switchover";
  EXPECT_TRUE(eventually([&] { return api(byName(target), "GET", "/primary").status == 200; }, 10s));
  EXPECT_EQ(api(byName(first), "GET", "/primary").status, 503);

  // Restart a replica: a new postmaster, on_restart ran.
  AgentNode& replica = byName(first);
  const auto before = postmasterPid(replica);
  ASSERT_TRUE(before);
  const auto restarted = api(replica, "POST", "/restart", "{}");
  EXPECT_EQ(restarted.status, 200) << restarted.body;
  const auto after = postmasterPid(replica);
  EXPECT_TRUE(after && *after != *before) << "PostgreSQL was not restarted";
  EXPECT_EQ(api(replica, "POST", "/restart", R"({"role":"primary"})").status, 503) << "role condition";
  EXPECT_EQ(api(replica, "POST", "/restart", R"({"restart_pending":true})").status, 503) << "nothing pending";
  EXPECT_EQ(api(replica, "POST", "/reload").status, 202);
  EXPECT_TRUE(eventually(
      [&] {
        const std::string log = callbackLog();
        return log.find(first + " on_restart replica itest") != std::string::npos &&
               log.find(first + " on_reload replica itest") != std::string::npos;
      },
      10s))
      << callbackLog();
  ASSERT_TRUE(eventually([&] { return healthy(3); }, 60s));

  // Reinitialize: refused on the leader, a fresh clone on a replica.
  const auto on_leader = api(byName(target), "POST", "/reinitialize", "{}");
  EXPECT_EQ(on_leader.status, 503);
  EXPECT_EQ(on_leader.body, "I am the leader, can not reinitialize");
  ASSERT_TRUE(session(byName(target))->execute("INSERT INTO t VALUES ('before-reinit')").ok());
  const auto old_sysid_pid = postmasterPid(replica);
  const auto reinit = api(replica, "POST", "/reinitialize", R"({"from_leader":true})");
  EXPECT_EQ(reinit.status, 200) << reinit.body;
  ASSERT_TRUE(eventually([&] { return healthy(3) && hasRow(replica, "before-reinit"); }, 120s)) << "no re-clone";
  EXPECT_NE(postmasterPid(replica), old_sysid_pid);
  EXPECT_NE(readFile(replica.log_file).find("[operation.reinitialize]"), std::string::npos);
  EXPECT_NE(readFile(replica.log_file).find("creating replica on a worker thread"), std::string::npos)
      << "the clone ran on the HA loop's thread";

  // Failover to a named candidate, once its member key shows it streaming
  // again (the API judges candidates from the member keys).
  ASSERT_TRUE(eventually(
      [&] {
        const auto view = api(any, "GET", "/cluster");
        return view.status == 200 &&
               view.body.find(R"("name":")" + first + R"(","role":"replica","state":"streaming")") != std::string::npos;
      },
      30s));
  const auto failed_over = api(any, "POST", "/failover", R"({"candidate":")" + first + "\"}");
  EXPECT_EQ(failed_over.status, 200) << failed_over.body;
  ASSERT_TRUE(eventually([&] { return healthy(3) && leader() == first; }, 120s));
  EXPECT_EQ(writablePrimaries(), 1);
}

// HAProxy 2.6 with Patroni's standard check sends writes to the leader only,
// and follows a failover.
TEST_F(RestCluster, HaproxyFollowsTheLeader) {
  for (auto& n : nodes_) startAgent(n);
  ASSERT_TRUE(eventually([&] { return healthy(3); }, 120s));
  const int front = startHaproxy();
  ASSERT_GT(front, 0) << "haproxy did not start";

  auto throughProxy = [&]() -> std::unique_ptr<pg::PgSession> {
    auto s = pg::PgSession::connect(pg::conninfo({{"host", "127.0.0.1"}, {"port", std::to_string(front)},
                                                  {"user", "postgres"}, {"dbname", "postgres"},
                                                  {"connect_timeout", "2"}}));
    return s.ok() ? std::move(*s) : nullptr;
  };
  auto writesThroughProxy = [&](const std::string& value) {
    auto s = throughProxy();
    return s && s->execute("CREATE TABLE IF NOT EXISTS h (v text); INSERT INTO h VALUES ('" + value + "')").ok();
  };
  ASSERT_TRUE(eventually([&] { return writesThroughProxy("first"); }, 30s)) << readFile(dir_ + "/haproxy.log");
  const std::string first = *leader();
  killLeader(first);
  ASSERT_TRUE(eventually([&] { return newPrimaryOtherThan(first); }, 60s));
  ASSERT_TRUE(eventually([&] { return writesThroughProxy("second"); }, 30s)) << "HAProxy did not follow the failover";
  EXPECT_TRUE(hasRowIn(byName(*leader()), "h", "second"));
  EXPECT_TRUE(hasRowIn(byName(*leader()), "h", "first"));
}

}  // namespace
}  // namespace pgtandem::testing
