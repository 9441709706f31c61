#pragma once
// Two DCs of real HA agents (dc-agent/ha/Agent) on in-memory DCSs, with fake
// PostgreSQL servers in one FakeWorld (histories modelled) and a simulated
// clock: the coordinator's operations run against the agents' own rules
// instead of a script of key writes. dc1 ("pg": pg1, pg2, ...) starts as
// the primary DC; dc2 ("pgdr": dr1, dr2, ...) is its standby cluster,
// following dc1's writable member by a multi-host standby_cluster.host.
//
// One tick is 100 ms: leases expire, WAL streams, clients write to every
// writable primary, and each agent runs its cycle when loop_wait is up or
// its DC's leader, failover, config or site key changed (the daemon's
// watch). The coordinator's waits run ticks.

#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/dcs/memory_dcs.h"
#include "common/dcs/site_state.h"
#include "coordinator/site_operations.h"
#include "coordinator/site_peers.h"
#include "dc-agent/ha/agent.h"
#include "dc-agent/rest/health.h"
#include "tests/fakes/fake_lease_guard.h"
#include "tests/fakes/fake_postgres.h"
#include "tests/fakes/faulty_dcs.h"

namespace pgtandem::testing {

class NoCallbacks final : public agent::Callbacks {
 public:
  void notify(const std::string&, const std::string&) override {}
  Status prePromote() override { return okStatus(); }
};

class TwoDcWorld {
 public:
  struct Node {
    std::string name;
    int dc = 0;
    config::Config config;
    std::unique_ptr<dcs::MemoryDcs> client;
    std::unique_ptr<FakePostgres> postgres;
    NoCallbacks callbacks;
    agent::StatusBoard board;
    FakeLeaseGuard guard;  // fired by the world: as the real guard thread, it stops the postmaster
    std::unique_ptr<agent::Agent> agent;
    bool alive = true;
    bool frozen = false;  // its agent runs no cycle (hung), its PostgreSQL goes on
    MonoTime next_cycle{};
  };

  static constexpr int kTtl = 10, kLoopWait = 2, kRetryTimeout = 3;

  explicit TwoDcWorld(int members_per_dc = 2) : peers(*this), peer_reader_(*this) {
    world.model_histories = true;
    const std::array<std::string, 2> scopes = {"pg", "pgdr"}, prefixes = {"pg", "dr"};
    std::string dc1_hosts;
    for (int i = 1; i <= members_per_dc; ++i) dc1_hosts += (i > 1 ? "," : "") + prefixes[0] + std::to_string(i);
    sites.source_file = "sites.yml";
    sites.sites.resize(2);
    for (int dc = 0; dc < 2; ++dc) {
      sites.sites[dc].name = "dc" + std::to_string(dc + 1);
      sites.sites[dc].scope = scopes[dc];
      sites.sites[dc].etcd.hosts = {"etcd-dc" + std::to_string(dc + 1) + ":2379"};
      stores[dc] = dcs::MemoryStore::create(clock);
      observers[dc] = stores[dc]->connect();
      for (int i = 1; i <= members_per_dc; ++i) {
        auto node = std::make_unique<Node>();
        node->name = prefixes[dc] + std::to_string(i);
        node->dc = dc;
        config::Config& c = node->config;
        c.scope = scopes[dc];
        c.name = node->name;
        c.restapi.connect_address = node->name + ":8008";
        c.postgresql.connect_address = node->name + ":5432";
        c.bootstrap.dcs.ttl = kTtl;
        c.bootstrap.dcs.loop_wait = kLoopWait;
        c.bootstrap.dcs.retry_timeout = kRetryTimeout;
        if (dc == 0) {
          c.bootstrap.dcs.slots["dr"] = {{"type", "physical"}};
        } else {
          config::StandbyClusterConfig standby;
          standby.hosts = {dc1_hosts};
          standby.port = 5432;
          standby.primary_slot_name = "dr";
          c.bootstrap.dcs.standby_cluster = standby;
        }
        nodes.push_back(std::move(node));
      }
    }
    for (auto& n : nodes) startAgent(*n, std::chrono::milliseconds(300 * (&n - &nodes[0])));
  }

