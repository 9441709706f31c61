#include "coordinator/site_operations.h"

#include "coordinator/operation_plan.h"

#include <algorithm>
#include <map>
#include <boost/json.hpp>
#include <thread>

#include "common/config/dynamic_json.h"
#include "common/dcs/cluster.h"
#include "common/pg/postgres.h"
#include "common/util/log.h"

namespace pgtandem::coordinator {

namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// One DC as the coordinator works on it: its DCS client and latest snapshot.
struct SiteHandle {
  const Site* site = nullptr;
  std::unique_ptr<dcs::Dcs> dcs;
  dcs::ClusterPaths paths{"/service/", "x"};
  dcs::ClusterSnapshot snapshot;
  dcs::MalformedValueLog malformed;

  bool reachable() const { return dcs != nullptr; }
  const std::string& name() const { return site->name; }
  const dcs::MemberInfo* leader() const { return snapshot.leaderMember(); }
};

bool hasStandbyCluster(const dcs::ClusterSnapshot& snapshot) {
  if (!snapshot.config_json) return false;
  auto dynamic = config::parseDynamicJson(*snapshot.config_json, {});
  return dynamic.ok() && dynamic->config.standby_cluster.has_value();
}

// The standby_cluster object of /config as JSON text ("" when none).
std::string standbyClusterBlock(const dcs::ClusterSnapshot& snapshot) {
  if (!snapshot.config_json) return "";
  json::error_code ec;
  json::value config = json::parse(*snapshot.config_json, ec);
  if (ec || !config.is_object()) return "";
  const json::value* block = config.as_object().if_contains("standby_cluster");
  return block && block->is_object() ? json::serialize(*block) : "";
}

bool paused(const dcs::ClusterSnapshot& snapshot) {
  if (!snapshot.config_json) return false;
  auto dynamic = config::parseDynamicJson(*snapshot.config_json, {});
  return dynamic.ok() && dynamic->pause;
}

bool isPrimaryRole(const std::string& role) { return role == "primary" || role == "master"; }

std::string siteRoleOf(const SiteHandle& h) {
  if (h.snapshot.site) return h.snapshot.site->role;
  return hasStandbyCluster(h.snapshot) ? "standby" : "primary";
}

}  // namespace

struct SiteOperations::Impl {
  Impl(const SitesConfig& sites_in, DcsFactory connect_in, SitePeers& peers_in, const Clock& clock_in,
       OperationLimits limits_in, Progress progress_in, Sleep sleep_in)
      : sites(sites_in),
        connect(std::move(connect_in)),
        peers(peers_in),
        clock(clock_in),
        limits(limits_in),
        progress(std::move(progress_in)),
        sleep(std::move(sleep_in)) {
    if (!sleep) sleep = [this](std::chrono::milliseconds d) { clock.sleepFor(d); };
  }

  const SitesConfig& sites;
  DcsFactory connect;
  SitePeers& peers;
  const Clock& clock;
  OperationLimits limits;
  Progress progress;
  Sleep sleep;

  SiteHandle from, to;
  // A disaster promotion goes on whatever the other DC's site key holds
  // (its agents fence themselves on a key they cannot read): writes there
  // are tried, and their failure reported, not fatal.
  bool other_dc_optional = false;
  dcs::SiteOperation op;
  std::int64_t epoch = 0;

  void say(const std::string& line) {
    spdlog::info("{}", line);
    if (progress) progress(line);
  }

  void pause() { sleep(limits.poll); }

  std::string now() const { return formatIsoTime(clock.wallNow()); }

  Status open(SiteHandle& h, const Site& site) {
    h.site = &site;
    h.paths = dcs::ClusterPaths(site.namespace_, site.scope);
    auto client = connect(site);
    if (!client.ok()) return makeError(client.error().code, site.name + ": cannot reach its DCS: " + client.error().message);
    h.dcs = std::move(*client);
    auto loaded = reload(h);
    if (!loaded.ok()) h.dcs.reset();  // not reachable after all
    return loaded;
  }

  Result<const Site*> findSite(const std::string& name) const {
    if (const Site* s = sites.site(name)) return s;
    std::string names;
    for (const auto& s : sites.sites) names += (names.empty() ? "" : ", ") + s.name;
    return makeError(ErrorCode::kInvalidArgument, "unknown site '" + name + "'; " + sites.source_file + " names " + names);
  }

  Status reload(SiteHandle& h) {
    auto snapshot = dcs::loadCluster(*h.dcs, h.paths, h.malformed);
    if (!snapshot.ok()) {
      return makeError(snapshot.error().code, h.name() + ": cannot read its DCS: " + snapshot.error().message);
    }
    h.snapshot = std::move(*snapshot);
    return okStatus();
  }

