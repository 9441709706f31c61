// Scenario tests: several agents on one in-memory DCS with a simulated
// clock, each with a fake PostgreSQL. Faults: kill the primary, partition a
// node from the DCS, freeze an agent, lose the DCS. After every simulated
// second we check that there is never more than one writable primary.

#include <atomic>
#include <gtest/gtest.h>

#include <regex>

#include <map>
#include <set>

#include "common/dcs/memory_dcs.h"
#include "dc-agent/ha/agent.h"
#include "tests/fakes/fake_lease_guard.h"
#include "tests/fakes/fake_postgres.h"
#include "tests/fakes/fake_site_memory.h"
#include "tests/fakes/fake_watchdog.h"
#include "tests/fakes/faulty_dcs.h"

namespace pgtandem::agent {
namespace {

using testing::FakePostgres;
using testing::FakeServer;
using testing::serverWithData;
using testing::FakeWorld;

using namespace std::chrono_literals;

// Records callbacks; pre_promote can be made to fail.
class RecordingCallbacks final : public Callbacks {
 public:
  void notify(const std::string& action, const std::string& role) override { calls.push_back(action + " " + role); }
  Status prePromote() override {
    calls.push_back("pre_promote");
    if (fail_pre_promote) return makeError(ErrorCode::kIo, "fencing failed");
    return okStatus();
  }
  std::vector<std::string> calls;
  bool fail_pre_promote = false;
};

config::Config nodeConfig(const std::string& name) {
  config::Config c;
  c.scope = "batman";
  c.namespace_ = "/service/";
  c.name = name;
  c.restapi.connect_address = "127.0.0.1:8008";
  c.postgresql.connect_address = "127.0.0.1:5432";
  c.bootstrap.dcs.ttl = 30;
  c.bootstrap.dcs.loop_wait = 10;
  c.bootstrap.dcs.retry_timeout = 10;
  return c;
}

// The other DC's site key, as the test sets it (nullopt: unreachable).
class FakePeerSites final : public PeerSiteReader {
 public:
  std::optional<dcs::SiteState> state;
  Result<std::optional<dcs::SiteState>> read(const dcs::PeerSite&) override {
    if (!state) return makeError(ErrorCode::kUnavailable, "the other DC does not answer");
    return std::optional<dcs::SiteState>(state);
  }
  void set(dcs::SiteRole role, std::int64_t epoch) {
    state = dcs::SiteState{};
    state->role = role;
    state->epoch = epoch;
  }
};

// POST /failsafe between scenario nodes (failsafe.h): `deliver` answers as
// the target's REST API would.
class ScenarioFailsafePeers final : public FailsafePeers {
 public:
  std::function<bool(const std::string& to, const std::string& leader)> deliver;
  int rounds = 0;
  std::set<std::string> confirm(const std::map<std::string, std::string>& members, const std::string& body,
                                std::chrono::milliseconds) override {
    ++rounds;
    auto leader = parseFailsafeHeartbeat(body);
    std::set<std::string> acknowledged;
    if (!leader.ok()) return acknowledged;
    for (const auto& [name, url] : members) {
      if (deliver(name, *leader)) acknowledged.insert(name);
    }
    return acknowledged;
  }
};

class Scenario : public ::testing::Test {
 protected:
  struct Node {
    std::string name;
    config::Config config;
    std::unique_ptr<dcs::MemoryDcs> client;
    std::unique_ptr<testing::FaultyDcs> faulty;  // what the agent talks to: `client`, with faults on demand
    testing::FakeLeaseGuard guard;
    testing::FakeSiteMemory site_memory;  // outlives restarts of its agent
    testing::WatchdogLog watchdog_log;    // the node's watchdog device
    FailsafeHeartbeats heartbeats;        // what its REST API received
    std::unique_ptr<Watchdog> watchdog;
    std::unique_ptr<FakePostgres> postgres;
    std::unique_ptr<RecordingCallbacks> callbacks;
    std::unique_ptr<Agent> agent;
    bool alive = true;
    bool frozen = false;
    MonoTime next_cycle{};
  };

  // `tweak` changes each node's configuration before its agent starts.
  void addNodes(int count, const std::function<void(config::Config&)>& tweak = {}) {
    for (int i = 1; i <= count; ++i) {
      auto node = std::make_unique<Node>();
      node->name = "n" + std::to_string(i);
      node->config = nodeConfig(node->name);
      if (tweak) tweak(node->config);
      node->client = store_->connect();
      node->postgres = std::make_unique<FakePostgres>(world_, node->name);
      node->callbacks = std::make_unique<RecordingCallbacks>();
      node->faulty = std::make_unique<testing::FaultyDcs>(*node->client);
      startAgent(*node);
      node->next_cycle = clock_.monotonicNow() + std::chrono::milliseconds(300 * i);  // agents are not in lockstep
      nodes_.push_back(std::move(node));
    }
  }

  // A new agent process on the node: what it knew is gone, but for its files.
  void startAgent(Node& n) {
    n.agent = std::make_unique<Agent>(n.config, *n.faulty, *n.postgres, *n.callbacks, clock_);
    n.agent->attachPeerSiteReader(&peer_sites_);
    n.agent->attachLeaseGuard(&n.guard);
    n.agent->attachSiteMemory(&n.site_memory);
    n.watchdog = std::make_unique<Watchdog>(n.config.watchdog, std::make_unique<testing::FakeWatchdogDevice>(n.watchdog_log, clock_), clock_);
    n.agent->attachWatchdog(n.watchdog.get());
    n.agent->attachFailsafe(&failsafe_peers_, &n.heartbeats);
    n.alive = true;
  }

  // A heartbeat reaches a live node whose API the test did not cut; a
  // running primary refuses it, as does a member with failsafe mode off.
  bool deliverFailsafe(const std::string& to, const std::string& leader) {
    for (auto& n : nodes_) {
      if (n->name != to) continue;
      if (!n->alive || n->frozen || api_cut_.count(to) || !n->agent->settings().failsafe_mode) return false;
      if (world_.servers[to].running && world_.servers[to].primary) return false;
      n->heartbeats.heard(leader, clock_.monotonicNow());
      return true;
    }
    return false;
  }

  // Three members with failsafe_mode on, healthy, /failsafe listing them all.
  void startFailsafeCluster() {
    addNodes(3, [](config::Config& c) { c.bootstrap.dcs.failsafe_mode = true; });
    ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
    ASSERT_TRUE(runUntil(
        [&] {
          auto key = observer_->get("/service/batman/failsafe");
          if (!key.ok() || key->kvs.empty()) return false;
          auto members = dcs::parseFailsafe(key->kvs[0].value);
          return members.ok() && members->size() == 3;
        },
        30s))
        << "the leader does not keep /failsafe";
  }

  Node& node(const std::string& name) {
    for (auto& n : nodes_) {
      if (n->name == name) return *n;
    }
    throw std::runtime_error("no node " + name);
  }

  std::optional<std::string> leaderKey() {
    auto got = observer_->get("/service/batman/leader");
    if (!got.ok() || got->kvs.empty()) return std::nullopt;
    return got->kvs[0].value;
  }

  // Advances simulated time second by second. Agents cycle every loop_wait,
  // and at once when the leader key changed (the DCS watch in the daemon).
  void run(std::chrono::seconds duration) {
    for (int i = 0; i < duration.count(); ++i) {
      for (int sub = 0; sub < 10; ++sub) {
        clock_.advance(100ms);
        store_->expireLeases();
        world_.replicate();
        const auto leader = leaderKey();
        const bool leader_changed = leader != last_leader_;
        last_leader_ = leader;
        const bool woken = woken_.exchange(false);
        for (auto& n : nodes_) {
          if (!n->alive || n->frozen) continue;
          if (clock_.monotonicNow() < n->next_cycle && !woken && !(leader_changed && !n->client->partitioned())) continue;
          n->agent->runCycle();
          n->next_cycle = n->agent->nextCycleBy();
        }
        if (const auto l = leaderKey(); l) world_.write(*l);
        max_primaries_ = std::max(max_primaries_, world_.writablePrimaries());
        ASSERT_LE(world_.writablePrimaries(), 1) << "two writable primaries at t=" << elapsed_ << "s";
      }
      ++elapsed_;
    }
  }