  Node& node(const std::string& name) {
    for (auto& n : nodes) {
      if (n->name == name) return *n;
    }
    throw std::runtime_error("no node " + name);
  }
  FakeServer& server(const std::string& name) { return world.servers[name]; }

  std::string key(int dc, const std::string& name) {
    auto got = observers[dc]->get("/service/" + sites.sites[dc].scope + "/" + name);
    return got.ok() && !got->kvs.empty() ? got->kvs[0].value : "";
  }
  void putKey(int dc, const std::string& name, const std::string& value) {
    (void)observers[dc]->put("/service/" + sites.sites[dc].scope + "/" + name, value, 0);
  }
  std::optional<dcs::SiteState> site(int dc) {
    auto parsed = dcs::parseSiteState(key(dc, "site"));
    return parsed.ok() ? std::optional<dcs::SiteState>(*parsed) : std::nullopt;
  }
  std::string leader(int dc) { return key(dc, "leader"); }

  std::vector<std::string> writable() const {
    std::vector<std::string> out;
    for (const auto& [name, s] : world.servers) {
      if (s.running && s.primary) out.push_back(name);
    }
    return out;
  }
  // The DC's members: running, and (but for its leader) streaming from their upstream.
  bool dcSteady(int dc) {
    const std::string lead = leader(dc);
    if (lead.empty()) return false;
    for (auto& n : nodes) {
      if (n->dc != dc) continue;
      const FakeServer& s = world.servers[n->name];
      if (!s.running || s.diverged) return false;
      if (n->name != lead && (s.primary || s.following != lead)) return false;
    }
    return true;
  }
  // dc `primary` has the one writable primary; every member of the other DC streams from it.
  bool steady(int primary) {
    const auto w = writable();
    if (w.size() != 1 || w[0] != leader(primary) || !dcSteady(primary) || !dcSteady(1 - primary)) return false;
    const FakeServer& standby_leader = world.servers[leader(1 - primary)];
    return !standby_leader.primary && world.upstreamOf(standby_leader) == &world.servers[w[0]];
  }

  void tick() {
    clock.advance(std::chrono::milliseconds(100));
    for (int dc = 0; dc < 2; ++dc) {
      if (!down[dc]) stores[dc]->expireLeases();
    }
    world.replicate();
    for (auto& n : nodes) {
      const auto& deadline = n->guard.deadline();
      FakeServer& s = world.servers[n->name];
      if (n->alive && deadline && clock.monotonicNow() >= *deadline + std::chrono::milliseconds(200) && s.running && s.primary) {
        s.running = s.primary = false;  // SIGINT: a fast shutdown
      }
    }
    for (int dc = 0; dc < 2; ++dc) {
      const std::string watched = leader(dc) + "|" + key(dc, "failover") + "|" + key(dc, "config") + "|" + key(dc, "site");
      const bool woken = watched != watched_[dc];
      watched_[dc] = watched;
      for (auto& n : nodes) {
        if (n->dc != dc || !n->alive || n->frozen || down[dc]) continue;
        if (clock.monotonicNow() < n->next_cycle && !woken) continue;
        n->agent->runCycle();
        n->next_cycle = n->agent->nextCycleBy();
      }
    }
    for (const auto& name : writable()) {
      world.write(name);
      const FakeServer& s = world.servers[name];
      committed[s.timeline] = std::max(committed[s.timeline], s.lsn);
    }
    const auto now_writable = writable();
    if (static_cast<int>(now_writable.size()) > max_writable) {
      max_writable = static_cast<int>(now_writable.size());
      if (max_writable > 1) {
        two_writers = "at " + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(clock.monotonicNow().time_since_epoch()).count()) + " ms:";
        for (const auto& name : now_writable) two_writers += " " + name;
      }
    }
  }
  void run(std::chrono::milliseconds duration) {
    for (auto t = std::chrono::milliseconds(0); t < duration; t += std::chrono::milliseconds(100)) tick();
  }
  // Ticks until `predicate` holds, at most `limit`.
  bool runUntil(const std::function<bool()>& predicate, std::chrono::seconds limit) {
    for (auto t = std::chrono::milliseconds(0); t < limit; t += std::chrono::milliseconds(100)) {
      if (predicate()) return true;
      tick();
    }
    return predicate();
  }