  // Read-modify-write of a site key, compare-and-set on its revision. A key
  // that does not parse is never overwritten: a person must look at it.
  Status updateSite(SiteHandle& h, const std::function<void(dcs::SiteState&)>& change) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto got = h.dcs->get(h.paths.site());
      if (!got.ok()) return makeError(got.error().code, h.name() + ": cannot read its site key: " + got.error().message);
      dcs::SiteState state;
      dcs::Revision revision = 0;
      if (!got->kvs.empty()) {
        auto parsed = dcs::parseSiteState(got->kvs[0].value);
        if (!parsed.ok()) {
          return makeError(ErrorCode::kConflict,
                           h.name() + ": its site key " + h.paths.site() + " holds garbage (" + parsed.error().message +
                               "); fix or delete it first");
        }
        state = std::move(*parsed);
        revision = got->kvs[0].mod_revision;
      } else {
        state.role = siteRoleOf(h);
      }
      change(state);
      if (!state.writable()) state.granted_epoch = 0;  // a grant never outlives the primary role
      // The agents check their epoch against the other DC's key.
      const Site* other = sites.other(h.name());
      if (other && !other->etcd.hosts.empty()) {
        state.peer = dcs::PeerSite{other->name, other->etcd.hosts, other->namespace_, other->scope};
      }
      auto swapped = dcs::compareAndSet(*h.dcs, h.paths.site(), dcs::toJson(state), revision);
      if (!swapped.ok()) return makeError(swapped.error().code, h.name() + ": cannot write its site key: " + swapped.error().message);
      if (*swapped) return okStatus();
    }
    return makeError(ErrorCode::kConflict, h.name() + ": its site key keeps changing: is another coordinator running?");
  }

  std::vector<SiteHandle*> reachableSites() {
    std::vector<SiteHandle*> out;
    for (SiteHandle* h : {&from, &to}) {
      if (h->reachable()) out.push_back(h);
    }
    return out;
  }

  // Records a finished step in both journals (one, when the other DC is down).
  Status journal(const std::string& step, const std::string& detail, const std::string& state = "done") {
    op.steps.erase(std::remove_if(op.steps.begin(), op.steps.end(), [&](const auto& s) { return s.name == step; }),
                   op.steps.end());
    op.steps.push_back({step, state, now(), detail});
    for (SiteHandle* h : reachableSites()) {
      Status written = updateSite(*h, [&](dcs::SiteState& s) { s.operation = op; });
      if (!written.ok() && !(h == &from && other_dc_optional)) return written;
    }
    say(step + ": " + detail);  // only once it is durable: a printed step is never redone
    return okStatus();
  }

  // Ends the operation: it moves to both DCs' histories.
  Status finish(const std::string& result) {
    op.finished_at = now();
    op.result = result;
    for (SiteHandle* h : reachableSites()) {
      Status written = updateSite(*h, [&](dcs::SiteState& s) {
        s.operation.reset();
        s.history.push_back(op);
        if (s.history.size() > dcs::kSiteHistoryLength) {
          s.history.erase(s.history.begin(), s.history.end() - static_cast<std::ptrdiff_t>(dcs::kSiteHistoryLength));
        }
      });
      if (!written.ok() && !(h == &from && other_dc_optional)) return written;
    }
    return okStatus();
  }

  // Polls `ready` until it returns a value or the limit passes.
  template <typename T>
  Result<T> waitFor(std::chrono::seconds limit, const std::string& what, const std::function<Result<std::optional<T>>()>& ready) {
    const auto deadline = clock.monotonicNow() + limit;
    std::string last;
    for (int round = 0; round < 100000; ++round) {
      auto r = ready();
      if (!r.ok()) return r.error();  // a hard failure: do not wait
      if (*r) return std::move(**r);
      if (clock.monotonicNow() >= deadline) break;
      pause();
    }
    return makeError(ErrorCode::kTimeout, what + " did not happen within " + std::to_string(limit.count()) + " s");
  }

  // --- the steps ------------------------------------------------------------

  Status precheck() {
    const dcs::MemberInfo* primary = from.leader();
    const dcs::MemberInfo* standby = to.leader();
    if (!hasStandbyCluster(to.snapshot) && (!to.snapshot.site || to.snapshot.site->writable())) {
      return makeError(ErrorCode::kInvalidArgument, to.name() + " is already the primary DC: nothing to switch over");
    }
    if (!hasStandbyCluster(to.snapshot)) {
      return makeError(ErrorCode::kInvalidArgument,
                       to.name() + " is not a standby cluster (no standby_cluster in its /config): nothing to switch over to");
    }
    if (hasStandbyCluster(from.snapshot) || (from.snapshot.site && !from.snapshot.site->writable())) {
      return makeError(ErrorCode::kInvalidArgument, from.name() + " is not the primary DC: nothing to switch over from");
    }
    if (!from.snapshot.initialize || !to.snapshot.initialize || *from.snapshot.initialize != *to.snapshot.initialize) {
      return makeError(ErrorCode::kInvalidArgument, "the DCs hold different databases (system identifiers " +
                                                        from.snapshot.initialize.value_or("?") + " and " +
                                                        to.snapshot.initialize.value_or("?") + ")");
    }
    if (!primary || !isPrimaryRole(primary->role) || primary->state != "running") {
      return makeError(ErrorCode::kUnavailable, from.name() + " has no running primary holding the leader lock");
    }
    if (!standby || standby->role != "standby_leader" || standby->state != "running") {
      return makeError(ErrorCode::kUnavailable, to.name() + " has no running standby leader");
    }
    for (const SiteHandle* h : {&from, &to}) {
      if (paused(h->snapshot)) {
        return makeError(ErrorCode::kInvalidArgument, h->name() + " is paused (maintenance mode): resume it first");
      }
    }
    if (standby->standby_source != "stream" || standby->replication_state != "streaming") {
      return makeError(ErrorCode::kUnavailable, to.name() + "'s standby leader " + standby->name +
                                                    " does not stream from " + from.name() + " (source '" +
                                                    standby->standby_source + "', state '" + standby->replication_state + "')");
    }
    if (!standby->standby_lag_bytes) {
      return makeError(ErrorCode::kUnavailable, to.name() + "'s lag is not known yet");
    }
    if (*standby->standby_lag_bytes > sites.switchover.maximum_lag_bytes) {
      return makeError(ErrorCode::kInvalidArgument,
                       to.name() + " is " + std::to_string(*standby->standby_lag_bytes) +
                           " bytes behind, more than switchover.maximum_lag_bytes (" +
                           std::to_string(sites.switchover.maximum_lag_bytes) + ")");
    }
    auto health = peers.primaryHealth(*from.site, *primary);
    if (!health.ok()) return makeError(health.error().code, "cannot check " + from.name() + "'s primary: " + health.error().message);
    if (health->longest_transaction_seconds > sites.switchover.maximum_transaction_seconds) {
      return makeError(ErrorCode::kInvalidArgument,
                       from.name() + " has a transaction open for " + std::to_string(health->longest_transaction_seconds) +
                           " s, more than switchover.maximum_transaction_seconds (" +
                           std::to_string(sites.switchover.maximum_transaction_seconds) + ")");
    }
    if (health->archive_failing) {
      return makeError(ErrorCode::kUnavailable, from.name() + "'s archive_command is failing (pg_stat_archiver)");
    }
    return journal("precheck", to.name() + " streams, " + std::to_string(*standby->standby_lag_bytes) + " bytes behind; " +
                                   std::to_string(health->archive_ready_files) + " WAL files waiting for the archive");
  }

  Status checkpoint() {
    const dcs::MemberInfo* primary = from.leader();
    if (!primary) return makeError(ErrorCode::kUnavailable, from.name() + " has no leader");
    PGT_TRY(peers.checkpoint(*from.site, *primary));
    return journal("checkpoint", "CHECKPOINT on " + primary->name);
  }

  // Epochs are never reused: a new epoch is written to the DC that will be
  // promoted before the old DC is fenced with it, so that a later operation
  // that reaches only one DC (a promotion while the other is down) always
  // sees the highest epoch ever used, whatever rolled back or crashed between.
  Status raiseEpochIn(SiteHandle& h) {
    return updateSite(h, [&](dcs::SiteState& s) { s.epoch = std::max(s.epoch, epoch); });
  }

  Status fence() {
    PGT_TRY(raiseEpochIn(to));
    PGT_TRY(updateSite(from, [&](dcs::SiteState& s) {
      s.role = "fenced";
      s.epoch = epoch;
    }));
    std::size_t members = 0, unreachable = 0;
    auto fenced = waitFor<bool>(limits.fence, "fencing /primary on every member of " + from.name(),
                                [&]() -> Result<std::optional<bool>> {
                                  PGT_TRY(reload(from));
                                  members = unreachable = 0;
                                  const dcs::MemberInfo* leader = from.leader();
                                  for (const auto& m : from.snapshot.members) {
                                    auto code = peers.primaryCheck(m);
                                    if (code.ok() && *code == 200) return std::optional<bool>();
                                    // A leader whose API does not answer may still take writes:
                                    // not fenced until it says 503 (or stops leading).
                                    if (!code.ok() && leader && m.name == leader->name) return std::optional<bool>();
                                    code.ok() ? ++members : ++unreachable;
                                  }
                                  return std::optional<bool>(true);
                                });
    if (!fenced.ok()) return fenced.error();
    return journal("fence", from.name() + " fenced at epoch " + std::to_string(epoch) + "; /primary answers 503 on " +
                                std::to_string(members) + " members" +
                                (unreachable ? ", " + std::to_string(unreachable) + " replicas do not answer" : ""));
  }

  Result<dcs::DemotionToken> awaitToken() {
    auto token = waitFor<dcs::DemotionToken>(
        limits.token, from.name() + "'s primary stopping cleanly", [&]() -> Result<std::optional<dcs::DemotionToken>> {
          PGT_TRY(reload(from));
          const dcs::MemberInfo* leader = from.leader();
          if (!leader || !leader->demotion_token || leader->state == "running") return std::optional<dcs::DemotionToken>();
          return std::optional<dcs::DemotionToken>(*leader->demotion_token);
        });
    if (!token.ok()) return token.error();
    if (from.snapshot.initialize && token->system_identifier != *from.snapshot.initialize) {
      return makeError(ErrorCode::kConflict, "the demotion token's system identifier " + token->system_identifier +
                                                 " is not " + from.name() + "'s " + *from.snapshot.initialize);
    }
    token->from_site = from.name();
    for (SiteHandle* h : {&from, &to}) PGT_TRY(updateSite(*h, [&](dcs::SiteState& s) { s.token = *token; }));
    PGT_TRY(journal("token", "REDO " + formatLsn(token->redo_lsn) + " on timeline " + std::to_string(token->timeline) +
                                 ", WAL file " + token->redo_wal_file + (token->archived ? " (archived)" : " (not archived)")));
    return *token;
  }

  Status catchUp(const dcs::DemotionToken& token) {
    auto reached = waitFor<bool>(limits.catch_up, to.name() + " replaying up to the demotion token",
                                 [&]() -> Result<std::optional<bool>> {
                                   PGT_TRY(reload(to));
                                   const dcs::MemberInfo* leader = to.leader();
                                   if (!leader) return std::optional<bool>();
                                   auto point = peers.restartpoint(*to.site, *leader);
                                   if (!point.ok()) return std::optional<bool>();  // restarting: ask again
                                   if (!point->in_recovery) {
                                     return makeError(ErrorCode::kConflict, to.name() + "'s leader is not in recovery");
                                   }
                                   if (point->system_identifier != token.system_identifier) {
                                     return makeError(ErrorCode::kConflict, to.name() + " holds another database");
                                   }
                                   if (point->timeline > token.timeline ||
                                       (point->timeline == token.timeline && point->redo_lsn > token.redo_lsn)) {
                                     return makeError(ErrorCode::kConflict,
                                                      to.name() + " replayed past the token (timeline " +
                                                          std::to_string(point->timeline) + ", REDO " +
                                                          formatLsn(point->redo_lsn) + ")");
                                   }
                                   if (point->timeline == token.timeline && point->redo_lsn == token.redo_lsn) {
                                     return std::optional<bool>(true);
                                   }
                                   return std::optional<bool>();
                                 });
    if (!reached.ok()) return reached.error();
    return journal("catch_up", to.name() + " replayed exactly to REDO " + formatLsn(token.redo_lsn));
  }

  Status promote() {
    PGT_TRY(reload(to));
    const std::string saved = standbyClusterBlock(to.snapshot);
    PGT_TRY(updateSite(to, [&](dcs::SiteState& s) {
      s.role = "primary";
      s.epoch = epoch;
      if (!saved.empty()) s.standby_cluster_json = saved;
    }));
    PGT_TRY(patchConfig(to, R"({"standby_cluster":null})"));
    auto writable = waitFor<std::string>(limits.promote, to.name() + "'s leader becoming a writable primary",
                                         [&]() -> Result<std::optional<std::string>> {
                                           PGT_TRY(reload(to));
                                           const dcs::MemberInfo* leader = to.leader();
                                           if (!leader) return std::optional<std::string>();
                                           auto recovery = peers.inRecovery(*to.site, *leader);
                                           if (!recovery.ok() || *recovery) return std::optional<std::string>();
                                           auto code = peers.primaryCheck(*leader);
                                           if (!code.ok() || *code != 200) return std::optional<std::string>();
                                           return std::optional<std::string>(leader->name);
                                         });
    if (!writable.ok()) return writable.error();
    return journal("promote", to.name() + "'s leader " + *writable + " is a writable primary");
  }

  // The standby_cluster block `h` gets when it follows `upstream`: the
  // sites file's if it has one; else the block `h` had before its last
  // promotion (its site key), pointed at `upstream`'s current leader, with
  // the slot name `upstream` used when it was the standby (one slot name for
  // both directions, kept as a permanent slot in both DCs).
  Result<std::string> standbyBlockFor(const SiteHandle& h, const SiteHandle& upstream) {
    if (!h.site->standby_cluster_json.empty()) return h.site->standby_cluster_json;
    const dcs::MemberInfo* leader = upstream.leader();
    if (!leader) return makeError(ErrorCode::kUnavailable, upstream.name() + " has no leader to follow");
    auto url = pg::parseConnUrl(leader->conn_url);
    if (!url.ok()) return url.error();
    auto objectOf = [](const std::optional<dcs::SiteState>& state) {
      json::error_code ec;
      json::value v = state && !state->standby_cluster_json.empty() ? json::parse(state->standby_cluster_json, ec) : json::value();
      return !ec && v.is_object() ? v.as_object() : json::object();
    };
    json::object block = objectOf(h.snapshot.site);
    block["host"] = url->first;
    block["port"] = url->second;
    if (!block.contains("primary_slot_name")) {
      const json::object theirs = objectOf(upstream.snapshot.site);
      if (const json::value* slot = theirs.if_contains("primary_slot_name")) block["primary_slot_name"] = *slot;
    }
    return json::serialize(block);
  }

  Status follow() {
    PGT_TRY(reload(to));
    PGT_TRY(reload(from));
    auto block = standbyBlockFor(from, to);
    if (!block.ok()) return block.error();
    PGT_TRY(patchConfig(from, R"({"standby_cluster":)" + *block + "}"));
    PGT_TRY(updateSite(from, [&](dcs::SiteState& s) {
      s.role = "standby";
      s.epoch = epoch;
    }));
    auto following = waitFor<std::string>(
        limits.follow, from.name() + " streaming from " + to.name(), [&]() -> Result<std::optional<std::string>> {
          PGT_TRY(reload(from));
          PGT_TRY(reload(to));
          const dcs::MemberInfo* theirs = to.leader();
          const dcs::MemberInfo* ours = from.leader();
          if (!theirs || !ours || !theirs->timeline) return std::optional<std::string>();
          if (ours->role != "standby_leader" || ours->state != "running" || ours->timeline != theirs->timeline ||
              ours->replication_state != "streaming") {
            return std::optional<std::string>();
          }
          return std::optional<std::string>(ours->name + " streams timeline " + std::to_string(*theirs->timeline));
        });
    if (!following.ok()) return following.error();
    return journal("follow", from.name() + " is a standby cluster of " + to.name() + ": " + *following);
  }

  Status patchConfig(SiteHandle& h, const std::string& patch) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      PGT_TRY(reload(h));
      const std::string before = h.snapshot.config_json.value_or("{}");
      auto after = config::applyMergePatch(before, patch);
      if (!after.ok()) return after.error();
      if (*after == before) return okStatus();
      auto swapped = dcs::compareAndSet(*h.dcs, h.paths.config(), *after, h.snapshot.config_mod_revision);
      if (!swapped.ok()) return makeError(swapped.error().code, h.name() + ": cannot write /config: " + swapped.error().message);
      if (*swapped) return okStatus();
    }
    return makeError(ErrorCode::kConflict, h.name() + ": /config keeps changing");
  }

  // Before the standby DC is promoted, a failure gives the old DC its
  // primary back: unfenced, its leader starts PostgreSQL as a primary where
  // it stopped. Nothing was lost and nothing else changed.
  Error rollBack(const std::string& step, const Error& why) {
    const std::string reason = "aborted at " + step + ": " + why.message;
    // Journaled before anything is undone: a coordinator that dies while
    // rolling back leaves a journal whose rerun finishes the rollback.
    (void)journal(step, why.message, "failed");
    (void)journal("rollback", reason, "started");
    return finishRollBack(reason, why.code);
  }

  Error finishRollBack(const std::string& reason, ErrorCode code) {
    say(reason + "; unfencing " + from.name());
    auto unfenced = updateSite(from, [&](dcs::SiteState& s) { s.role = "primary"; });
    if (!unfenced.ok()) {
      return makeError(code, reason + "; and unfencing " + from.name() + " failed (" + unfenced.error().message +
                                 "): run the command again");
    }
    auto finished = finish(reason);
    std::string message = "switchover " + reason + "; " + from.name() + " is the primary DC again, nothing changed in " +
                          to.name();
    if (!finished.ok()) message += " (the journal could not be closed: " + finished.error().message + ")";
    return makeError(code, message);
  }

  // The one driver of every operation kind (operation_plan.h): the journal
  // says which step comes next; `execute` runs it (a step journals itself
  // when done); a failure is reported, rolled back or left for the next run,
  // as the step's row says. Bounded: each round either finishes a step or
  // returns.
  Status drive(OperationKind kind, const std::function<Status(Step)>& execute) {
    for (std::size_t round = 0; round <= stepTable(kind).size(); ++round) {
      const Next next = decideNext(kind, op);
      if (next.type == Next::Type::kDone) return finish("done");
      if (next.type == Next::Type::kFinishRollBack) return finishRollBack(next.reason, ErrorCode::kConflict);
      const StepRow& row = *next.row;
      Status done = execute(row.step);
      if (done.ok()) continue;
      const std::string name = stepName(row.step);
      switch (row.on_failure) {
        case OnFailure::kNothingChanged: return done.error();
        case OnFailure::kRollBack: return rollBack(name, done.error());
        case OnFailure::kRunAgain:
          (void)journal(name, done.error().message, "failed");
          return makeError(done.error().code, runAgainMessage(kind, row.step, done.error().message));
      }
    }
    return makeError(ErrorCode::kInternal, std::string("the ") + kindName(kind) + " did not finish its steps");
  }

  std::string runAgainMessage(OperationKind kind, Step step, const std::string& why) const {
    if (kind == OperationKind::kSwitchover && step == Step::kFollow) {
      return to.name() + " is the primary DC, but " + why + "; run the command again to finish the switchover";
    }
    return std::string(kindName(kind)) + " stopped at " + stepName(step) + ": " + why + "; run the command again to finish it";
  }

  // Takes over the operation in progress (in either journal) if it is a
  // `kind` to `to`, or starts a new one. `supersedes`: kinds of operation to
  // the same DC that this one replaces (they move to the history). Returns
  // whether it resumed.
  Result<bool> adoptJournal(const std::string& kind, const std::vector<std::string>& supersedes) {
    const std::optional<dcs::SiteOperation>* journaled = nullptr;
    for (const SiteHandle* h : {&from, &to}) {
      if (h->reachable() && h->snapshot.site && h->snapshot.site->operation) {
        const auto& candidate = h->snapshot.site->operation;
        if (!journaled || candidate->steps.size() > (*journaled)->steps.size()) journaled = &candidate;
      }
    }
    std::int64_t highest = 0;
    for (const SiteHandle* h : {&from, &to}) {
      if (h->reachable() && h->snapshot.site) highest = std::max(highest, h->snapshot.site->epoch);
    }
    if (journaled) {
      const auto& current = **journaled;
      const bool replaceable = current.to_site == to.name() &&
                               std::find(supersedes.begin(), supersedes.end(), current.kind) != supersedes.end();
      if (replaceable) {
        op = current;
        say("the " + current.kind + " to " + to.name() + " started " + current.started_at + " is superseded by this " + kind);
        PGT_TRY(finish("superseded by " + kind));
      } else if (current.kind != kind || current.to_site != to.name()) {
        return makeError(ErrorCode::kConflict, "a " + current.kind + " from " + current.from_site + " to " +
                                                   current.to_site + " is in progress (started " + current.started_at +
                                                   "): run that command again to finish it");
      } else {
        op = current;
        epoch = op.done("fence") ? highest : highest + 1;
        say("resuming the " + kind + " to " + to.name() + " started " + op.started_at);
        return true;
      }
    }
    op = dcs::SiteOperation{};
    op.kind = kind;
    op.from_site = from.name();
    op.to_site = to.name();
    op.started_at = now();
    epoch = highest + 1;
    return false;
  }

  Result<PromoteReport> runPromote(const std::string& site_name, bool force);
  Result<RejoinReport> runRejoin(const std::string& site_name);
  Result<std::string> runInit();

  Result<SwitchoverReport> run(const std::string& to_site) {
    const Site* target = nullptr;
    PGT_ASSIGN(target, findSite(to_site));
    PGT_TRY(open(from, *sites.other(to_site)));
    PGT_TRY(open(to, *target));
    SwitchoverReport report;
    report.from_site = from.name();
    report.to_site = to.name();

    PGT_ASSIGN(report.resumed, adoptJournal("switchover", {}));
    std::optional<MonoTime> fenced_at;
    std::optional<dcs::DemotionToken> token;
    const Status driven = drive(OperationKind::kSwitchover, [&](Step step) -> Status {
      switch (step) {
        case Step::kPrecheck: return precheck();  // journals the start in both DCs
        case Step::kCheckpoint: return checkpoint();
        case Step::kFence:
          fenced_at = clock.monotonicNow();
          return fence();
        case Step::kToken: {
          auto got = awaitToken();
          if (!got.ok()) return got.error();
          token = *got;
          return okStatus();
        }
        case Step::kCatchUp:
          if (!token) {
            const auto& saved = from.snapshot.site ? from.snapshot.site->token : std::nullopt;
            if (!saved) return makeError(ErrorCode::kNotFound, "the journaled token is missing");
            token = *saved;
          }
          return catchUp(*token);
        case Step::kPromote:
          PGT_TRY(promote());
          if (fenced_at) report.write_gap = std::chrono::duration_cast<std::chrono::milliseconds>(clock.monotonicNow() - *fenced_at);
          return okStatus();
        case Step::kFollow: return follow();
      }
      return makeError(ErrorCode::kInternal, std::string("a switchover has no step ") + stepName(step));
    });
    if (!driven.ok()) return driven.error();
    report.summary = "switchover done: " + to.name() + " is the primary DC (epoch " + std::to_string(epoch) + "), " +
                     from.name() + " is its standby cluster";
    if (report.write_gap) {
      report.summary += "\nwrites were refused for " + std::to_string(report.write_gap->count()) + " ms (fence to promote)";
    }
    return report;
  }
};