  // Runs until `predicate` holds, at most `limit`; returns the seconds taken.
  template <typename Predicate>
  std::optional<int> runUntil(Predicate predicate, std::chrono::seconds limit) {
    for (int i = 0; i < limit.count(); ++i) {
      if (predicate()) return i;
      run(1s);
      if (HasFatalFailure()) return std::nullopt;
    }
    return predicate() ? std::optional<int>(static_cast<int>(limit.count())) : std::nullopt;
  }

  // Maintenance mode, as `dcctl pause` sets it in /config.
  bool pauseCluster() {
    auto config = observer_->get("/service/batman/config");
    if (!config.ok() || config->kvs.size() != 1) return false;
    std::string paused = config->kvs[0].value;
    paused.insert(paused.find('{') + 1, "\"pause\": true, ");
    return observer_->put("/service/batman/config", paused, 0).ok();
  }

  std::vector<std::string> primaries() {
    std::vector<std::string> out;
    for (const auto& [name, s] : world_.servers) {
      if (s.running && s.primary) out.push_back(name);
    }
    return out;
  }

  void kill(const std::string& name) {
    node(name).alive = false;
    world_.servers[name].running = false;
    world_.servers[name].primary = false;
  }

  // Three members in synchronous mode, healthy, with a synchronous standby in /sync.
  void startSynchronousCluster() {
    addNodes(3, [](config::Config& c) { c.bootstrap.dcs.synchronous_mode = true; });
    ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
    ASSERT_TRUE(runUntil(
        [&] {
          auto sync = observer_->get("/service/batman/sync");
          return sync.ok() && !sync->kvs.empty() && sync->kvs[0].value.find("\"sync_standby\":\"n") != std::string::npos;
        },
        60s))
        << "no synchronous standby chosen";
  }

  bool healthyCluster(std::size_t size) {
    const auto leader = leaderKey();
    if (!leader) return false;
    const auto p = primaries();
    if (p.size() != 1 || p[0] != *leader) return false;
    std::size_t following = 0;
    for (const auto& [name, s] : world_.servers) {
      if (name != *leader && s.running && s.following == *leader) ++following;
    }
    return following + 1 == size;
  }

  SimulatedClock clock_;
  std::shared_ptr<dcs::MemoryStore> store_ = dcs::MemoryStore::create(clock_);
  std::unique_ptr<dcs::MemoryDcs> observer_ = store_->connect();
  FakeWorld world_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::optional<std::string> last_leader_;
  int elapsed_ = 0;
  std::atomic<bool> woken_{false};  // an operation was submitted: cycle at once, as the daemon does
  int max_primaries_ = 0;
  FakePeerSites peer_sites_;
  ScenarioFailsafePeers failsafe_peers_;
  std::set<std::string> api_cut_;  // nodes whose REST API no heartbeat reaches
  void SetUp() override {
    failsafe_peers_.deliver = [this](const std::string& to, const std::string& leader) { return deliverFailsafe(to, leader); };
  }
};

TEST_F(Scenario, ThreeNodesBootstrapOneLeaderTwoReplicas) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s)) << "cluster never became healthy";
  auto init = observer_->get("/service/batman/initialize");
  ASSERT_EQ(init->kvs.size(), 1u);
  EXPECT_EQ(init->kvs[0].value, "7000");
  EXPECT_EQ(observer_->get("/service/batman/config")->kvs.size(), 1u);
  EXPECT_EQ(observer_->getPrefix("/service/batman/members/")->kvs.size(), 3u);
  run(60s);
  EXPECT_TRUE(healthyCluster(3)) << "a steady cluster stays steady";
}

TEST_F(Scenario, KilledPrimaryIsReplacedWithinTtl) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  const std::string old_leader = *leaderKey();
  kill(old_leader);
  const auto took = runUntil(
      [&] {
        const auto l = leaderKey();
        return l && *l != old_leader && primaries().size() == 1;
      },
      120s);
  ASSERT_TRUE(took) << "no new leader";
  // The lease runs out ttl after the last renewal (at most loop_wait before
  // the kill); the watch wakes the replicas at once.
  EXPECT_LE(*took, 30 + 1);
  EXPECT_TRUE(runUntil([&] { return healthyCluster(2); }, 60s)) << "the survivor does not follow the new leader";
}

TEST_F(Scenario, LeaderCutOffFromTheDcsDemotesBeforeAnotherPromotes) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  const std::string old_leader = *leaderKey();
  node(old_leader).client->setPartitioned(true);
  ASSERT_TRUE(runUntil([&] { return !world_.servers[old_leader].primary; }, 15s)) << "the cut-off leader kept writing";
  ASSERT_TRUE(runUntil(
      [&] {
        const auto l = leaderKey();
        return l && *l != old_leader && primaries().size() == 1;
      },
      60s));
  node(old_leader).client->setPartitioned(false);
  EXPECT_TRUE(runUntil([&] { return healthyCluster(3); }, 90s)) << "the old leader does not rejoin (rewind + follow)";
  EXPECT_EQ(max_primaries_, 1);
}

// The lease deadline: the leader's guard is armed at (when the last
// renewal was sent) + ttl - the safety margin, moves with every renewal,
// and is disarmed where no lease binds (a replica, a paused cluster).
TEST_F(Scenario, TheLeadersGuardIsArmedAtTheLeaseDeadlineOfEachRenewal) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  const std::string leader = *leaderKey();
  Node& l = node(leader);
  // One cycle of the leader alone: its renewal is sent "now".
  const MonoTime sent = clock_.monotonicNow();
  ASSERT_EQ(l.agent->runCycle().rule, "leader.renew");
  ASSERT_TRUE(l.guard.deadline());
  EXPECT_EQ(*l.guard.deadline(), sent + 30s - 2500ms) << "ttl 30, safety margin 2.5 s";
  EXPECT_EQ(l.agent->nextCycleBy(), sent + 10s) << "loop_wait comes before the deadline";
  for (auto& n : nodes_) {
    if (n->name != leader) {
      EXPECT_FALSE(n->guard.deadline()) << n->name << " is a replica";
    }
  }
  // Renewals keep failing: the deadline stays where the last good one put it.
  l.faulty->fail_keepalive = true;
  clock_.advance(1s);
  const Decision failed = l.agent->runCycle();
  // A failed renewal is acted on in the same cycle, not a loop later.
  EXPECT_EQ(failed.rule, "leader.renew_failed");
  EXPECT_FALSE(world_.servers[leader].primary) << "the leader still takes writes after a failed renewal";
  EXPECT_FALSE(l.guard.deadline()) << "a demoted former leader has nothing left to guard";
  l.faulty->fail_keepalive = false;
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  EXPECT_EQ(max_primaries_, 1);
  // Maintenance mode: nothing demotes, so nothing is armed.
  ASSERT_TRUE(pauseCluster());
  run(15s);
  EXPECT_FALSE(node(*leaderKey()).guard.deadline()) << "paused, yet the guard is armed";
}

