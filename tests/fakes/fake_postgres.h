#pragma once
// A fake PostgreSQL for the HA agent's scenario tests: every node's server
// lives in one FakeWorld, where streaming is "a running replica copies its
// upstream's WAL position on each tick". No processes, no files.
//
// With `model_histories` (two DCs, tests/fakes/two_dc_world.h) the world
// also keeps each server's timeline history, as PostgreSQL does: a standby
// streams a newer timeline only when its WAL ends at or before the fork, a
// crashed or stopped primary may start as a standby (it diverges if its WAL
// went past the fork), and an upstream named by a connection string (a
// standby cluster's remote primary) is the writable one of its hosts.

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <utility>

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
  // The hosts of the followed member's conn_url ("pg1,pg2"), for an
  // upstream that is not a member of this DC (standby_cluster).
  std::string upstream_hosts;
  std::map<int, Lsn> history;  // timeline -> the LSN where it ended (the fork to the next)
  bool replay_paused = false;  // pg_wal_replay_pause(): nothing more is replayed
};

inline FakeServer serverWithData(std::string system_id, int timeline, Lsn lsn, bool running, bool primary) {
  FakeServer s;
  s.initialized = true;
  s.system_id = std::move(system_id);
  s.timeline = timeline;
  s.lsn = lsn;
  s.running = running;
  s.primary = primary;
  return s;
}