Result<PromoteReport> SiteOperations::Impl::runPromote(const std::string& site_name, bool force) {
  const Site* target = nullptr;
  PGT_ASSIGN(target, findSite(site_name));
  PGT_TRY(open(to, *target));
  if (auto other = open(from, *sites.other(site_name)); !other.ok()) {
    say(from.name() + " cannot be reached (" + other.error().message + "): promoting without fencing it in its DCS");
  }
  other_dc_optional = true;
  PromoteReport report;
  report.site = to.name();
  report.other = from.name();
  report.other_reachable = from.reachable();
  bool resumed = false;
  PGT_ASSIGN(resumed, adoptJournal("promote", {"switchover"}));
  auto precheck = [&]() -> Status {
    if (!hasStandbyCluster(to.snapshot)) {
      return makeError(ErrorCode::kInvalidArgument, to.name() + " is already the primary DC: nothing to promote");
    }
    const dcs::MemberInfo* standby = to.leader();
    if (!standby || standby->state != "running") {
      return makeError(ErrorCode::kUnavailable, to.name() + " has no running standby leader to promote");
    }
    if (from.reachable() && !force) {
      const dcs::MemberInfo* primary = from.leader();
      if (primary && isPrimaryRole(primary->role) && primary->state == "running") {
        return makeError(ErrorCode::kInvalidArgument,
                         from.name() + " is reachable and its primary " + primary->name +
                             " runs: use `dcctl site switchover --to " + to.name() +
                             "` (nothing lost), or --force to promote anyway");
      }
    }
    report.known_behind_bytes = standby->standby_lag_bytes;
    if (standby->standby_contact_age) {
      // The member key may be as old as its lease (ttl) if its agent
      // stopped writing it: the bound counts that too.
      int ttl = 30;
      if (to.snapshot.config_json) {
        if (auto dynamic = config::parseDynamicJson(*to.snapshot.config_json, {}); dynamic.ok()) ttl = dynamic->config.ttl;
      }
      report.silent_for_seconds = *standby->standby_contact_age + ttl;
      report.silent_since = formatIsoTime(clock.wallNow() - std::chrono::seconds(*report.silent_for_seconds));
    }
    return journal("precheck", to.name() + "'s standby leader " + standby->name + " last heard from " + from.name() +
                                   (report.silent_for_seconds ? " at most " + std::to_string(*report.silent_for_seconds) + " s ago"
                                                              : " at an unknown time"));
  };
  auto fence = [&]() -> Status {
    // The new epoch goes to the promoted DC first: it is the one that counts.
    // It is granted: the promoted DC's agents cannot ask the other DC.
    PGT_TRY(updateSite(to, [&](dcs::SiteState& st) {
      st.role = "primary";  // still a standby cluster until promote removes standby_cluster
      st.epoch = epoch;
      st.granted_epoch = epoch;
    }));
    std::string detail = "epoch " + std::to_string(epoch) + " in " + to.name();
    if (from.reachable()) {
      auto fenced = updateSite(from, [&](dcs::SiteState& st) {
        st.role = "fenced";
        st.epoch = epoch;
      });
      report.other_fenced = fenced.ok();
      if (!fenced.ok()) report.fence_error = fenced.error().message;
      detail += fenced.ok() ? "; " + from.name() + " fenced" : "; fencing " + from.name() + " failed: " + fenced.error().message;
    } else {
      detail += "; " + from.name() + " unreachable: its agents refuse the primary role once they see epoch " +
                std::to_string(epoch) + " (or cannot confirm theirs)";
    }
    return journal("fence", detail);
  };
  const Status driven = drive(OperationKind::kPromote, [&](Step step) -> Status {
    switch (step) {
      case Step::kPrecheck: return precheck();
      case Step::kFence: return fence();
      case Step::kPromote: return promote();
      default: return makeError(ErrorCode::kInternal, std::string("a promotion has no step ") + stepName(step));
    }
  });
  if (!driven.ok()) return driven.error();
  report.epoch = epoch;
  report.summary = to.name() + " is the primary DC (epoch " + std::to_string(epoch) + ")";
  if (report.silent_for_seconds) {
    report.summary += "\n" + to.name() + " last heard from " + from.name() + " at most " +
                      std::to_string(*report.silent_for_seconds) + " s before this promotion: writes " + from.name() +
                      " acknowledged after " + report.silent_since + " may be lost";
    if (report.known_behind_bytes) {
      report.summary += " (" + to.name() + " knew it was " + std::to_string(*report.known_behind_bytes) +
                        " bytes behind; more may have been written since)";
    }
  } else if (!resumed) {
    report.summary += "\n" + to.name() + "'s agent has not heard from " + from.name() +
                      " since it started: how much of " + from.name() + "'s last writes may be lost is unknown";
  }
  // Said as it is: fenced only when the write of its key succeeded.
  const std::string other_state = report.other_fenced    ? " is fenced"
                                  : report.other_reachable ? " could not be fenced (" + report.fence_error +
                                                                 "); its agents still refuse the primary role once they see the new epoch"
                                                           : " was not reachable";
  report.summary += "\n" + from.name() + other_state + "; when it is back, run `dcctl site rejoin " + from.name() + "`";
  return report;
}