// A leader whose loop stops renewing (etcd slow, loop stuck) but keeps
// running: its cycle comes at the deadline at the latest and demotes there.
TEST_F(Scenario, ALeaderPastItsLeaseDeadlineDemotesEvenIfTheDcsStillAnswers) {
  addNodes(2);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(2); }, 120s));
  const std::string leader = *leaderKey();
  Node& l = node(leader);
  ASSERT_EQ(l.agent->runCycle().rule, "leader.renew");
  const MonoTime deadline = *l.guard.deadline();
  // The leader misses every loop until just past its deadline (the
  // simulated loop skips it), as a loop blocked in a slow call would.
  l.frozen = true;
  clock_.advance(deadline - clock_.monotonicNow() + 1ms);
  l.frozen = false;
  const Decision late = l.agent->runCycle();
  EXPECT_EQ(late.rule, "leader.lease_deadline");
  EXPECT_FALSE(world_.servers[leader].primary);
}

// Failsafe mode, item 3 of the fault-lab issue: etcd lost while every
// member is up and answers: the primary keeps running, and takes its lock
// back when the DCS returns; nobody else promotes meanwhile.
TEST_F(Scenario, FailsafeKeepsThePrimaryThroughADcsOutageWhileEveryMemberAnswers) {
  startFailsafeCluster();
  const std::string leader = *leaderKey();
  for (auto& n : nodes_) n->client->setPartitioned(true);
  const MonoTime lost_at = clock_.monotonicNow();
  run(100s);
  EXPECT_EQ(primaries(), std::vector<std::string>{leader}) << "failsafe mode must keep the primary";
  EXPECT_GT(failsafe_peers_.rounds, 5);
  // The guard moves with each acknowledged round, never past sent + ttl - margin.
  ASSERT_TRUE(node(leader).guard.deadline());
  EXPECT_GT(*node(leader).guard.deadline(), lost_at + 30s);
  EXPECT_LE(*node(leader).guard.deadline(), clock_.monotonicNow() + 30s - 2500ms);
  for (auto& n : nodes_) n->client->setPartitioned(false);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 60s));
  EXPECT_EQ(*leaderKey(), leader) << "the primary takes its lock back: no failover";
  EXPECT_EQ(max_primaries_, 1);
}

// ... and one member that stops answering while etcd is down: the primary
// demotes in that loop, and nobody promotes without the DCS.
TEST_F(Scenario, FailsafeDemotesThePrimaryWhenAMemberStopsAnswering) {
  startFailsafeCluster();
  const std::string leader = *leaderKey();
  const std::string replica = leader == "n1" ? "n2" : "n1";
  for (auto& n : nodes_) n->client->setPartitioned(true);
  run(40s);
  ASSERT_EQ(primaries(), std::vector<std::string>{leader});
  api_cut_.insert(replica);
  const auto took = runUntil([&] { return primaries().empty(); }, 15s);
  ASSERT_TRUE(took) << "a primary that cannot reach every member must demote";
  EXPECT_LE(*took, 10 + 1) << "within one loop";
  run(60s);
  EXPECT_TRUE(primaries().empty()) << "nobody may promote without the DCS";
  api_cut_.clear();
  for (auto& n : nodes_) n->client->setPartitioned(false);
  EXPECT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  EXPECT_EQ(max_primaries_, 1);
}

// The leader alone cut from etcd, its heartbeats still reaching the
// others: its lease runs out, but no member that heard it within ttl takes
// the free lock. Once its heartbeats stop getting through it demotes, and
// a replica takes over only after that: never two writable primaries.
TEST_F(Scenario, FailsafeLeaderCutFromTheDcsAloneHoldsTheOthersBack) {
  startFailsafeCluster();
  const std::string leader = *leaderKey();
  node(leader).client->setPartitioned(true);
  run(90s);
  EXPECT_EQ(primaries(), std::vector<std::string>{leader});
  EXPECT_FALSE(leaderKey()) << "its lease ran out in the DCS";
  for (auto& n : nodes_) api_cut_.insert(n->name);
  ASSERT_TRUE(runUntil(
      [&] {
        const auto l = leaderKey();
        return l && *l != leader && primaries().size() == 1;
      },
      90s))
      << "no member took over after the heartbeats stopped";
  api_cut_.clear();
  node(leader).client->setPartitioned(false);
  EXPECT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  EXPECT_EQ(max_primaries_, 1);
}

TEST_F(Scenario, FrozenReplicaLosesItsKeyAndRejoins) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  const std::string leader = *leaderKey();
  const std::string replica = leader == "n1" ? "n2" : "n1";
  node(replica).frozen = true;
  run(45s);
  EXPECT_EQ(observer_->getPrefix("/service/batman/members/")->kvs.size(), 2u) << "a frozen member's key must expire";
  EXPECT_EQ(*leaderKey(), leader) << "a frozen replica does not disturb the leader";
  node(replica).frozen = false;
  EXPECT_TRUE(runUntil([&] { return observer_->getPrefix("/service/batman/members/")->kvs.size() == 3u; }, 30s));
  EXPECT_TRUE(healthyCluster(3));
}

TEST_F(Scenario, LosingTheDcsLeavesNoPrimaryThenRecovers) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  for (auto& n : nodes_) n->client->setPartitioned(true);
  ASSERT_TRUE(runUntil([&] { return primaries().empty(); }, 15s)) << "the primary must demote without the DCS";
  run(60s);
  EXPECT_TRUE(primaries().empty()) << "nobody may promote without the DCS";
  for (auto& n : nodes_) n->client->setPartitioned(false);
  EXPECT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
}

TEST_F(Scenario, SwitchoverToANamedMember) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  const std::string old_leader = *leaderKey();
  const std::string target = old_leader == "n3" ? "n2" : "n3";
  ASSERT_TRUE(observer_->put("/service/batman/failover", R"({"leader":")" + old_leader + R"(","member":")" + target + R"("})", 0).ok());
  ASSERT_TRUE(runUntil([&] { return leaderKey() == target && primaries() == std::vector<std::string>{target}; }, 60s));
  EXPECT_TRUE(runUntil([&] { return healthyCluster(3); }, 90s));
  EXPECT_TRUE(observer_->get("/service/batman/failover")->kvs.empty()) << "the failover key is cleared";
}

// /history deleted, garbled or behind the leader's timeline is written
// again by the leader, from its timeline history file: the switch stays
// where PostgreSQL says it was, and who promoted is kept when still known.
TEST_F(Scenario, HistoryDeletedGarbledOrBehindIsWrittenAgain) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  const std::string first = *leaderKey();
  kill(first);
  ASSERT_TRUE(runUntil([&] { return leaderKey() && *leaderKey() != first && primaries().size() == 1; }, 60s));
  const std::string second = *leaderKey();
  auto history = [&]() -> std::vector<dcs::HistoryEntry> {
    auto got = observer_->get("/service/batman/history");
    if (!got.ok() || got->kvs.empty()) return {};
    auto parsed = dcs::parseHistory(got->kvs[0].value);
    return parsed.ok() ? *parsed : std::vector<dcs::HistoryEntry>{};
  };
  ASSERT_TRUE(runUntil([&] { return history().size() == 1; }, 10s)) << "the promotion was not recorded";
  const dcs::HistoryEntry recorded = history()[0];
  EXPECT_EQ(recorded.timeline, 1);
  EXPECT_EQ(recorded.new_leader, second);
  for (const std::string& broken : {std::string(), std::string("{garbage"), std::string("[]")}) {
    SCOPED_TRACE(broken.empty() ? "deleted" : broken);
    if (broken.empty()) {
      ASSERT_TRUE(observer_->erasePrefix("/service/batman/history").ok());
    } else {
      ASSERT_TRUE(observer_->put("/service/batman/history", broken, 0).ok());
    }
    woken_ = true;
    ASSERT_TRUE(runUntil([&] { return history().size() == 1; }, 15s)) << "/history was not written again";
    EXPECT_EQ(history()[0].timeline, recorded.timeline);
    EXPECT_EQ(history()[0].lsn, world_.servers[second].history.at(1)) << "the switch point comes from the history file";
    EXPECT_EQ(history()[0].new_leader, second);
  }
  EXPECT_EQ(max_primaries_, 1);
}