// "postgres://a,b:5432/postgres" -> "a,b" (the harnesses use server names as hosts).
inline std::string hostsOf(const std::string& conn_url) {
  auto begin = conn_url.find("://");
  begin = begin == std::string::npos ? 0 : begin + 3;
  const auto end = conn_url.find_first_of(":/", begin);
  return conn_url.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

class FakeWorld {
 public:
  std::map<std::string, FakeServer> servers;
  bool model_histories = false;

  // A member by name, else by its conn_url's hosts: the writable one, else
  // the first that runs (libpq's multi-host order).
  FakeServer* find(const std::string& name, const std::string& hosts) {
    if (auto it = servers.find(name); it != servers.end()) return &it->second;
    FakeServer* running = nullptr;
    std::size_t begin = 0;
    while (!hosts.empty() && begin <= hosts.size()) {
      const auto end = std::min(hosts.find(',', begin), hosts.size());
      auto it = servers.find(hosts.substr(begin, end - begin));
      if (it != servers.end() && it->second.running) {
        if (it->second.primary) return &it->second;
        if (!running) running = &it->second;
      }
      begin = end + 1;
    }
    return running;
  }
  FakeServer* find(const dcs::MemberInfo& member) { return find(member.name, hostsOf(member.conn_url)); }
  FakeServer* upstreamOf(const FakeServer& s) {
    if (s.following.empty()) return nullptr;
    return find(s.following, s.upstream_hosts);
  }

  void replicate() {
    for (auto& [name, s] : servers) {
      if (!s.running || s.primary || s.following.empty() || s.diverged || s.replay_paused) continue;
      FakeServer* up = upstreamOf(s);
      if (!up || up == &s || !up->running || up->timeline < s.timeline) continue;
      if (model_histories && up->timeline > s.timeline) {
        const auto fork = up->history.find(s.timeline);
        if (fork == up->history.end() || s.lsn > fork->second) {
          s.diverged = true;  // our WAL went past the fork: only pg_rewind helps
          continue;
        }
      }
      s.lsn = std::max(s.lsn, up->lsn);
      s.timeline = up->timeline;
      if (model_histories) s.history = up->history;
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
      const FakeServer* up = world_.upstreamOf(s);
      o.streaming = up && up->running;
      if (o.streaming && world_.model_histories) {
        o.receive_lsn = o.replay_lsn = s.lsn;
        o.upstream_lsn = up->lsn;  // a paused replay falls behind
        o.upstream_silence_seconds = 0;
      }
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
    s = serverWithData("7000", 1, 100, /*running=*/true, /*primary=*/true);
    return s.system_id;
  }
  Status clone(const dcs::MemberInfo& source) override {
    const FakeServer* from = world_.find(source);
    if (!from || !from->running) return makeError(ErrorCode::kUnavailable, "source not running");
    const FakeServer copy = *from;
    FakeServer& s = me();
    s = serverWithData(copy.system_id, copy.timeline, copy.lsn, false, false);
    s.history = copy.history;
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
    // Without histories: conservatively, a former primary rewinds first.
    // With them, it starts as a standby and diverges only past the fork.
    if (s.needs_rewind && !world_.model_histories) return makeError(ErrorCode::kIo, "diverged: needs pg_rewind");
    s.needs_rewind = false;
    s.diverged = false;
    s.running = true;
    s.primary = false;
    s.following = source ? source->name : "";
    s.upstream_hosts = source ? hostsOf(source->conn_url) : "";
    return okStatus();
  }
  Status promote() override {
    FakeServer& s = me();
    if (!s.running) return makeError(ErrorCode::kUnavailable, "not running");
    if (!s.primary) {
      s.history[s.timeline] = s.lsn;
      s.primary = true;
      s.timeline += 1;
      s.following.clear();
      s.replay_paused = false;
    }
    return okStatus();
  }
  Status demote() override {
    FakeServer& s = me();
    if (s.running && s.primary) {
      s.needs_rewind = true;  // a stopped primary: rewind (or, with histories, a check of the fork) before following
      // A clean (fast) shutdown lets connected standbys receive all WAL
      // first, as PostgreSQL's walsender does.
      for (auto& [name, other] : world_.servers) {
        if (other.running && !other.primary && !other.diverged && !other.replay_paused && world_.upstreamOf(other) == &s) {
          other.lsn = std::max(other.lsn, s.lsn);
        }
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
    const FakeServer* s = world_.find(member);
    if (!s || !s->running) return {};
    return PeerState{true, s->primary, s->timeline, s->lsn, std::nullopt};
  }
  // Without histories: unknown, so the rules fall back on timelines.
  Result<Lsn> forkPoint(const dcs::MemberInfo& member, int, int ours) override {
    const FakeServer* s = world_.model_histories ? world_.find(member) : nullptr;
    if (!s) return makeError(ErrorCode::kNotFound, "no history in the fake");
    auto fork = s->history.find(ours);
    if (fork == s->history.end()) return makeError(ErrorCode::kNotFound, "timeline not in the history");
    return fork->second;
  }
  Result<agent::TimelineHistoryFile> ownTimelineHistory(int timeline) override {
    const FakeServer& s = me();
    agent::TimelineHistoryFile file;
    for (const auto& [parent, lsn] : s.history) {
      if (parent < timeline) file.lines.push_back({parent, lsn, "no recovery target specified"});
    }
    if (file.lines.empty()) return makeError(ErrorCode::kNotFound, "no history file for timeline " + std::to_string(timeline));
    return file;
  }
  Result<Lsn> receivedBy(const dcs::MemberInfo& member) override {
    const FakeServer* s = world_.find(member);
    return s ? s->lsn : 0;
  }
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
    const FakeServer* found = world_.find(source);
    if (!found) return makeError(ErrorCode::kUnavailable, "rewind source not found");
    const FakeServer from = *found;
    FakeServer& s = me();
    if (rewind_removes_data) {
      s = FakeServer{};
      return makeError(ErrorCode::kIo, "data directory removed for a re-clone");
    }
    ++rewinds;
    s.needs_rewind = false;
    s.diverged = false;
    if (world_.model_histories) {
      // Back to the fork (what went past it is discarded), then the source's history.
      if (auto fork = from.history.find(s.timeline); fork != from.history.end()) s.lsn = std::min(s.lsn, fork->second);
      s.history = from.history;
    }
    s.timeline = from.timeline;
    s.lsn = std::min(s.lsn, from.lsn);
    return okStatus();
  }
  int rewinds = 0;

 private:
  FakeServer& me() { return world_.servers[name_]; }
  FakeWorld& world_;
  std::string name_;
};

}  // namespace pgtandem::testing