Result<RejoinReport> SiteOperations::Impl::runRejoin(const std::string& site_name) {
  const Site* target = nullptr;
  PGT_ASSIGN(target, findSite(site_name));
  // `to` rejoins; `from` is the primary DC it will follow.
  PGT_TRY(open(to, *target));
  PGT_TRY(open(from, *sites.other(site_name)));
  if (auto adopted = adoptJournal("rejoin", {}); !adopted.ok()) return adopted.error();
  RejoinReport report;
  report.site = to.name();
  report.primary_site = from.name();
  auto precheck = [&]() -> Status {
    if (hasStandbyCluster(from.snapshot) || (from.snapshot.site && !from.snapshot.site->writable())) {
      return makeError(ErrorCode::kInvalidArgument, from.name() + " is not the primary DC: " + to.name() + " has nothing to rejoin");
    }
    const dcs::MemberInfo* primary = from.leader();
    if (!primary || !isPrimaryRole(primary->role) || primary->state != "running") {
      return makeError(ErrorCode::kUnavailable, from.name() + " has no running primary to follow");
    }
    if (hasStandbyCluster(to.snapshot)) {
      return makeError(ErrorCode::kInvalidArgument, to.name() + " is already a standby cluster: nothing to rejoin");
    }
    const std::int64_t ours = to.snapshot.site ? to.snapshot.site->epoch : 0;
    const std::int64_t theirs = from.snapshot.site ? from.snapshot.site->epoch : 0;
    if ((!to.snapshot.site || to.snapshot.site->writable()) && ours >= theirs) {
      return makeError(ErrorCode::kInvalidArgument,
                       to.name() + " was not superseded (epoch " + std::to_string(ours) + ", " + from.name() + "'s " +
                           std::to_string(theirs) + "): use `dcctl site switchover` to move the primary role");
    }
    epoch = theirs;  // the rejoining DC takes the primary DC's epoch
    return journal("precheck", from.name() + "'s primary " + primary->name + " runs at epoch " + std::to_string(theirs));
  };
  auto fence = [&]() -> Status {
    PGT_TRY(updateSite(to, [&](dcs::SiteState& st) {
      st.role = "fenced";
      st.epoch = epoch;
    }));
    return journal("fence", to.name() + " fenced at epoch " + std::to_string(epoch));
  };
  auto follow = [&]() -> Status {
    PGT_TRY(reload(from));
    PGT_TRY(reload(to));
    // What each member said of its last repair before: a repair is a change
    // of it, so no two hosts' clocks are compared.
    std::map<std::string, std::pair<std::string, std::string>> repaired_before;
    for (const auto& m : to.snapshot.members) repaired_before[m.name] = {m.repaired, m.repaired_at};
    auto block = standbyBlockFor(to, from);
    if (!block.ok()) return block.error();
    PGT_TRY(patchConfig(to, R"({"standby_cluster":)" + *block + "}"));
    PGT_TRY(updateSite(to, [&](dcs::SiteState& st) {
      st.role = "standby";
      st.epoch = epoch;
    }));
    // Every member of the rejoining DC streams the primary DC's timeline:
    // rewound where it had diverged, re-cloned where rewind failed.
    auto caught_up = waitFor<bool>(limits.rejoin, "every member of " + to.name() + " streaming from " + from.name(),
                                   [&]() -> Result<std::optional<bool>> {
                                     PGT_TRY(reload(from));
                                     PGT_TRY(reload(to));
                                     const dcs::MemberInfo* primary = from.leader();
                                     if (!primary || !primary->timeline || to.snapshot.members.empty()) {
                                       return std::optional<bool>();
                                     }
                                     for (const auto& m : to.snapshot.members) {
                                       if (m.state != "running" || m.timeline != primary->timeline ||
                                           m.replication_state != "streaming") {
                                         return std::optional<bool>();
                                       }
                                     }
                                     return std::optional<bool>(true);
                                   });
    if (!caught_up.ok()) return caught_up.error();
    std::string detail;
    for (const auto& m : to.snapshot.members) {
      const auto before = repaired_before.find(m.name);
      const bool repaired = !m.repaired.empty() &&
                            (before == repaired_before.end() || before->second != std::pair{m.repaired, m.repaired_at});
      const std::string how = repaired ? (m.repaired == "rewind" ? "rewound" : "re-cloned") : "followed (no rewind needed)";
      report.members.emplace_back(m.name, how);
      detail += (detail.empty() ? "" : ", ") + m.name + " " + how;
    }
    return journal("follow", to.name() + " is a standby cluster of " + from.name() + ": " + detail);
  };
  const Status driven = drive(OperationKind::kRejoin, [&](Step step) -> Status {
    switch (step) {
      case Step::kPrecheck: return precheck();
      case Step::kFence: return fence();
      case Step::kFollow: return follow();
      default: return makeError(ErrorCode::kInternal, std::string("a rejoin has no step ") + stepName(step));
    }
  });
  if (!driven.ok()) return driven.error();
  report.summary = to.name() + " is a standby cluster of " + from.name() + " again";
  for (const auto& [name, how] : report.members) report.summary += "\n  " + name + ": " + how;
  return report;
}