// A scheduled switchover whose /failover is deleted before its time (by
// hand, by an etcd restore) is cancelled: nobody acts on a request that is
// gone. Garbage in /failover is no request either.
TEST_F(Scenario, AScheduledSwitchoverWhoseKeyIsDeletedNeverHappens) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  const std::string old_leader = *leaderKey();
  const std::string target = old_leader == "n3" ? "n2" : "n3";
  dcs::FailoverInfo later;
  later.leader = old_leader;
  later.candidate = target;
  later.scheduled_at = formatIsoTime(clock_.wallNow() + 30s);
  ASSERT_TRUE(observer_->put("/service/batman/failover", dcs::toJson(later), 0).ok());
  run(10s);
  ASSERT_EQ(*leaderKey(), old_leader) << "the switchover came before its time";
  ASSERT_TRUE(observer_->erasePrefix("/service/batman/failover").ok());
  woken_ = true;
  run(40s);
  EXPECT_EQ(*leaderKey(), old_leader) << "a deleted scheduled switchover still happened";
  ASSERT_TRUE(observer_->put("/service/batman/failover", "{\"member\": 7, \"scheduled_at\": []}", 0).ok());
  woken_ = true;
  run(40s);
  EXPECT_EQ(*leaderKey(), old_leader) << "garbage in /failover moved the leader";
  EXPECT_EQ(primaries(), std::vector<std::string>{old_leader});
  EXPECT_TRUE(healthyCluster(3));
}

// The coordinator fences a DC through its site key: the primary stops
// cleanly and its leader publishes where it stopped; with the leader gone
// nobody promotes; unfenced, the DC elects a primary again.
TEST_F(Scenario, FencedDcStopsItsPrimaryCleanlyAndPromotesNobody) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  const std::string leader = *leaderKey();
  ASSERT_TRUE(observer_->put("/service/batman/site", R"({"role":"fenced","epoch":2})", 0).ok());
  woken_ = true;  // the daemon watches the site key
  ASSERT_TRUE(runUntil([&] { return primaries().empty(); }, 5s)) << "the fenced primary kept running";
  const Lsn stopped_at = world_.servers[leader].lsn;
  ASSERT_TRUE(runUntil(
      [&] {
        auto key = observer_->get("/service/batman/members/" + leader);
        if (!key.ok() || key->kvs.empty()) return false;
        auto m = dcs::parseMember(leader, key->kvs[0].value);
        return m.ok() && m->demotion_token && m->demotion_token->redo_lsn == stopped_at;
      },
      15s))
      << "the leader does not publish its demotion token";
  run(40s);
  EXPECT_EQ(leaderKey(), leader) << "a fenced leader keeps its lock";
  EXPECT_TRUE(primaries().empty());
  kill(leader);
  run(60s);
  EXPECT_TRUE(primaries().empty()) << "nobody may promote in a fenced DC";
  EXPECT_FALSE(leaderKey());
  ASSERT_TRUE(observer_->put("/service/batman/site", R"({"role":"primary","epoch":3})", 0).ok());
  woken_ = true;
  EXPECT_TRUE(runUntil([&] { return primaries().size() == 1; }, 60s)) << "unfenced, the DC elects a primary again";
  EXPECT_EQ(max_primaries_, 1);
}

// Fail closed: a site key that turns to garbage, or disappears, may have
// fenced the DC; it behaves as fenced until a valid key is back.
TEST_F(Scenario, AGarbledOrDeletedSiteKeyFencesTheDc) {
  addNodes(3);
  ASSERT_TRUE(observer_->put("/service/batman/site", R"({"role":"primary","epoch":1})", 0).ok());
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  ASSERT_TRUE(observer_->put("/service/batman/site", "{garbage", 0).ok());
  woken_ = true;
  ASSERT_TRUE(runUntil([&] { return primaries().empty(); }, 5s)) << "a garbled site key left the primary writable";
  ASSERT_TRUE(observer_->put("/service/batman/site", R"({"role":"primary","epoch":1})", 0).ok());
  woken_ = true;
  ASSERT_TRUE(runUntil([&] { return primaries().size() == 1; }, 60s)) << "a valid key back unfences the DC";
  ASSERT_TRUE(observer_->erasePrefix("/service/batman/site").ok());
  woken_ = true;
  ASSERT_TRUE(runUntil([&] { return primaries().empty(); }, 5s)) << "a deleted site key left the primary writable";
  const std::string leader = *leaderKey();
  kill(leader);
  run(60s);
  EXPECT_TRUE(primaries().empty()) << "nobody may promote while the site key is gone";
  ASSERT_TRUE(observer_->put("/service/batman/site", R"({"role":"primary","epoch":1})", 0).ok());
  woken_ = true;
  EXPECT_TRUE(runUntil([&] { return primaries().size() == 1; }, 60s));
  EXPECT_EQ(max_primaries_, 1);
}

// The memory of a seen site key outlives the agents: every member restarted
// while the key is gone still behaves as fenced.
TEST_F(Scenario, ASiteKeyDeletedWhileEveryAgentWasDownStillFencesTheDc) {
  addNodes(3);
  ASSERT_TRUE(observer_->put("/service/batman/site", R"({"role":"primary","epoch":1})", 0).ok());
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  for (auto& n : nodes_) kill(n->name);
  ASSERT_TRUE(observer_->erasePrefix("/service/batman/site").ok());
  run(40s);  // every lease runs out
  for (auto& n : nodes_) startAgent(*n);
  run(60s);
  EXPECT_TRUE(primaries().empty()) << "restarted agents forgot that their DC had a site key";
  ASSERT_TRUE(observer_->put("/service/batman/site", R"({"role":"primary","epoch":1})", 0).ok());
  woken_ = true;
  EXPECT_TRUE(runUntil([&] { return primaries().size() == 1; }, 60s)) << "a valid key back unfences the DC";
  EXPECT_EQ(max_primaries_, 1);
}

// A switchover to this DC: its standby leader replayed up to the other DC's
// demotion token, then died. A member behind the token would lose the last
// commits if promoted: nobody is, until one has everything.
TEST_F(Scenario, OnlyAMemberWithEveryCommitBeforeTheTokenIsPromoted) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  peer_sites_.set(dcs::SiteRole::kFenced, 5);  // dc1, fenced for the switchover
  const std::string leader = *leaderKey();
  kill(leader);
  Lsn ahead = 0;  // the most any survivor has
  for (const auto& [name, server] : world_.servers) {
    if (name != leader) ahead = std::max(ahead, server.lsn);
  }
  const int timeline = world_.servers[leader].timeline;
  auto siteWithToken = [&](Lsn redo) {
    return R"({"role":"primary","epoch":5,"peer":{"site":"dc1","etcd":["10.0.1.1:2379"],"namespace":"/service/","scope":"pg"},)"
           R"("token":{"system_identifier":"7000","timeline":)" + std::to_string(timeline) + R"(,"redo_lsn":)" +
           std::to_string(redo) + R"(,"redo_wal_file":"x","from_site":"dc1","archived":true}})";
  };
  ASSERT_TRUE(observer_->put("/service/batman/site", siteWithToken(ahead + 500), 0).ok());
  run(60s);
  EXPECT_TRUE(primaries().empty()) << "a member behind the token was promoted";
  ASSERT_TRUE(observer_->put("/service/batman/site", siteWithToken(ahead), 0).ok());
  woken_ = true;
  EXPECT_TRUE(runUntil([&] { return primaries().size() == 1; }, 60s)) << "a member with every commit was not promoted";
  EXPECT_EQ(max_primaries_, 1);
}

