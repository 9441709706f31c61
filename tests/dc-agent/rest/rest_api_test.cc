// The REST router against the in-memory DCS: status codes and messages of
// every endpoint, access control, and a table of bad requests.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>
#include <thread>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "tests/fakes/faulty_dcs.h"
#include "common/dcs/memory_dcs.h"
#include "common/http/http_client.h"
#include "dc-agent/rest/rest_api.h"

namespace pgtandem::rest {
namespace {

using namespace std::chrono_literals;

const char* kAuth = "Basic YWRtaW46c2VjcmV0";  // admin:secret

class RestApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.scope = "batman";
    config_.name = "pg1";
    config_.restapi.authentication = {"admin", "secret"};
    config_.bootstrap.dcs.ttl = 30;
    config_.bootstrap.dcs.loop_wait = 10;
    config_.bootstrap.dcs.retry_timeout = 10;
    store_ = dcs::MemoryStore::create(clock_);
    dcs_ = store_->connect();
    ASSERT_TRUE(dcs_->put(paths_.leader(), "pg1").ok());
    putMember("pg1", "primary", false);
    putMember("pg2", "replica", false);
    putMember("pg3", "replica", true);
    ASSERT_TRUE(dcs_->put(paths_.config(), R"({"ttl":30,"loop_wait":10,"retry_timeout":10,"postgresql":{"use_pg_rewind":true}})").ok());
    auto status = std::make_shared<agent::AgentStatus>();
    status->name = "pg1";
    status->scope = "batman";
    status->state = "running";
    status->role = "primary";
    status->pg_running = true;
    status->pg_primary = true;
    status->holds_lock = true;
    status->lock_valid_until = clock_.monotonicNow() + 30s;
    status->dcs_ok = true;
    status->last_cycle = clock_.monotonicNow();
    board_.publish(status);
    auto api = RestApi::create(config_, *dcs_, board_, mailbox_, clock_);
    ASSERT_TRUE(api.ok());
    api_ = std::move(*api);
    api_->setSwitchoverWait(500ms);
  }

  void putMember(const std::string& name, const std::string& role, bool nofailover) {
    dcs::MemberInfo m;
    m.name = name;
    m.conn_url = "postgres://127.0.0.1:5432/postgres";
    m.api_url = "http://127.0.0.1:8008/patroni";
    m.state = "running";
    m.role = role;
    m.tags.nofailover = nofailover;
    ASSERT_TRUE(dcs_->put(paths_.member(name), dcs::toJson(m)).ok());
  }

  HttpResponse call(const std::string& method, const std::string& target, const std::string& body = "",
                    const std::string& auth = kAuth) {
    HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.authorization = auth;
    r.client_address = "127.0.0.1";
    return api_->handle(r);
  }

  std::optional<std::string> value(const std::string& key) {
    auto got = dcs_->get(key);
    if (!got.ok() || got->kvs.empty()) return std::nullopt;
    return got->kvs.front().value;
  }

  SimulatedClock clock_;
  config::Config config_;
  dcs::ClusterPaths paths_{"/service/", "batman"};
  std::shared_ptr<dcs::MemoryStore> store_;
  std::unique_ptr<dcs::Dcs> dcs_;
  agent::StatusBoard board_;
  agent::OperationMailbox mailbox_;
  std::unique_ptr<RestApi> api_;
};