Result<std::string> SiteOperations::Impl::runInit() {
  PGT_TRY(open(from, sites.sites[0]));
  PGT_TRY(open(to, sites.sites[1]));
  std::string summary;
  std::int64_t highest = 0;
  for (const SiteHandle* h : {&from, &to}) {
    if (h->snapshot.site) highest = std::max(highest, h->snapshot.site->epoch);
  }
  int primaries = 0;
  for (const SiteHandle* h : {&from, &to}) primaries += siteRoleOf(*h) == "primary" ? 1 : 0;
  if (primaries != 1 && !from.snapshot.site && !to.snapshot.site) {
    return makeError(ErrorCode::kInvalidArgument,
                     primaries == 0 ? "neither DC is a primary cluster (both have standby_cluster in /config)"
                                    : "both DCs are primary clusters (neither has standby_cluster in /config): make one a standby first");
  }
  // A missing key is never recreated as primary while the other DC's key
  // says primary: that would make two writable DCs (the agents of a DC whose
  // key vanished behave as fenced until it is back).
  for (const auto& [missing, other] : {std::pair{&from, &to}, std::pair{&to, &from}}) {
    if (!missing->snapshot.site && other->snapshot.site && other->snapshot.site->writable() &&
        siteRoleOf(*missing) == "primary") {
      return makeError(ErrorCode::kConflict,
                       missing->name() + " has no site key while " + other->name() + "'s says primary (epoch " +
                           std::to_string(other->snapshot.site->epoch) + "): not creating " + missing->name() +
                           "'s as primary, which would make two writable DCs; run 'dcctl site rejoin " +
                           missing->name() + "' to make it a standby of " + other->name() + ", or restore its key");
    }
  }
  for (SiteHandle* h : {&from, &to}) {
    const bool existed = h->snapshot.site.has_value();
    PGT_TRY(updateSite(*h, [&](dcs::SiteState& st) {
      if (!existed) st.epoch = std::max<std::int64_t>(highest, 1);
    }));
    PGT_TRY(reload(*h));
    summary += (summary.empty() ? "" : "\n") + h->name() + ": " + siteRoleOf(*h) + " at epoch " +
               std::to_string(h->snapshot.site ? h->snapshot.site->epoch : 0) + (existed ? " (kept)" : " (created)");
  }
  return summary;
}

SiteOperations::SiteOperations(const SitesConfig& sites, DcsFactory connect, SitePeers& peers, const Clock& clock,
                               OperationLimits limits, Progress progress, Sleep sleep)
    : impl_(std::make_unique<Impl>(sites, std::move(connect), peers, clock, limits, std::move(progress), std::move(sleep))) {}

SiteOperations::~SiteOperations() = default;

Result<SwitchoverReport> SiteOperations::switchover(const std::string& to_site) { return impl_->run(to_site); }

Result<PromoteReport> SiteOperations::promote(const std::string& site, bool force) { return impl_->runPromote(site, force); }

Result<RejoinReport> SiteOperations::rejoin(const std::string& site) { return impl_->runRejoin(site); }

Result<std::string> SiteOperations::init() { return impl_->runInit(); }

}  // namespace pgtandem::coordinator