// Keys the agents own come back when deleted or overwritten (by hand, by an
// etcd restore), even in a quiet cluster whose members have nothing new to
// say: an agent compares the DCS copy with what it would write.
TEST_F(Scenario, KeysTheAgentsOwnComeBackWhenDeletedOrOverwritten) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  world_.writes = false;  // quiet: member keys stop changing by themselves
  run(30s);
  const std::string leader = *leaderKey();
  std::vector<std::string> replicas;
  for (auto& n : nodes_) {
    if (n->name != leader) replicas.push_back(n->name);
  }
  auto key = [&](const std::string& name) { return observer_->get("/service/batman/" + name); };
  auto memberOk = [&](const std::string& name) {
    auto got = key("members/" + name);
    return got.ok() && got->kvs.size() == 1 && dcs::parseMember(name, got->kvs[0].value).ok() &&
           dcs::parseMember(name, got->kvs[0].value)->state == "running";
  };
  ASSERT_TRUE(observer_->erasePrefix("/service/batman/members/" + replicas[0]).ok());
  ASSERT_TRUE(observer_->put("/service/batman/members/" + replicas[1], "\x01garbage", 0).ok());
  ASSERT_TRUE(observer_->put("/service/batman/members/" + leader, R"({"state":"stopped","role":"replica"})", 0).ok());
  ASSERT_TRUE(observer_->erasePrefix("/service/batman/status").ok());
  ASSERT_TRUE(observer_->erasePrefix("/service/batman/config").ok());
  EXPECT_TRUE(runUntil([&] { return memberOk(replicas[0]) && memberOk(replicas[1]) && memberOk(leader); }, 25s))
      << "a deleted or overwritten member key was not written again";
  EXPECT_TRUE(runUntil([&] { return key("status")->kvs.size() == 1; }, 25s)) << "/status was not written again";
  EXPECT_TRUE(runUntil([&] { return key("config")->kvs.size() == 1; }, 25s)) << "/config was not written again";
  EXPECT_NE(key("config")->kvs[0].value.find("\"ttl\":30"), std::string::npos) << key("config")->kvs[0].value;
  EXPECT_TRUE(healthyCluster(3));
}

// Maintenance mode does not keep a fenced DC writable: the fence wins.
TEST_F(Scenario, TheFenceWinsOverMaintenanceMode) {
  addNodes(2);
  ASSERT_TRUE(observer_->put("/service/batman/site", R"({"role":"primary","epoch":1})", 0).ok());
  ASSERT_TRUE(runUntil([&] { return healthyCluster(2); }, 120s));
  ASSERT_TRUE(pauseCluster());
  run(15s);
  ASSERT_EQ(primaries().size(), 1u) << "pause alone changes nothing";
  ASSERT_TRUE(observer_->put("/service/batman/site", R"({"role":"fenced","epoch":2})", 0).ok());
  woken_ = true;
  EXPECT_TRUE(runUntil([&] { return primaries().empty(); }, 5s)) << "a paused, fenced DC kept its primary writable";
}

// With a coordinator, a DC checks its epoch against the other DC's site
// key: members that confirmed it fail over even while the other DC is down;
// a DC the other one superseded (promoted past its epoch) stops its primary;
// a member that could never confirm the current epoch promotes nobody.
TEST_F(Scenario, TheOtherDcsEpochDecidesWhoMayBePrimary) {
  const std::string site = R"({"role":"primary","epoch":EPOCH,"peer":{"site":"dc2","etcd":["10.0.2.1:2379"],"scope":"dr"}})";
  auto setEpoch = [&](int epoch) {
    ASSERT_TRUE(observer_->put("/service/batman/site", std::regex_replace(site, std::regex("EPOCH"), std::to_string(epoch)), 0).ok());
    woken_ = true;
  };
  peer_sites_.set(dcs::SiteRole::kStandby, 1);
  addNodes(3);
  setEpoch(1);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  run(15s);  // every member confirms epoch 1
  peer_sites_.state.reset();  // the other DC goes down
  const std::string first = *leaderKey();
  kill(first);
  ASSERT_TRUE(runUntil([&] { return primaries().size() == 1 && leaderKey() && *leaderKey() != first; }, 60s))
      << "a confirmed DC fails over while the other DC is down";
  // The other DC was promoted past us while we could not see it.
  peer_sites_.set(dcs::SiteRole::kPrimary, 2);
  ASSERT_TRUE(runUntil([&] { return primaries().empty(); }, 15s)) << "a superseded DC keeps writing";
  run(30s);
  EXPECT_TRUE(primaries().empty());
  // Our epoch moves on (say, an operator's promote of this DC), and the other
  // DC cannot be asked: the stopped leader does not start as a primary.
  peer_sites_.state.reset();
  setEpoch(3);
  run(30s);
  EXPECT_TRUE(primaries().empty()) << "an unconfirmed epoch must not start a primary";
  peer_sites_.set(dcs::SiteRole::kFenced, 3);
  EXPECT_TRUE(runUntil([&] { return primaries().size() == 1; }, 60s)) << "confirmed, the DC takes writes again";
  EXPECT_EQ(max_primaries_, 1);
}

TEST_F(Scenario, PausedClusterTakesNoAutomaticAction) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  auto config = observer_->get("/service/batman/config");
  std::string json = config->kvs[0].value;
  json.insert(1, R"("pause":true,)");
  ASSERT_TRUE(observer_->put("/service/batman/config", json, 0).ok());
  run(15s);
  const std::string leader = *leaderKey();
  world_.servers[leader].running = false;  // PostgreSQL dies on the leader
  world_.servers[leader].primary = false;
  run(90s);
  EXPECT_EQ(leaderKey(), leader) << "the leader keeps its lock in pause";
  EXPECT_TRUE(primaries().empty()) << "no automatic restart or promotion in pause";
}

TEST_F(Scenario, FailedPrePromoteCancelsThePromotion) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  const std::string old_leader = *leaderKey();
  for (auto& n : nodes_) n->callbacks->fail_pre_promote = n->name != "n3" || old_leader == "n3";
  const std::string expected = old_leader == "n3" ? "" : "n3";
  kill(old_leader);
  run(60s);
  if (expected.empty()) {
    EXPECT_TRUE(primaries().empty()) << "every pre_promote fails: nobody may promote";
  } else {
    EXPECT_EQ(primaries(), std::vector<std::string>{expected});
    EXPECT_EQ(leaderKey(), expected);
  }
  for (auto& n : nodes_) {
    if (n->name == old_leader || n->name == expected) continue;
    const auto& calls = n->callbacks->calls;
    EXPECT_NE(std::find(calls.begin(), calls.end(), "pre_promote"), calls.end()) << n->name << " never tried";
    EXPECT_EQ(std::find(calls.begin(), calls.end(), "on_role_change primary"), calls.end()) << n->name;
  }
}

TEST_F(Scenario, CallbacksReportStartsAndRoleChanges) {
  addNodes(2);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(2); }, 120s));
  const std::string leader = *leaderKey();
  const std::string other = leader == "n1" ? "n2" : "n1";
  EXPECT_EQ(node(leader).callbacks->calls, std::vector<std::string>{"on_start primary"});
  EXPECT_EQ(node(other).callbacks->calls, std::vector<std::string>{"on_start replica"});
  kill(leader);
  ASSERT_TRUE(runUntil([&] { return leaderKey() == other; }, 60s));
  EXPECT_EQ(node(other).callbacks->calls,
            (std::vector<std::string>{"on_start replica", "pre_promote", "on_role_change primary"}));
}