TEST_F(RestApiTest, MonitoringEndpoints) {
  auto patroni = call("GET", "/patroni");
  EXPECT_EQ(patroni.status, 200);
  EXPECT_EQ(boost::json::parse(patroni.body).at("role"), "primary");
  EXPECT_EQ(call("GET", "/").status, 200);
  EXPECT_EQ(call("GET", "/replica").status, 503);
  auto head = call("HEAD", "/primary");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(call("OPTIONS", "/primary").status, 200);
  EXPECT_EQ(call("GET", "/replica?lag=1MB&tag_zone=a").status, 503);
  EXPECT_EQ(call("GET", "/liveness").status, 200);
  EXPECT_EQ(call("GET", "/readiness").status, 200);
  EXPECT_EQ(call("GET", "/failsafe").status, 502);
  auto metrics = call("GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("patroni_primary{"), std::string::npos);

  auto cluster = call("GET", "/cluster");
  ASSERT_EQ(cluster.status, 200);
  const auto doc = boost::json::parse(cluster.body);
  EXPECT_EQ(doc.at("scope"), "batman");
  EXPECT_EQ(doc.at("members").as_array().size(), 3u);
  EXPECT_EQ(doc.at("members").at(0).at("role"), "leader");
  EXPECT_EQ(call("GET", "/history").body, "[]");
  auto config = call("GET", "/config");
  EXPECT_EQ(config.status, 200);
  EXPECT_EQ(boost::json::parse(config.body).at("ttl"), 30);
  ASSERT_TRUE(dcs_->erasePrefix(paths_.config()).ok());
  EXPECT_EQ(call("GET", "/config").status, 502);
}

// Patroni's failsafe endpoints (dc-agent/ha/failsafe.h): GET shows
// /failsafe, POST is a leader's heartbeat that a replica accepts and a
// primary refuses; both answer 502 with failsafe mode off.
TEST_F(RestApiTest, FailsafeEndpoints) {
  agent::FailsafeHeartbeats heartbeats;
  api_->attachFailsafeHeartbeats(&heartbeats);
  const std::string beat = R"({"name":"pg2","conn_url":"postgres://10.0.0.2:5432/postgres","api_url":"http://10.0.0.2:8008/patroni"})";
  EXPECT_EQ(call("POST", "/failsafe", beat).status, 502) << "failsafe mode is off";
  EXPECT_FALSE(heartbeats.last());

  auto status = std::make_shared<agent::AgentStatus>(*board_.current());
  status->failsafe_mode = true;
  status->failsafe_members = {{"pg1", "http://10.0.0.1:8008/patroni"}, {"pg2", "http://10.0.0.2:8008/patroni"}};
  board_.publish(status);
  auto shown = call("GET", "/failsafe");
  ASSERT_EQ(shown.status, 200);
  EXPECT_EQ(boost::json::parse(shown.body).at("pg2"), "http://10.0.0.2:8008/patroni");

  auto refused = call("POST", "/failsafe", beat);
  EXPECT_EQ(refused.status, 500) << "a running primary refuses another leader's heartbeat";
  EXPECT_EQ(refused.body, "Running as a leader");
  EXPECT_FALSE(heartbeats.last());

  auto replica = std::make_shared<agent::AgentStatus>(*status);
  replica->role = "replica";
  replica->pg_primary = false;
  board_.publish(replica);
  EXPECT_EQ(call("POST", "/failsafe", beat, "").status, 401) << "a heartbeat is a change: credentials are needed";
  for (const char* bad : {"", "[]", "{}", R"({"name":""})", R"({"name":7})", "{"}) {
    EXPECT_EQ(call("POST", "/failsafe", bad).status, 400) << bad;
  }
  clock_.advance(3s);
  auto accepted = call("POST", "/failsafe", beat);
  EXPECT_EQ(accepted.status, 200);
  EXPECT_EQ(accepted.body, "Accepted");
  ASSERT_TRUE(heartbeats.last());
  EXPECT_EQ(heartbeats.last()->leader, "pg2");
  EXPECT_EQ(heartbeats.last()->at, clock_.monotonicNow());
}

TEST_F(RestApiTest, ChangesNeedCredentials) {
  EXPECT_EQ(call("POST", "/switchover", R"({"leader":"pg1"})", "").status, 401);
  auto wrong = call("POST", "/switchover", R"({"leader":"pg1"})", "Basic YWRtaW46d3Jvbmc=");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.body, "not authenticated");
  EXPECT_EQ(call("PATCH", "/config", R"({"ttl":31})", "").status, 401);
  EXPECT_EQ(call("POST", "/restart", "", "").status, 401);
  EXPECT_EQ(call("GET", "/patroni", "", "").status, 200) << "reads need no credentials";
  EXPECT_EQ(http::basicAuthorization("admin", "secret"), "Basic YWRtaW46c2VjcmV0");
  EXPECT_EQ(http::basicAuthorization("a", ""), "Basic YTo=");
  EXPECT_EQ(http::basicAuthorization("ab", "c"), "Basic YWI6Yw==");
}

TEST_F(RestApiTest, AllowlistRefusesOtherAddresses) {
  config_.restapi.allowlist = {"10.0.0.0/8", "::1"};
  auto api = RestApi::create(config_, *dcs_, board_, mailbox_, clock_);
  ASSERT_TRUE(api.ok());
  HttpRequest r;
  r.method = "POST";
  r.target = "/reload";
  r.authorization = kAuth;
  r.client_address = "127.0.0.1";
  EXPECT_EQ((*api)->handle(r).status, 403);
  r.client_address = "10.1.2.3";
  EXPECT_EQ((*api)->handle(r).status, 202);
  r.client_address = "::ffff:10.1.2.3";
  EXPECT_EQ((*api)->handle(r).status, 202) << "IPv4-mapped peers match IPv4 networks";
  r.client_address = "::1";
  EXPECT_EQ((*api)->handle(r).status, 202);

  // allowlist_include_members: the members' API hosts are let in too.
  config_.restapi.allowlist = {"10.0.0.0/8"};
  config_.restapi.allowlist_include_members = true;
  auto with_members = RestApi::create(config_, *dcs_, board_, mailbox_, clock_);
  ASSERT_TRUE(with_members.ok());
  r.client_address = "127.0.0.1";
  EXPECT_EQ((*with_members)->handle(r).status, 202);
  r.client_address = "192.0.2.1";
  EXPECT_EQ((*with_members)->handle(r).status, 403);

  config_.restapi.allowlist = {"10.0.0.0/33"};
  EXPECT_FALSE(RestApi::create(config_, *dcs_, board_, mailbox_, clock_).ok());
}

TEST_F(RestApiTest, BadRequestsGetA4xxWithAReason) {
  struct Row {
    const char* method;
    const char* target;
    const char* body;
    int status;
  };
  const std::vector<Row> rows = {
      {"POST", "/switchover", "{", 400},
      {"POST", "/switchover", "[1,2]", 400},
      {"POST", "/switchover", "{}", 400},
      {"POST", "/switchover", "", 400},
      {"POST", "/switchover", R"({"leader":5})", 400},
      {"POST", "/switchover", R"({"leader":"pg1","candidate":["pg2"]})", 400},
      {"POST", "/switchover", "\xff\xfe", 400},
      {"POST", "/failover", R"({"leader":"pg1"})", 400},
      {"POST", "/restart", R"({"restart_pending":"yes"})", 400},
      {"POST", "/restart", R"({"role":"boss"})", 400},
      {"POST", "/reinitialize", R"({"force":1})", 400},
      {"PATCH", "/config", "null", 400},
      {"PATCH", "/config", R"({"ttl":"soon"})", 400},
      {"PATCH", "/config", R"({"ttl":5,"loop_wait":10})", 400},
      {"PUT", "/config", "[]", 400},
      {"POST", "/nothing", "{}", 405},
      {"DELETE", "/config", "", 405},
      {"BREW", "/patroni", "", 405},
      {"GET", "not-a-path", "", 400},
  };
  for (const auto& row : rows) {
    const auto response = call(row.method, row.target, row.body);
    EXPECT_EQ(response.status, row.status) << row.method << " " << row.target << " " << row.body;
    EXPECT_FALSE(response.body.empty()) << row.method << " " << row.target;
  }
  EXPECT_FALSE(value(paths_.failover())) << "nothing was written";
}

TEST_F(RestApiTest, SwitchoverValidation) {
  EXPECT_EQ(call("POST", "/switchover", R"({"leader":"pg2"})").body, "leader name does not match");
  EXPECT_EQ(call("POST", "/switchover", R"({"leader":"pg2"})").status, 412);
  EXPECT_EQ(call("POST", "/switchover", R"({"leader":"pg1","candidate":"pg9"})").body, "candidate does not exists");
  EXPECT_EQ(call("POST", "/switchover", R"({"leader":"pg1","candidate":"pg3"})").status, 412) << "nofailover";
  auto past = call("POST", "/switchover", R"({"leader":"pg1","scheduled_at":"2001-01-01T00:00:00+00:00"})");
  EXPECT_EQ(past.status, 422);
  EXPECT_EQ(call("POST", "/switchover", R"({"leader":"pg1","scheduled_at":"2030-01-01T00:00:00"})").status, 400);
  EXPECT_EQ(call("POST", "/switchover", R"({"leader":"pg1","scheduled_at":"tomorrow"})").status, 400);
  EXPECT_EQ(call("POST", "/failover", R"({"candidate":"pg2","scheduled_at":"2030-01-01T00:00:00Z"})").status, 400);
  EXPECT_FALSE(value(paths_.failover()));
}

TEST_F(RestApiTest, ScheduledSwitchoverAndItsCancellation) {
  auto scheduled = call("POST", "/switchover", R"({"leader":"pg1","candidate":"pg2","scheduled_at":"2030-01-01T00:00:00+00:00"})");
  EXPECT_EQ(scheduled.status, 202);
  EXPECT_EQ(scheduled.body, "Switchover scheduled");
  ASSERT_TRUE(value(paths_.failover()));
  auto failover = dcs::parseFailover(*value(paths_.failover()));
  ASSERT_TRUE(failover.ok());
  EXPECT_EQ(failover->candidate, "pg2");
  EXPECT_EQ(call("GET", "/cluster").status, 200);
  EXPECT_NE(call("GET", "/cluster").body.find("scheduled_switchover"), std::string::npos);
  EXPECT_EQ(call("DELETE", "/switchover").status, 200);
  EXPECT_FALSE(value(paths_.failover()));
  EXPECT_EQ(call("DELETE", "/switchover").status, 404);
}

TEST_F(RestApiTest, SwitchoverWaitsForTheNewLeader) {
  // What the new leader's agent does while the API waits, once /failover
  // is there: take the lock, clear /failover.
  auto takeOver = [&](const std::string& name) {
    clock_.on_sleep = [this, name] {
      if (!value(paths_.failover())) return;
      (void)dcs_->put(paths_.leader(), name);
      (void)dcs_->erasePrefix(paths_.failover());
    };
  };
  takeOver("pg2");
  auto done = call("POST", "/switchover", R"({"leader":"pg1","candidate":"pg2"})");
  EXPECT_EQ(done.status, 200);
  EXPECT_EQ(done.body, "Successfully switched over to \"pg2\"");

  // Another member than the candidate took over: said so, as Patroni does.
  takeOver("pg3");
  auto instead = call("POST", "/switchover", R"({"leader":"pg2","candidate":"pg1"})");
  EXPECT_EQ(instead.status, 200);
  EXPECT_EQ(instead.body, "Switched over to \"pg3\" instead of \"pg1\"");

  // Nobody acts: the answer says so after the wait.
  clock_.on_sleep = {};
  auto unknown = call("POST", "/failover", R"({"candidate":"pg1"})");
  EXPECT_EQ(unknown.status, 503);
  EXPECT_EQ(unknown.body, "Failover status unknown");
  // The key is removed (the decision found it impossible): failed.
  int sleeps = 0;
  clock_.on_sleep = [&] {
    if (++sleeps == 2) (void)dcs_->erasePrefix(paths_.failover());
  };
  auto failed = call("POST", "/failover", R"({"candidate":"pg1"})");
  clock_.on_sleep = {};
  EXPECT_EQ(failed.status, 503);
  EXPECT_EQ(failed.body, "Failover failed");
}

TEST_F(RestApiTest, ConfigPatchAndPut) {
  auto patched = call("PATCH", "/config", R"({"ttl":40,"postgresql":{"use_pg_rewind":null,"parameters":{"work_mem":"8MB"}}})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  const auto doc = boost::json::parse(*value(paths_.config()));
  EXPECT_EQ(doc.at("ttl"), 40);
  EXPECT_EQ(doc.at("loop_wait"), 10);
  EXPECT_FALSE(doc.at("postgresql").as_object().contains("use_pg_rewind"));
  EXPECT_EQ(doc.at("postgresql").at("parameters").at("work_mem"), "8MB");
  EXPECT_EQ(boost::json::parse(patched.body), doc);

  auto paused = call("PATCH", "/config", R"({"pause":true})");
  EXPECT_EQ(paused.status, 200);
  EXPECT_EQ(call("POST", "/switchover", R"({"leader":"pg1"})").body,
            "Switchover is possible only to a specific candidate in a paused state");

  auto replaced = call("PUT", "/config", R"({"ttl":20,"loop_wait":5,"retry_timeout":5})");
  EXPECT_EQ(replaced.status, 200);
  EXPECT_EQ(boost::json::parse(*value(paths_.config())), boost::json::parse(R"({"ttl":20,"loop_wait":5,"retry_timeout":5})"));
  ASSERT_TRUE(dcs_->erasePrefix(paths_.config()).ok());
  EXPECT_EQ(call("PATCH", "/config", R"({"ttl":40})").status, 503);
}

// /config changes right after the API read it: the merge patch must not
// overwrite that change.
TEST_F(RestApiTest, ConcurrentConfigChangeIsAConflict) {
  testing::FaultyDcs racing(*dcs_);
  bool raced = false;
  racing.after_get = [&](std::string_view key) {
    if (key != paths_.config() || raced) return;
    raced = true;
    (void)dcs_->put(paths_.config(), R"({"ttl":30,"loop_wait":10,"retry_timeout":10,"by":"someone else"})", 0);
  };
  auto api = RestApi::create(config_, racing, board_, mailbox_, clock_);
  ASSERT_TRUE(api.ok());
  HttpRequest r;
  r.method = "PATCH";
  r.target = "/config";
  r.body = R"({"ttl":40})";
  r.authorization = kAuth;
  r.client_address = "127.0.0.1";
  const auto response = (*api)->handle(r);
  EXPECT_EQ(response.status, 409) << response.body;
  EXPECT_NE(value(paths_.config())->find("someone else"), std::string::npos) << "the other change survives";
}

TEST_F(RestApiTest, CredentialsNeverReachTheLog) {
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  spdlog::set_level(spdlog::level::trace);
  (void)call("POST", "/switchover", R"({"leader":"pg1","candidate":"pg2","scheduled_at":"2030-01-01T00:00:00Z"})");
  (void)call("POST", "/switchover", R"({"leader":"pg1"})", "Basic d3Jvbmc6cGFzc3dvcmQ=");
  (void)call("PATCH", "/config", R"({"ttl":31})");
  spdlog::set_default_logger(previous);
  EXPECT_FALSE(captured.str().empty()) << "the test captured nothing";
  for (const char* secret : {"secret", "YWRtaW46c2VjcmV0", "d3Jvbmc6cGFzc3dvcmQ=", "password"}) {
    EXPECT_EQ(captured.str().find(secret), std::string::npos) << secret;
  }
}

TEST_F(RestApiTest, OperationsGoThroughTheMailbox) {
  std::atomic<bool> stop{false};
  std::vector<agent::OperationRequest> seen;
  std::mutex seen_mutex;
  std::thread loop([&] {
    // Stands in for the HA loop: answers every request.
    for (int i = 0; i < 2000 && !stop; ++i) {
      for (auto& p : mailbox_.takeAll()) {
        {
          std::lock_guard lock(seen_mutex);
          seen.push_back(p.request);
        }
        if (p.request.kind == agent::OperationRequest::Kind::kReinitialize) {
          p.reply.set_value(makeError(ErrorCode::kConflict, "I am the leader, can not reinitialize"));
        } else {
          p.reply.set_value(std::string("restarted successfully"));
        }
      }
      std::this_thread::sleep_for(1ms);
    }
  });
  auto restarted = call("POST", "/restart", R"({"restart_pending":true,"role":"master"})");
  EXPECT_EQ(restarted.status, 200);
  EXPECT_EQ(restarted.body, "restarted successfully");
  EXPECT_EQ(call("POST", "/reload").status, 202);
  auto reinit = call("POST", "/reinitialize", "{}");
  EXPECT_EQ(reinit.status, 503);
  EXPECT_EQ(reinit.body, "I am the leader, can not reinitialize");
  EXPECT_EQ(call("DELETE", "/restart").status, 200) << "the stand-in loop says it cancelled one";
  EXPECT_EQ(call("POST", "/restart", R"({"schedule":"2001-01-01T00:00:00Z"})").status, 422);
  EXPECT_EQ(call("POST", "/restart", R"({"schedule":"2030-01-01T00:00:00"})").status, 400);
  EXPECT_EQ(call("POST", "/restart", R"({"schedule":"2030-01-01T00:00:00Z"})").status, 202);
  stop = true;
  loop.join();
  std::lock_guard lock(seen_mutex);
  ASSERT_GE(seen.size(), 2u);
  EXPECT_TRUE(seen[0].only_if_pending);
  EXPECT_EQ(seen[0].role, "primary");
}

TEST(IpNetworkTest, Matching) {
  auto v4 = IpNetwork::parse("192.168.0.0/16");
  ASSERT_TRUE(v4.ok());
  EXPECT_TRUE(v4->front().contains("192.168.7.1"));
  EXPECT_FALSE(v4->front().contains("192.169.0.1"));
  EXPECT_FALSE(v4->front().contains("::1"));
  auto odd = IpNetwork::parse("10.0.0.0/9");
  ASSERT_TRUE(odd.ok());
  EXPECT_TRUE(odd->front().contains("10.127.0.1"));
  EXPECT_FALSE(odd->front().contains("10.128.0.1"));
  auto host = IpNetwork::parse("localhost");
  ASSERT_TRUE(host.ok());
  EXPECT_FALSE(host->empty());
  EXPECT_FALSE(IpNetwork::parse("10.0.0.0/x").ok());
  EXPECT_FALSE(IpNetwork::parse("not a host name !").ok());
}

}  // namespace
}  // namespace pgtandem::rest