  // Every process of a DC dies at once (a power cut) and its etcd with it.
  void killDc(int dc) {
    down[dc] = true;
    for (auto& n : nodes) {
      if (n->dc == dc) killNode(n->name);
    }
  }
  void killNode(const std::string& name) {
    Node& n = node(name);
    n.alive = false;
    n.agent.reset();  // its memory is gone
    FakeServer& s = world.servers[name];
    if (s.running && s.primary) s.needs_rewind = true;  // a crashed primary
    s.running = false;
    s.primary = false;
  }
  void startNode(const std::string& name) {
    if (!node(name).alive) startAgent(node(name), std::chrono::milliseconds(0));
  }
  void startDc(int dc) {
    down[dc] = false;
    for (auto& n : nodes) {
      if (n->dc == dc && !n->alive) startAgent(*n, std::chrono::milliseconds(0));
    }
  }

  // Bytes clients saw committed on `timeline` that the one writable
  // primary does not have (nullopt: there is not exactly one).
  std::optional<Lsn> lostOn(int timeline) {
    const auto w = writable();
    if (w.size() != 1) return std::nullopt;
    const FakeServer& p = world.servers[w[0]];
    const Lsn seen = committed.count(timeline) ? committed.at(timeline) : 0;
    const Lsn kept = p.timeline == timeline ? p.lsn : (p.history.count(timeline) ? p.history.at(timeline) : 0);
    return seen > kept ? seen - kept : 0;
  }
  int rewinds() const {
    int n = 0;
    for (const auto& node : nodes) n += node->postgres ? node->postgres->rewinds : 0;
    return n;
  }

  coordinator::SiteOperations operations(coordinator::OperationLimits limits = {}) {
    coordinator::DcsFactory connect = [this](const coordinator::Site& s) -> Result<std::unique_ptr<dcs::Dcs>> {
      const int dc = s.name == "dc1" ? 0 : 1;
      if (down[dc]) return makeError(ErrorCode::kUnavailable, "no route to host");
      auto client = std::make_unique<FaultyDcs>(std::unique_ptr<dcs::Dcs>(stores[dc]->connect()));
      client->unreachable = [this, dc] {
        if (coordinator_cut[dc]) ++coordinator_cut_calls[dc];
        return coordinator_cut[dc];
      };
      return std::unique_ptr<dcs::Dcs>(std::move(client));
    };
    auto said = [this](const std::string& line) {
      progress.push_back(line);
      if (on_progress) on_progress(line);
    };
    return coordinator::SiteOperations(sites, connect, peers, clock, limits, said,
                                       [this](std::chrono::milliseconds d) { run(std::max(d, std::chrono::milliseconds(100))); });
  }

  // What the coordinator asks of the members, answered by the fake servers
  // and, for /primary, by the agents' own published status (as the REST API).
  class Peers final : public coordinator::SitePeers {
   public:
    explicit Peers(TwoDcWorld& w) : w_(w) {}
    coordinator::PrimaryHealth health;  // what every primary reports
    std::set<std::string> unreachable;  // members whose REST API does not answer
    int checkpoints = 0;