TEST_F(Scenario, LeaderKeepsASlotPerMemberAndPermanentSlots) {
  addNodes(3, [](config::Config& c) { c.bootstrap.dcs.slots["dr_standby"] = {{"type", "physical"}}; });
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  run(15s);
  const std::string leader = *leaderKey();
  std::set<std::string> expected{"dr_standby"};
  for (auto& n : nodes_) {
    if (n->name != leader) expected.insert(n->name);
  }
  EXPECT_EQ(node(leader).postgres->slots, expected);
  EXPECT_EQ(node(leader == "n1" ? "n2" : "n1").postgres->upstream.slot, leader == "n1" ? "n2" : "n1");
  // Replicas keep a copy of the permanent slot, advanced to where the
  // leader's stands (published in /status), so it survives a failover.
  auto status = observer_->get("/service/batman/status");
  ASSERT_TRUE(status.ok() && !status->kvs.empty());
  EXPECT_NE(status->kvs[0].value.find("\"slots\":{\"dr_standby\":"), std::string::npos) << status->kvs[0].value;
  for (auto& n : nodes_) {
    if (n->name == leader) continue;
    EXPECT_EQ(n->postgres->slots, std::set<std::string>{"dr_standby"}) << n->name;
    // The leader writes on: its slot moved since, by at most a few loops.
    EXPECT_GT(n->postgres->advanced["dr_standby"], 0) << n->name;
    EXPECT_LE(n->postgres->advanced["dr_standby"], world_.servers[leader].lsn) << n->name;
  }
}

TEST_F(Scenario, SynchronousModeFailsOverOnlyToTheSynchronousStandby) {
  startSynchronousCluster();
  if (HasFatalFailure()) return;
  auto parsed = dcs::parseSync(observer_->get("/service/batman/sync")->kvs[0].value);
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->sync_standby.size(), 1u);
  const std::string sync_standby = parsed->sync_standby[0];
  const std::string leader = *leaderKey();
  EXPECT_EQ(parsed->leader, leader);
  // The async replica is further ahead: it must still not take over.
  for (auto& [name, s] : world_.servers) {
    if (name != leader && name != sync_standby) s.lsn += 1'000'000;
  }
  kill(leader);
  ASSERT_TRUE(runUntil([&] { return leaderKey() == sync_standby && primaries().size() == 1; }, 60s))
      << "the synchronous standby did not take over";
  EXPECT_TRUE(runUntil(
      [&] {
        auto now = dcs::parseSync(observer_->get("/service/batman/sync")->kvs[0].value);
        return now.ok() && now->leader == sync_standby && now->sync_standby.size() == 1;
      },
      60s))
      << "the new leader does not pick a new synchronous standby";
}

TEST_F(Scenario, GracefulStopHandsTheLockOverAtOnce) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  const std::string leader = *leaderKey();
  const Lsn written = world_.servers[leader].lsn;
  ASSERT_TRUE(node(leader).agent->shutdown().ok());
  node(leader).alive = false;
  EXPECT_TRUE(observer_->getPrefix("/service/batman/members/" + leader)->kvs.empty()) << "the lease is revoked";
  const auto took = runUntil([&] { return leaderKey() && *leaderKey() != leader && primaries().size() == 1; }, 60s);
  ASSERT_TRUE(took);
  EXPECT_LE(*took, 2) << "a released lock is taken at once, not after ttl";
  EXPECT_GE(world_.servers[*leaderKey()].lsn, written) << "the new leader has everything the old one wrote";
}

TEST_F(Scenario, GracefulStopOfALoneLeaderDoesNotWait) {
  addNodes(1);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(1); }, 60s));
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(node("n1").agent->shutdown().ok());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s) << "no replica to wait for";
  EXPECT_FALSE(leaderKey());
}

TEST_F(Scenario, DivergedStandbyIsRewoundInsteadOfStuck) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  const std::string old_leader = *leaderKey();
  kill(old_leader);
  ASSERT_TRUE(runUntil([&] { return leaderKey() && *leaderKey() != old_leader && primaries().size() == 1; }, 60s));
  const std::string leader = *leaderKey();
  run(15s);  // the new leader publishes its new timeline
  // The old leader's server comes back as a standby of the new leader on
  // its old timeline, with a forked history: it cannot stream.
  FakeServer& old = world_.servers[old_leader];
  old = serverWithData("7000", 1, old.lsn + 500, /*running=*/true, /*primary=*/false);
  old.following = leader;
  old.diverged = true;
  node(old_leader).alive = true;
  ASSERT_TRUE(runUntil([&] { return !world_.servers[old_leader].diverged; }, 90s)) << "stuck on a forked timeline";
  EXPECT_TRUE(runUntil([&] { return healthyCluster(3); }, 60s));
}

TEST_F(Scenario, GarbageInTheDcsIsSkippedAndTheClusterKeepsWorking) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  // A valid /config first: what garbage after it must not undo.
  ASSERT_TRUE(observer_->put("/service/batman/config", R"({"ttl":30,"loop_wait":5,"retry_timeout":10})", 0).ok());
  run(15s);
  ASSERT_EQ(node("n1").agent->settings().loop_wait, 5s);
  ASSERT_TRUE(observer_->put("/service/batman/config", "{not json", 0).ok());
  ASSERT_TRUE(observer_->put("/service/batman/members/ghost", "\x01\x02garbage", 0).ok());
  ASSERT_TRUE(observer_->put("/service/batman/sync", R"({"leader": 42})", 0).ok());
  ASSERT_TRUE(observer_->put("/service/batman/failover", "[]", 0).ok());
  ASSERT_TRUE(observer_->put("/service/batman/history", "null", 0).ok());
  ASSERT_TRUE(observer_->put("/service/batman/config", R"({"ttl": "soon", "loop_wait": 10})", 0).ok());
  run(60s);
  EXPECT_TRUE(healthyCluster(3)) << "garbage must not disturb a healthy cluster";
  for (auto& n : nodes_) {
    EXPECT_EQ(n->agent->settings().loop_wait, 5s) << n->name << " fell back to bootstrap.dcs instead of the last valid /config";
  }
  const std::string leader = *leaderKey();
  kill(leader);
  EXPECT_TRUE(runUntil([&] { return leaderKey() && *leaderKey() != leader && primaries().size() == 1; }, 60s))
      << "and must not prevent a failover";
}

// /initialize deleted (a hand-made `etcdctl del`, an etcd restore): nobody
// takes the cluster for uninitialized (no re-bootstrap, no data removed),
// the leader writes it back, and a failover still works.
TEST_F(Scenario, ADeletedInitializeKeyIsWrittenBackAndNobodyBootstrapsAgain) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  const std::string system_id = world_.servers[*leaderKey()].system_id;
  ASSERT_TRUE(observer_->erasePrefix("/service/batman/initialize").ok());
  woken_ = true;
  EXPECT_TRUE(runUntil(
      [&] {
        auto got = observer_->get("/service/batman/initialize");
        return got.ok() && got->kvs.size() == 1 && got->kvs[0].value == system_id;
      },
      30s))
      << "the leader did not write /initialize back";
  for (const auto& [name, s] : world_.servers) EXPECT_EQ(s.system_id, system_id) << name << " was bootstrapped again";
  const std::string leader = *leaderKey();
  ASSERT_TRUE(observer_->erasePrefix("/service/batman/initialize").ok());
  kill(leader);
  EXPECT_TRUE(runUntil([&] { return leaderKey() && *leaderKey() != leader && primaries().size() == 1; }, 60s))
      << "no failover with /initialize gone";
  for (const auto& [name, s] : world_.servers) {
    if (s.initialized) {
      EXPECT_EQ(s.system_id, system_id) << name << " was bootstrapped again";
    }
  }
  EXPECT_EQ(max_primaries_, 1);
}

