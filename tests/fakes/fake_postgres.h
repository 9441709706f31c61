#pragma once
// A fake PostgreSQL for the HA agent's scenario tests: every node's server
// lives in one FakeWorld, where streaming is "a running replica copies its
// upstream's WAL position on each tick". No processes, no files.

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>

#include "dc-agent/ha/postgres_control.h"

namespace pgtandem::testing {

using agent::PeerState;
using agent::PgObservation;
using agent::PostgresControl;
using agent::UpstreamSettings;

// The PostgreSQL servers of all nodes, with streaming modelled as "a
// running replica copies its upstream's WAL position on each tick".
struct FakeServer {
  bool initialized = false;
  std::string system_id;
  bool running = false;
  bool primary = false;
  int timeline = 0;
  Lsn lsn = 0;
  std::string following;
  bool needs_rewind = false;
  bool diverged = false;  // running standby whose history forked: it cannot stream
};

class FakeWorld {
 public:
  std::map<std::string, FakeServer> servers;

  void replicate() {
    for (auto& [name, s] : servers) {
      if (!s.running || s.primary || s.following.empty() || s.diverged) continue;
      auto up = servers.find(s.following);
      if (up == servers.end() || !up->second.running || up->second.timeline < s.timeline) continue;
      s.lsn = std::max(s.lsn, up->second.lsn);
      s.timeline = up->second.timeline;
    }
  }
  bool writes = true;  // clients write to the primary every tick
  void write(const std::string& name) {
    if (!writes) return;
    auto& s = servers[name];
    if (s.running && s.primary) s.lsn += 100;
  }
  int writablePrimaries() const {
    int n = 0;
    for (const auto& [name, s] : servers) n += (s.running && s.primary) ? 1 : 0;
    return n;
  }
};

class FakePostgres final : public PostgresControl {
 public:
  FakePostgres(FakeWorld& world, std::string name) : world_(world), name_(std::move(name)) {}