    Status checkpoint(const coordinator::Site&, const dcs::MemberInfo& m) override {
      const FakeServer* s = running(m);
      if (!s) return makeError(ErrorCode::kUnavailable, m.name + " does not answer");
      ++checkpoints;
      return okStatus();
    }
    Result<coordinator::PrimaryHealth> primaryHealth(const coordinator::Site&, const dcs::MemberInfo& m) override {
      if (!running(m)) return makeError(ErrorCode::kUnavailable, m.name + " does not answer");
      return health;
    }
    // A restartpoint lands on the last checkpoint replayed: in this world,
    // where its WAL ends, the checkpoint record being the last 40 bytes.
    Result<coordinator::ControlPoint> restartpoint(const coordinator::Site&, const dcs::MemberInfo& m) override {
      const FakeServer* s = running(m);
      if (!s) return makeError(ErrorCode::kUnavailable, m.name + " does not answer");
      coordinator::ControlPoint point{s->system_id, s->timeline, s->lsn, !s->primary, std::nullopt};
      if (!s->primary) point.replay_lsn = s->lsn + 40;
      return point;
    }
    Result<bool> inRecovery(const coordinator::Site&, const dcs::MemberInfo& m) override {
      const FakeServer* s = running(m);
      if (!s) return makeError(ErrorCode::kUnavailable, m.name + " does not answer");
      return !s->primary;
    }
    Result<int> primaryCheck(const dcs::MemberInfo& m) override {
      for (auto& n : w_.nodes) {
        if (n->name != m.name) continue;
        if (!n->alive || unreachable.count(m.name) || w_.coordinator_cut[n->dc]) {
          return makeError(ErrorCode::kUnavailable, "connection refused");
        }
        return rest::healthStatus("/primary", {}, *n->board.current(), w_.clock.monotonicNow());
      }
      return makeError(ErrorCode::kUnavailable, "no such host");
    }

   private:
    const FakeServer* running(const dcs::MemberInfo& m) {
      auto it = w_.world.servers.find(m.name);
      if (it == w_.world.servers.end() || !it->second.running) return nullptr;
      const auto& node = w_.node(m.name);
      return node.alive && !w_.coordinator_cut[node.dc] ? &it->second : nullptr;
    }
    TwoDcWorld& w_;
  };


  SimulatedClock clock;
  FakeWorld world;
  std::array<std::shared_ptr<dcs::MemoryStore>, 2> stores;
  std::array<std::unique_ptr<dcs::MemoryDcs>, 2> observers;
  std::array<bool, 2> down = {false, false};  // the DC's etcd and agents do not answer
  std::array<bool, 2> coordinator_cut = {false, false};  // the coordinator cannot reach the DC (its DCS nor members)
  std::array<int, 2> coordinator_cut_calls = {0, 0};     // DCS calls refused by that cut (each a deadline waited out)
  coordinator::SitesConfig sites;
  std::vector<std::unique_ptr<Node>> nodes;
  std::map<int, Lsn> committed;  // timeline -> the last position clients saw committed on it
  std::vector<std::string> progress;        // what the operations said
  std::function<void(const std::string&)> on_progress;  // a fault injected at a given step
  int max_writable = 0;
  std::string two_writers;  // when max_writable first passed 1, and who
  Peers peers;

 private:
  void startAgent(Node& n, std::chrono::milliseconds offset) {
    n.client = stores[n.dc]->connect();
    n.postgres = std::make_unique<FakePostgres>(world, n.name);
    n.agent = std::make_unique<agent::Agent>(n.config, *n.client, *n.postgres, n.callbacks, clock);
    n.agent->attachStatusBoard(&n.board);
    n.agent->attachPeerSiteReader(&peer_reader_);
    n.agent->attachLeaseGuard(&n.guard);
    n.alive = true;
    n.next_cycle = clock.monotonicNow() + offset;
  }

  // The other DC's site key, read from its store (an error while it is down).
  class PeerReader final : public agent::PeerSiteReader {
   public:
    explicit PeerReader(TwoDcWorld& w) : w_(w) {}
    Result<std::optional<dcs::SiteState>> read(const dcs::PeerSite& peer) override {
      const int dc = peer.scope == w_.sites.sites[0].scope ? 0 : 1;
      if (w_.down[dc]) return makeError(ErrorCode::kUnavailable, "the other DC does not answer");
      const std::string text = w_.key(dc, "site");
      if (text.empty()) return std::optional<dcs::SiteState>();
      auto parsed = dcs::parseSiteState(text);
      if (!parsed.ok()) return parsed.error();
      return std::optional<dcs::SiteState>(*parsed);
    }

   private:
    TwoDcWorld& w_;
  };

  std::array<std::string, 2> watched_;
  PeerReader peer_reader_;
};

}  // namespace pgtandem::testing