// In synchronous mode a /sync that is garbage or gone says nothing about
// who has every commit: fail closed, nobody promotes on it (the async
// replica is ahead here, to tempt the rule), as when no sync standby is known.
TEST_F(Scenario, AGarbledSyncKeyInSynchronousModePromotesNobody) {
  for (const std::string& garbage : {std::string("{\"leader\": 42}"), std::string()}) {
    SCOPED_TRACE(garbage.empty() ? "deleted" : "garbage");
    nodes_.clear();
    world_ = FakeWorld{};
    ASSERT_TRUE(observer_->erasePrefix("/service/batman/").ok());
    startSynchronousCluster();
    if (HasFatalFailure()) return;
    const std::string leader = *leaderKey();
    const std::string sync_standby = dcs::parseSync(observer_->get("/service/batman/sync")->kvs[0].value)->sync_standby.at(0);
    for (auto& [name, s] : world_.servers) {
      if (name != leader && name != sync_standby) s.lsn += 1'000'000;
    }
    kill(leader);  // first, so that the dead leader cannot write /sync again
    if (garbage.empty()) {
      ASSERT_TRUE(observer_->erasePrefix("/service/batman/sync").ok());
    } else {
      ASSERT_TRUE(observer_->put("/service/batman/sync", garbage, 0).ok());
    }
    run(60s);
    EXPECT_TRUE(primaries().empty()) << "a replica was promoted on an unreadable /sync";
    // The operator decides: a manual failover to the synchronous standby.
    dcs::FailoverInfo manual;
    manual.candidate = sync_standby;
    ASSERT_TRUE(observer_->put("/service/batman/failover", dcs::toJson(manual), 0).ok());
    woken_ = true;
    EXPECT_TRUE(runUntil([&] { return primaries() == std::vector<std::string>{sync_standby}; }, 60s))
        << "a manual failover does not get past the fail-closed /sync";
  }
}

// A leader key that lost its lease (written by hand, or restored from a
// backup without leases) would never expire: the holder binds it to its
// lease again, so that its death still frees the lock.
TEST_F(Scenario, ALeaderKeyWithoutALeaseIsBoundAgainAndStillExpires) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  const std::string leader = *leaderKey();
  ASSERT_TRUE(observer_->put("/service/batman/leader", leader, 0).ok());
  run(35s);
  kill(leader);
  EXPECT_TRUE(runUntil([&] { return leaderKey() && *leaderKey() != leader && primaries().size() == 1; }, 90s))
      << "the lock of a dead leader never expired";
  EXPECT_EQ(max_primaries_, 1);
}

// The leader arms its watchdog at ttl - safety_margin and keeps it alive;
// frozen, it would be reset before its lease expires and another member
// takes the lock. Replicas never arm theirs.
TEST_F(Scenario, AFrozenLeadersWatchdogFiresBeforeItsLeaseExpires) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  run(30s);
  const std::string leader = *leaderKey();
  const auto& log = node(leader).watchdog_log;
  EXPECT_TRUE(log.armed);
  EXPECT_EQ(log.timeout, 30 - 5);
  EXPECT_GE(log.keepalives.size(), 3u);
  for (auto& n : nodes_) {
    if (n->name != leader) {
      EXPECT_EQ(n->watchdog_log.opens, 0) << n->name << " armed a watchdog";
    }
  }
  ASSERT_TRUE(pauseCluster());
  woken_ = true;
  run(15s);
  EXPECT_FALSE(log.armed) << "maintenance mode disarms the watchdog";
  ASSERT_TRUE(observer_->put("/service/batman/config", R"({"ttl":30,"loop_wait":10,"retry_timeout":10})", 0).ok());
  woken_ = true;
  run(15s);
  ASSERT_TRUE(log.armed) << "armed again after maintenance mode";
  node(leader).frozen = true;
  std::optional<MonoTime> fired_at;
  ASSERT_TRUE(runUntil(
      [&] {
        if (!fired_at && testing::fired(log, clock_.monotonicNow())) {
          fired_at = clock_.monotonicNow();
          kill(leader);  // the machine is reset, its PostgreSQL with it
        }
        return leaderKey() && *leaderKey() != leader;
      },
      60s));
  ASSERT_TRUE(fired_at) << "the frozen leader's watchdog never fired before another member held the lock";
  EXPECT_EQ(max_primaries_, 1);
}

// watchdog.mode required: a member whose device cannot be armed never
// leads; once one can, it takes over.
TEST_F(Scenario, ARequiredWatchdogThatCannotBeArmedKeepsAMemberFromLeading) {
  addNodes(3, [](config::Config& c) { c.watchdog.mode = "required"; });
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  const std::string leader = *leaderKey();
  for (auto& n : nodes_) n->watchdog_log.can_open = false;
  kill(leader);
  run(60s);
  EXPECT_TRUE(primaries().empty()) << "a member led without the required watchdog";
  EXPECT_FALSE(leaderKey());
  std::string able;
  for (auto& n : nodes_) {
    if (n->name != leader && able.empty()) able = n->name;
  }
  node(able).watchdog_log.can_open = true;
  EXPECT_TRUE(runUntil([&] { return primaries() == std::vector<std::string>{able}; }, 60s));
  EXPECT_TRUE(node(able).watchdog_log.armed);
}

TEST_F(Scenario, CrashedPostgresOnTheLeaderIsRestarted) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  const std::string leader = *leaderKey();
  world_.servers[leader].running = false;
  world_.servers[leader].primary = false;
  ASSERT_TRUE(runUntil([&] { return primaries() == std::vector<std::string>{leader}; }, 15s));
  EXPECT_EQ(leaderKey(), leader);
}

// Operations asked through the REST API run in the HA loop: a restart
// scheduled for later happens when its time comes, reinitialize re-clones a
// replica and is refused on the leader, reload runs on_reload.
TEST_F(Scenario, OperationsFromTheApi) {
  addNodes(2);
  OperationMailbox mailbox([this] { woken_ = true; });
  for (auto& n : nodes_) n->agent->attachOperations(&mailbox);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(2); }, 60s));
  const std::string leader = *leaderKey();
  const std::string replica = leader == "n1" ? "n2" : "n1";
  // The mailbox is shared here, so detach the leader's agent while the
  // replica takes requests.
  node(leader).agent->attachOperations(nullptr);

  OperationRequest scheduled;
  scheduled.kind = OperationRequest::Kind::kRestart;
  scheduled.scheduled_at = clock_.wallNow() + 30s;
  scheduled.schedule = "later";
  auto accepted = mailbox.submit(scheduled);
  run(1s);
  ASSERT_EQ(accepted.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(*accepted.get(), "Restart scheduled");
  auto again = mailbox.submit(scheduled);
  run(1s);
  EXPECT_EQ(again.get().error().code, ErrorCode::kConflict) << "one scheduled restart at a time";
  run(20s);
  EXPECT_EQ(node(replica).postgres->restarts, 0) << "not before its time";
  run(15s);
  EXPECT_EQ(node(replica).postgres->restarts, 1);
  EXPECT_TRUE(std::count(node(replica).callbacks->calls.begin(), node(replica).callbacks->calls.end(), "on_restart replica"));
  OperationRequest cancel;
  cancel.kind = OperationRequest::Kind::kCancelRestart;
  auto nothing = mailbox.submit(cancel);
  run(1s);
  EXPECT_EQ(nothing.get().error().code, ErrorCode::kNotFound);

  OperationRequest reload;
  reload.kind = OperationRequest::Kind::kReload;
  auto reloaded = mailbox.submit(reload);
  run(1s);
  EXPECT_TRUE(reloaded.get().ok());
  EXPECT_EQ(node(replica).postgres->reloads, 1);

  OperationRequest reinit;
  reinit.kind = OperationRequest::Kind::kReinitialize;
  auto started = mailbox.submit(reinit);
  run(1s);
  EXPECT_EQ(*started.get(), "reinitialize started");
  ASSERT_TRUE(runUntil([&] { return healthyCluster(2); }, 60s)) << "the replica was not cloned again";

  node(replica).agent->attachOperations(nullptr);
  node(leader).agent->attachOperations(&mailbox);
  auto refused = mailbox.submit(reinit);
  run(2s);
  EXPECT_EQ(refused.get().error().message, "I am the leader, can not reinitialize");
}