  PgObservation observe() override {
    const FakeServer& s = me();
    PgObservation o;
    o.data_initialized = s.initialized;
    o.system_id = s.system_id;
    o.running = s.running;
    o.primary = s.primary;
    o.timeline = s.timeline;
    if (s.initialized) o.wal_position = s.lsn;
    o.following = s.following;
    o.needs_rewind = s.needs_rewind;
    if (s.running && !s.primary && !s.following.empty() && !s.diverged) {
      auto up = world_.servers.find(s.following);
      o.streaming = up != world_.servers.end() && up->second.running;
    }
    o.synchronous_standby_names = ssn;
    if (s.running) {
      for (const auto& slot : slots) o.slot_positions[slot] = s.lsn;
    }
    if (s.running && s.primary) {
      for (const auto& [name, other] : world_.servers) {
        if (other.running && !other.primary && other.following == name_) {
          const bool sync = ssn.find("\"" + name + "\"") != std::string::npos;
          o.standbys.push_back({name, "streaming", sync ? "sync" : "async"});
        }
      }
    }
    return o;
  }
  Result<std::string> bootstrap() override {
    FakeServer& s = me();
    s = FakeServer{true, "7000", true, true, 1, 100, "", false};
    return s.system_id;
  }
  Status clone(const dcs::MemberInfo& source) override {
    const FakeServer& from = world_.servers[source.name];
    if (!from.running) return makeError(ErrorCode::kUnavailable, "source not running");
    FakeServer& s = me();
    s = FakeServer{true, from.system_id, false, false, from.timeline, from.lsn, "", false};
    return okStatus();
  }
  Status startPrimary() override {
    FakeServer& s = me();
    s.running = true;
    s.primary = true;
    s.following.clear();
    return okStatus();
  }
  Status follow(const dcs::MemberInfo* source) override {
    FakeServer& s = me();
    if (s.needs_rewind) return makeError(ErrorCode::kIo, "diverged: needs pg_rewind");
    s.running = true;
    s.primary = false;
    s.following = source ? source->name : "";
    return okStatus();
  }
  Status promote() override {
    FakeServer& s = me();
    if (!s.running) return makeError(ErrorCode::kUnavailable, "not running");
    if (!s.primary) {
      s.primary = true;
      s.timeline += 1;
      s.following.clear();
    }
    return okStatus();
  }
  Status demote() override {
    FakeServer& s = me();
    if (s.running && s.primary) {
      s.needs_rewind = true;  // conservatively: rewind before following
      // A clean (fast) shutdown lets connected standbys receive all WAL
      // first, as PostgreSQL's walsender does.
      for (auto& [name, other] : world_.servers) {
        if (other.running && !other.primary && other.following == name_) other.lsn = std::max(other.lsn, s.lsn);
      }
    }
    s.running = false;
    s.primary = false;
    return okStatus();
  }
  Status syncSlots(const std::set<std::string>& wanted, const std::map<std::string, Lsn>& advance) override {
    slots = wanted;
    for (const auto& [name, position] : advance) advanced[name] = position;
    return okStatus();
  }
  void setUpstreamSettings(const UpstreamSettings& settings) override { upstream = settings; }
  void setQueryTimeout(std::chrono::seconds timeout) override { query_timeout = timeout; }
  UpstreamSettings upstream;
  std::chrono::seconds query_timeout{0};
  Status setSynchronousStandbyNames(const std::string& value) override {
    ssn = value;
    return okStatus();
  }
  Status setDynamicParameters(const std::map<std::string, std::string>& parameters) override {
    dynamic_parameters = parameters;
    return okStatus();
  }
  std::map<std::string, std::string> dynamic_parameters;
  std::string ssn;
  Result<Lsn> lastCheckpoint() override { return world_.servers[name_].lsn; }
  Result<dcs::DemotionToken> demotionToken() override {
    const FakeServer& s = me();
    if (s.running) return makeError(ErrorCode::kConflict, "PostgreSQL still runs");
    dcs::DemotionToken token;
    token.system_identifier = s.system_id;
    token.timeline = s.timeline;
    token.redo_lsn = s.lsn;
    token.archived = true;
    return token;
  }
  PeerState probe(const dcs::MemberInfo& member) override {
    const FakeServer& s = world_.servers[member.name];
    if (!s.running) return {};
    return PeerState{true, s.primary, s.timeline, s.lsn, std::nullopt};
  }
  // Histories are not modelled: unknown, so the rules fall back on timelines.
  Result<Lsn> forkPoint(const dcs::MemberInfo&, int, int) override {
    return makeError(ErrorCode::kNotFound, "no history in the fake");
  }
  Result<Lsn> receivedBy(const dcs::MemberInfo& member) override { return world_.servers[member.name].lsn; }
  std::set<std::string> slots;
  std::map<std::string, Lsn> advanced;

  Status restart() override {
    FakeServer& s = me();
    if (!s.initialized) return makeError(ErrorCode::kUnavailable, "no data");
    s.running = true;  // a fast stop and a start in the same role
    ++restarts;
    return okStatus();
  }
  Status reload() override {
    ++reloads;
    return okStatus();
  }
  Status removeData() override {
    FakeServer& s = me();
    if (s.running) return makeError(ErrorCode::kConflict, "running");
    s = FakeServer{};
    return okStatus();
  }
  int restarts = 0;
  int reloads = 0;

  bool rewind_removes_data = false;  // as without use_pg_rewind: the data goes, a re-clone follows
  Status rewind(const dcs::MemberInfo& source) override {
    const FakeServer& from = world_.servers[source.name];
    FakeServer& s = me();
    if (rewind_removes_data) {
      s = FakeServer{};
      return makeError(ErrorCode::kIo, "data directory removed for a re-clone");
    }
    s.needs_rewind = false;
    s.diverged = false;
    s.timeline = from.timeline;
    s.lsn = std::min(s.lsn, from.lsn);
    return okStatus();
  }

 private:
  FakeServer& me() { return world_.servers[name_]; }
  FakeWorld& world_;
  std::string name_;
};

}  // namespace pgtandem::testing