// A standby cluster: the first member clones the other DC's primary, holds
// the lock as standby leader streaming from it, the others cascade from
// the standby leader; nobody in this DC ever becomes a primary, and when
// the standby leader dies another member takes over and follows the remote.
TEST_F(Scenario, StandbyClusterFollowsTheRemotePrimary) {
  world_.servers[kRemotePrimary] = serverWithData("9000", 3, 500, /*running=*/true, /*primary=*/true);
  addNodes(3, [](config::Config& c) {
    config::StandbyClusterConfig standby;
    standby.hosts = {"dc1.example"};
    standby.port = 5432;
    standby.primary_slot_name = "dc2";
    standby.restore_command = "cp /archive/%f %p";
    standby.archive_cleanup_command = "pg_archivecleanup /archive %r";
    standby.recovery_min_apply_delay = "5min";
    c.bootstrap.dcs.standby_cluster = standby;
  });
  auto standbyDcPrimaries = [&] {
    int n = 0;
    for (const auto& [name, s] : world_.servers) n += name != kRemotePrimary && s.running && s.primary ? 1 : 0;
    return n;
  };
  auto settled = [&] {
    const auto leader = leaderKey();
    if (!leader || world_.servers[*leader].following != kRemotePrimary) return false;
    for (const auto& n : nodes_) {
      const FakeServer& s = world_.servers[n->name];
      if (!n->alive) continue;
      if (!s.running || s.primary || s.system_id != "9000") return false;
      if (n->name != *leader && s.following != *leader) return false;
    }
    return true;
  };
  ASSERT_TRUE(runUntil(settled, 120s)) << "no standby leader with a cascade";
  EXPECT_EQ(standbyDcPrimaries(), 0);
  const std::string first = *leaderKey();
  EXPECT_EQ(node(first).postgres->upstream.slot, "dc2") << "the standby leader streams through primary_slot_name";
  for (const auto& n : nodes_) {
    EXPECT_EQ(n->postgres->upstream.restore_command, "cp /archive/%f %p") << n->name;
    EXPECT_EQ(n->postgres->upstream.recovery_min_apply_delay, "5min") << n->name;
    // One cleaner per archive: the standby leader.
    EXPECT_EQ(n->postgres->upstream.archive_cleanup_command, n->name == first ? "pg_archivecleanup /archive %r" : "")
        << n->name;
  }

  // Writes in the other DC reach every member here.
  world_.servers[kRemotePrimary].lsn += 1000;
  run(3s);
  for (const auto& n : nodes_) EXPECT_EQ(world_.servers[n->name].lsn, 1500) << n->name;
  // The standby leader publishes its position in /status, so that
  // maximum_lag_on_failover applies inside the standby cluster too.
  ASSERT_TRUE(runUntil(
      [&] {
        auto status = observer_->get("/service/batman/status");
        return status.ok() && status->kvs.size() == 1 && dcs::parseStatus(status->kvs[0].value).ok() &&
               dcs::parseStatus(status->kvs[0].value)->optime == 1500;
      },
      15s))
      << "the standby leader does not publish /status";

  kill(first);
  ASSERT_TRUE(runUntil([&] { return leaderKey() && *leaderKey() != first && settled(); }, 60s))
      << "no new standby leader after the old one died";
  EXPECT_EQ(standbyDcPrimaries(), 0) << "a standby cluster member promoted itself";
  world_.servers[kRemotePrimary].lsn += 1000;
  run(3s);
  EXPECT_EQ(world_.servers[*leaderKey()].lsn, 2500);
}

// The primary DC fails over to a timeline that forked before what the
// standby leader had replayed: it cannot stream. It asks the remote primary,
// sees the newer timeline, rewinds and follows again; without pg_rewind it
// is cloned again instead, and never promotes on the way.
class StandbyDiverged : public Scenario, public ::testing::WithParamInterface<bool> {};

TEST_P(StandbyDiverged, TheStandbyLeaderRewindsOrIsClonedAgain) {
  const bool reclone = GetParam();
  world_.servers[kRemotePrimary] = serverWithData("9000", 3, 500, /*running=*/true, /*primary=*/true);
  addNodes(2, [](config::Config& c) {
    config::StandbyClusterConfig standby;
    standby.hosts = {"dc1.example"};
    c.bootstrap.dcs.standby_cluster = standby;
  });
  auto following = [&] {
    const auto leader = leaderKey();
    if (!leader) return false;
    const FakeServer& s = world_.servers[*leader];
    return s.running && !s.primary && s.following == kRemotePrimary && !s.diverged && s.timeline == world_.servers[kRemotePrimary].timeline;
  };
  ASSERT_TRUE(runUntil(following, 120s));
  const std::string leader = *leaderKey();
  node(leader).postgres->rewind_removes_data = reclone;
  // DC1 fails over to timeline 4, forked behind us.
  world_.servers[kRemotePrimary].timeline = 4;
  world_.servers[leader].diverged = true;
  world_.servers[leader].lsn += 50;
  ASSERT_TRUE(runUntil(following, 120s)) << "the standby leader stays stuck on a forked timeline";
  EXPECT_EQ(*leaderKey(), leader) << "it kept the standby leader lock";
  EXPECT_EQ(world_.servers[leader].system_id, "9000");
  for (const auto& [name, s] : world_.servers) {
    EXPECT_TRUE(name == kRemotePrimary || !s.primary) << name << " promoted in a standby cluster";
  }
}

INSTANTIATE_TEST_SUITE_P(RewindOrReclone, StandbyDiverged, ::testing::Values(false, true),
                         [](const auto& param_info) { return param_info.param ? "Reclone" : "Rewind"; });

}  // namespace
}  // namespace pgtandem::agent

namespace pgtandem::agent {
namespace {

// The coordinator's run-time mark (a rolling upgrade's): the marked replica
// publishes the tags it acts as, is never promoted while marked, and is a
// failover candidate again once unmarked. Garbage in the key marks nobody.
TEST_F(Scenario, AMarkedReplicaIsOutOfFailoverUntilUnmarked) {
  addNodes(3);
  ASSERT_TRUE(runUntil([&] { return healthyCluster(3); }, 120s));
  const std::string leader = *leaderKey();
  std::vector<std::string> replicas;
  for (const auto& n : nodes_) {
    if (n->name != leader) replicas.push_back(n->name);
  }
  const std::string marked = replicas[0], other = replicas[1];
  dcs::MemberMark mark;
  mark.nofailover = mark.noloadbalance = mark.nosync = true;
  mark.reason = "upgrade to 15.20";
  ASSERT_TRUE(observer_->put("/service/batman/marks", dcs::marksJson({{marked, mark}}), 0).ok());
  auto tagsOf = [&](const std::string& name) -> dcs::MemberTags {
    auto got = observer_->get("/service/batman/members/" + name);
    if (!got.ok() || got->kvs.empty()) return {};
    auto m = dcs::parseMember(name, got->kvs[0].value);
    return m.ok() ? m->tags : dcs::MemberTags{};
  };
  ASSERT_TRUE(runUntil([&] { return tagsOf(marked).nofailover && tagsOf(marked).noloadbalance && tagsOf(marked).nosync; }, 30s))
      << "the mark is not published";
  EXPECT_FALSE(tagsOf(other).nofailover);

  // The marked one is the most caught up: it still does not take over.
  world_.servers[marked].lsn += 1000;
  kill(leader);
  ASSERT_TRUE(runUntil([&] { return leaderKey() && *leaderKey() == other && primaries().size() == 1; }, 120s))
      << "the unmarked replica did not take over";
  EXPECT_FALSE(world_.servers[marked].primary);

  // Unmarked (garbage reads as no mark): a candidate again.
  ASSERT_TRUE(observer_->put("/service/batman/marks", "{not json", 0).ok());
  ASSERT_TRUE(runUntil([&] { return !tagsOf(marked).nofailover; }, 30s)) << "garbage kept the mark";
  EXPECT_EQ(max_primaries_, 1);
}

}  // namespace
}  // namespace pgtandem::agent
