#include "coordinator/site_operations.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/config/dynamic_json.h"
#include "common/dcs/cluster.h"
#include "common/util/log.h"
#include "coordinator/backup_schedule.h"
#include "coordinator/operation_plan.h"

namespace pgtandem::coordinator {

using namespace std::chrono_literals;

namespace {

// One DC as the coordinator works on it: its DCS client, and what it saw
// of it last (the view the deciders read).
struct SiteHandle {
  std::unique_ptr<dcs::Dcs> dcs;
  dcs::ClusterPaths paths{"/service/", "x"};
  dcs::MalformedValueLog malformed;
  DcView view;
  // A DC the operation can do without that failed a call in this step: not
  // called again until the next step (each call to a lost DC waits out its
  // deadline, and a step polls many rounds).
  bool lost_this_step = false;

  bool reachable() const { return dcs != nullptr; }
  const std::string& name() const { return view.site->name; }
  const dcs::ClusterSnapshot& snapshot() const { return view.snapshot; }
};

// One run of one operation: which DCs, its journal and its epoch.
struct Run {
  OperationKind kind = OperationKind::kSwitchover;
  SiteHandle from, to;  // as in StepInput
  dcs::SiteOperation op;
  std::int64_t epoch = 0;
  // A disaster promotion goes on whatever the other DC's site key holds
  // (its agents fence themselves on a key they cannot read): writes there
  // are tried, and their failure reported, not fatal.
  bool from_optional = false;
  bool resumed = false;
  JournalSlot slot = JournalSlot::kSiteKey;

  // A DC the run goes on without when it cannot be read or written: the
  // other DC of a disaster promotion; either DC of a scheduled backup
  // (one that answers is enough to place it and to record it).
  bool canDoWithout(const SiteHandle* h) const {
    return (h == &from && from_optional) || slot == JournalSlot::kBackupsKey;
  }

  std::vector<SiteHandle*> reachable() {
    std::vector<SiteHandle*> out;
    for (SiteHandle* h : {&from, &to}) {
      if (h->reachable() && !h->lost_this_step) out.push_back(h);
    }
    return out;
  }
};

// What the driver tells the operation as its steps start and finish, with
// what the step saw then (the operation's report is built from it).
enum class StepEvent { kStarted, kDone };
using StepListener = std::function<void(StepEvent, Step, const StepInput&)>;

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
  const OperationLimits limits;
  Progress progress;
  Sleep sleep;

  void say(const std::string& line) const {
    spdlog::info("{}", line);
    if (progress) progress(line);
  }

  std::string now() const { return formatIsoTime(clock.wallNow()); }

  Result<const Site*> findSite(const std::string& name) const {
    if (const Site* s = sites.site(name)) return s;
    std::string names;
    for (const auto& s : sites.sites) names += (names.empty() ? "" : ", ") + s.name;
    return makeError(ErrorCode::kInvalidArgument, "unknown site '" + name + "'; " + sites.source_file + " names " + names);
  }

  // --- observing ----------------------------------------------------------

  Status open(SiteHandle& h, const Site& site) {
    h.view.site = &site;
    h.paths = dcs::ClusterPaths(site.namespace_, site.scope);
    auto client = connect(site);
    if (!client.ok()) {
      h.view.error = client.error().message;
      return makeError(client.error().code, site.name + ": cannot reach its DCS: " + client.error().message);
    }
    h.dcs = std::move(*client);
    auto loaded = reload(h);
    if (!loaded.ok()) h.dcs.reset();  // not reachable after all
    return loaded;
  }

  Status reload(SiteHandle& h) {
    auto snapshot = dcs::loadCluster(*h.dcs, h.paths, h.malformed);
    if (!snapshot.ok()) {
      return makeError(snapshot.error().code, h.name() + ": cannot read its DCS: " + snapshot.error().message);
    }
    h.view.snapshot = std::move(*snapshot);
    h.view.refresh();
    h.view.reachable = true;
    return okStatus();
  }

  // Reads both DCs (the one a promotion may do without, when it can) and
  // makes the probes `probes` asks for.
  Status observe(Run& run, unsigned probes) {
    for (SiteHandle* h : run.reachable()) {
      Status read = reload(*h);
      if (!read.ok()) {
        if (!run.canDoWithout(h)) return read;
        // A DC a promotion can do without: unreachable for the rest of the
        // step, not as its last snapshot said.
        h->lost_this_step = true;
        h->view.reachable = false;
        h->view.error = read.error().message;
      }
      // Probes of one round describe that round only.
      h->view.primary_checks.clear();
      h->view.leader_point.reset();
      h->view.leader_in_recovery.reset();
      h->view.leader_primary_check.reset();
      h->view.leader_health.reset();
    }
    DcView& from = run.from.view;
    DcView& to = run.to.view;
    if ((probes & kProbeFromHealth) && from.leader()) from.leader_health = peers.primaryHealth(*from.site, *from.leader());
    if (probes & kProbeFromPrimaryChecks) {
      for (const auto& m : from.snapshot.members) from.primary_checks.emplace(m.name, peers.primaryCheck(m));
    }
    if ((probes & kProbeToControlPoint) && to.leader()) to.leader_point = peers.restartpoint(*to.site, *to.leader());
    if ((probes & kProbeToWritable) && to.leader()) {
      to.leader_in_recovery = peers.inRecovery(*to.site, *to.leader());
      if (to.leader_in_recovery->ok() && !**to.leader_in_recovery) to.leader_primary_check = peers.primaryCheck(*to.leader());
    }
    return okStatus();
  }

  // --- writing --------------------------------------------------------------

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
        state.role = siteRoleOf(h.snapshot());
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

  // The same for the backups journal's key.
  Status updateBackups(SiteHandle& h, const std::function<void(dcs::BackupJournal&)>& change) {
    const std::string key = h.paths.backups();
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto got = h.dcs->get(key);
      if (!got.ok()) return makeError(got.error().code, h.name() + ": cannot read " + key + ": " + got.error().message);
      dcs::BackupJournal journal;
      dcs::Revision revision = 0;
      if (!got->kvs.empty()) {
        auto parsed = dcs::parseBackupJournal(got->kvs[0].value);
        if (!parsed.ok()) {
          return makeError(ErrorCode::kConflict, h.name() + ": its backups journal " + key + " holds garbage (" +
                                                     parsed.error().message + "); fix or delete it first");
        }
        journal = std::move(*parsed);
        revision = got->kvs[0].mod_revision;
      }
      change(journal);
      auto swapped = dcs::compareAndSet(*h.dcs, key, dcs::toJson(journal), revision);
      if (!swapped.ok()) return makeError(swapped.error().code, h.name() + ": cannot write " + key + ": " + swapped.error().message);
      if (*swapped) return okStatus();
    }
    return makeError(ErrorCode::kConflict, h.name() + ": its backups journal keeps changing: is another coordinator running?");
  }

  // The journal of `slot` in `h`: the operation in progress and the history.
  using JournalChange = std::function<void(std::optional<dcs::SiteOperation>&, std::vector<dcs::SiteOperation>&)>;
  Status updateJournal(SiteHandle& h, JournalSlot slot, const JournalChange& change) {
    if (slot == JournalSlot::kBackupsKey) {
      return updateBackups(h, [&](dcs::BackupJournal& j) { change(j.operation, j.history); });
    }
    return updateSite(h, [&](dcs::SiteState& s) { change(s.operation, s.history); });
  }

  // What `h` last showed of the journal of `slot`: nullptr when it has none.
  static const std::optional<dcs::SiteOperation>* openIn(const SiteHandle& h, JournalSlot slot) {
    if (slot == JournalSlot::kBackupsKey) return h.snapshot().backups ? &h.snapshot().backups->operation : nullptr;
    return h.snapshot().site ? &h.snapshot().site->operation : nullptr;
  }
  static const std::vector<dcs::SiteOperation>* historyIn(const SiteHandle& h, JournalSlot slot) {
    if (slot == JournalSlot::kBackupsKey) return h.snapshot().backups ? &h.snapshot().backups->history : nullptr;
    return h.snapshot().site ? &h.snapshot().site->history : nullptr;
  }

  Status setRole(SiteHandle& h, dcs::SiteRole role, std::int64_t epoch) {
    return updateSite(h, [&](dcs::SiteState& s) {
      s.role = role;
      s.epoch = epoch;
    });
  }

  Status patchConfig(SiteHandle& h, const std::string& patch) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      PGT_TRY(reload(h));
      const std::string before = h.snapshot().config_json.value_or("{}");
      auto after = config::applyMergePatch(before, patch);
      if (!after.ok()) return after.error();
      if (*after == before) return okStatus();
      auto swapped = dcs::compareAndSet(*h.dcs, h.paths.config(), *after, h.snapshot().config_mod_revision);
      if (!swapped.ok()) return makeError(swapped.error().code, h.name() + ": cannot write /config: " + swapped.error().message);
      if (*swapped) return okStatus();
    }
    return makeError(ErrorCode::kConflict, h.name() + ": /config keeps changing");
  }

  // The named actions of operation_plan.h. Each converges on a state, so
  // running one again (after a crash, or a lost answer) is safe.
  Status execute(Run& run, const Verdict& verdict) {
    SiteHandle& from = run.from;
    SiteHandle& to = run.to;
    const std::int64_t epoch = run.epoch;
    switch (verdict.action) {
      case Action::kCheckpoint: {
        const dcs::MemberInfo* primary = from.view.leader();
        if (!primary) return makeError(ErrorCode::kUnavailable, from.name() + " has no leader");
        return peers.checkpoint(*from.view.site, *primary);
      }
      case Action::kRaiseEpoch:
        return updateSite(to, [&](dcs::SiteState& s) { s.epoch = std::max(s.epoch, epoch); });
      case Action::kFenceFrom:
        if (!from.reachable()) return makeError(ErrorCode::kUnavailable, from.name() + " cannot be reached");
        return setRole(from, dcs::SiteRole::kFenced, epoch);
      case Action::kFenceTo: return setRole(to, dcs::SiteRole::kFenced, epoch);
      case Action::kGrantTo:
        // Still a standby cluster until promote removes standby_cluster.
        return updateSite(to, [&](dcs::SiteState& s) {
          s.role = dcs::SiteRole::kPrimary;
          s.epoch = epoch;
          s.granted_epoch = epoch;
        });
      case Action::kRecordToken: {
        auto token = dcs::parseDemotionToken(verdict.payload);
        if (!token.ok()) return token.error();
        for (SiteHandle* h : {&from, &to}) PGT_TRY(updateSite(*h, [&](dcs::SiteState& s) { s.token = *token; }));
        return okStatus();
      }
      case Action::kMarkToPrimary:
        return updateSite(to, [&](dcs::SiteState& s) {
          s.role = dcs::SiteRole::kPrimary;
          s.epoch = epoch;
          if (!verdict.payload.empty()) s.standby_cluster_json = verdict.payload;
        });
      case Action::kLeaveStandbyTo: return patchConfig(to, R"({"standby_cluster":null})");
      case Action::kFollowFrom: return patchConfig(from, R"({"standby_cluster":)" + verdict.payload + "}");
      case Action::kMarkFromStandby: return setRole(from, dcs::SiteRole::kStandby, epoch);
      case Action::kFollowTo: return patchConfig(to, R"({"standby_cluster":)" + verdict.payload + "}");
      case Action::kMarkToStandby: return setRole(to, dcs::SiteRole::kStandby, epoch);
      case Action::kTakeBackup:
      case Action::kRunDrill: return runBackup(run, verdict);
    }
    return makeError(ErrorCode::kInternal, std::string("no action ") + actionName(verdict.action));
  }

  // A scheduled backup or drill, through the runner; what it did goes into
  // the run's record (journaled with the step).
  Status runBackup(Run& run, const Verdict& verdict) {
    if (!runner) return makeError(ErrorCode::kInternal, "no backup runner");
    if (!run.op.backup) return makeError(ErrorCode::kInternal, "the run has no backup record");
    dcs::BackupRecord& record = *run.op.backup;
    const std::optional<ScheduledKind> kind = scheduledKindOf(record.type);
    if (!kind) return makeError(ErrorCode::kInvalidArgument, "unknown scheduled kind '" + record.type + "'");
    const MonoTime started = clock.monotonicNow();
    Result<BackupRunResult> result = makeError(ErrorCode::kInternal, "not run");
    if (verdict.action == Action::kRunDrill) {
      result = runner->drill();
    } else {
      SiteHandle& h = run.from.name() == verdict.target_dc ? run.from : run.to;
      const dcs::MemberInfo* member = h.snapshot().member(verdict.target_member);
      if (!member) return makeError(ErrorCode::kNotFound, verdict.target_member + " is not a member of " + verdict.target_dc);
      record.site = verdict.target_dc;
      record.member = verdict.target_member;
      result = runner->backup(*kind, *h.view.site, *member);
    }
    record.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock.monotonicNow() - started).count();
    if (!result.ok()) return result.error();
    record.label = result->label;
    record.bytes = result->bytes;
    record.copied_bytes = result->copied_bytes;
    return okStatus();
  }

  // --- the journal ----------------------------------------------------------

  // Records a step in both journals (one, when the other DC is down).
  Status journal(Run& run, const std::string& step, const std::string& detail, const std::string& state = "done") {
    auto& steps = run.op.steps;
    steps.erase(std::remove_if(steps.begin(), steps.end(), [&](const auto& s) { return s.name == step; }), steps.end());
    steps.push_back({step, state, now(), detail});
    int recorded = 0;
    for (SiteHandle* h : run.reachable()) {
      Status written = updateJournal(*h, run.slot, [&](auto& operation, auto&) { operation = run.op; });
      if (!written.ok() && !run.canDoWithout(h)) return written;
      if (!written.ok()) h->lost_this_step = true;
      recorded += written.ok() ? 1 : 0;
    }
    if (recorded == 0) return makeError(ErrorCode::kUnavailable, "neither DC could record the step " + step);
    say(step + ": " + detail);  // only once it is durable: a printed step is never redone
    return okStatus();
  }

  static void closeOperation(std::optional<dcs::SiteOperation>& operation, std::vector<dcs::SiteOperation>& history,
                             const dcs::SiteOperation& op) {
    operation.reset();
    history.push_back(op);
    if (history.size() > dcs::kSiteHistoryLength) {
      history.erase(history.begin(), history.end() - static_cast<std::ptrdiff_t>(dcs::kSiteHistoryLength));
    }
  }

  // Ends the operation: it moves to both DCs' histories.
  Status finish(Run& run, const std::string& result) {
    run.op.finished_at = now();
    run.op.result = result;
    int recorded = 0;
    for (SiteHandle* h : run.reachable()) {
      Status written = updateJournal(*h, run.slot, [&](auto& operation, auto& history) { closeOperation(operation, history, run.op); });
      if (!written.ok() && !run.canDoWithout(h)) return written;
      recorded += written.ok() ? 1 : 0;
    }
    if (recorded == 0) return makeError(ErrorCode::kUnavailable, "neither DC could record the end of the " + run.op.kind);
    return okStatus();
  }

  // A journal still open in `h` whose operation the other DC's history
  // closed: a run that could not reach `h` to close it there (a rollback
  // cut off from the standby DC). It is closed in `h` with the same result
  // and never resumed: the old primary DC has taken writes since.
  Result<bool> closedElsewhere(Run& run, SiteHandle& h) {
    SiteHandle& other = &h == &run.from ? run.to : run.from;
    const auto* open_here = openIn(h, run.slot);
    const auto* other_history = historyIn(other, run.slot);
    if (!other.reachable() || !other_history || !open_here || !*open_here) return false;
    const dcs::SiteOperation& open = **open_here;
    const auto& history = *other_history;
    const auto closed = std::find_if(history.begin(), history.end(), [&](const dcs::SiteOperation& o) {
      return o.kind == open.kind && o.from_site == open.from_site && o.to_site == open.to_site && o.started_at == open.started_at;
    });
    if (closed == history.end()) return false;
    const dcs::SiteOperation record = *closed;
    say("the " + open.kind + " to " + open.to_site + " started " + open.started_at + " was closed in " + other.name() +
        " (" + record.result + "); closing its journal in " + h.name() + " too");
    PGT_TRY(updateJournal(h, run.slot, [&](auto& operation, auto& history_here) {
      if (operation && operation->started_at == record.started_at) closeOperation(operation, history_here, record);
    }));
    return true;
  }

  // Takes over the operation in progress (in either journal) if it is a
  // `kind` to `to`, or starts a new one. `supersedes`: kinds of operation to
  // the same DC that this one replaces (they move to the history).
  Status adoptJournal(Run& run, const std::vector<OperationKind>& supersedes) {
    const std::string kind = kindName(run.kind);
    const std::optional<dcs::SiteOperation>* journaled = nullptr;
    for (SiteHandle* h : {&run.from, &run.to}) {
      const auto* open_here = h->reachable() ? openIn(*h, run.slot) : nullptr;
      if (open_here && *open_here) {
        bool stale = false;
        PGT_ASSIGN(stale, closedElsewhere(run, *h));
        if (stale) continue;
        const auto& candidate = *open_here;
        if (!journaled || candidate->steps.size() > (*journaled)->steps.size()) journaled = &candidate;
      }
    }
    if (journaled) {
      const dcs::SiteOperation current = **journaled;
      const std::optional<OperationKind> current_kind = parseKind(current.kind);
      // A scheduled run is resumed whichever DCs it ran between (a DC
      // switchover may have come since).
      const bool same_run = current.kind == kind && (run.slot == JournalSlot::kBackupsKey || current.to_site == run.to.name());
      const bool replaceable = current.to_site == run.to.name() && current_kind &&
                               std::find(supersedes.begin(), supersedes.end(), *current_kind) != supersedes.end();
      if (replaceable) {
        run.op = current;
        say("the " + current.kind + " to " + run.to.name() + " started " + current.started_at + " is superseded by this " + kind);
        PGT_TRY(finish(run, "superseded by " + kind));
      } else if (!same_run) {
        return makeError(ErrorCode::kConflict, "a " + current.kind + " from " + current.from_site + " to " +
                                                   current.to_site + " is in progress (started " + current.started_at +
                                                   "): run that command again to finish it");
      } else {
        run.op = current;
        run.resumed = true;
        run.epoch = operationEpoch(run.kind, run.from.view, run.to.view, run.op);
        say("resuming the " + kind + (run.slot == JournalSlot::kBackupsKey ? "" : " to " + run.to.name()) + " started " +
            run.op.started_at);
        return okStatus();
      }
    }
    run.op = dcs::SiteOperation{};
    run.op.kind = kind;
    run.op.from_site = run.from.name();
    run.op.to_site = run.to.name();
    run.op.started_at = now();
    run.epoch = operationEpoch(run.kind, run.from.view, run.to.view, run.op);
    return okStatus();
  }

  // --- rolling back -----------------------------------------------------------

  // Before the standby DC is promoted, a failure gives the old DC its
  // primary back: unfenced, its leader starts PostgreSQL as a primary where
  // it stopped. Nothing was lost and nothing else changed.
  Error rollBack(Run& run, const std::string& step, const Error& why) {
    const std::string reason = "aborted at " + step + ": " + why.message;
    // Journaled before anything is undone: a coordinator that dies while
    // rolling back leaves a journal whose rerun finishes the rollback.
    (void)journal(run, step, why.message, "failed");
    (void)journal(run, "rollback", reason, "started");
    return finishRollBack(run, reason, why.code);
  }

  Error finishRollBack(Run& run, const std::string& reason, ErrorCode code) {
    say(reason + "; unfencing " + run.from.name());
    auto unfenced = updateSite(run.from, [&](dcs::SiteState& s) { s.role = dcs::SiteRole::kPrimary; });
    if (!unfenced.ok()) {
      return makeError(code, reason + "; and unfencing " + run.from.name() + " failed (" + unfenced.error().message +
                                 "): run the command again");
    }
    auto finished = finish(run, reason);
    std::string message = "switchover " + reason + "; " + run.from.name() + " is the primary DC again, nothing changed in " +
                          run.to.name();
    if (!finished.ok()) message += " (the journal could not be closed: " + finished.error().message + ")";
    return makeError(code, message);
  }

  // --- the one driver ---------------------------------------------------------

  std::chrono::seconds limitFor(OperationKind kind, Step step) const {
    switch (step) {
      case Step::kPrecheck:
      case Step::kCheckpoint: return limits.fence;  // a probe that does not answer
      case Step::kFence: return limits.fence;
      case Step::kToken: return limits.token;
      case Step::kCatchUp: return limits.catch_up;
      case Step::kPromote: return limits.promote;
      case Step::kFollow: return kind == OperationKind::kRejoin ? limits.rejoin : limits.follow;
      case Step::kBackup:
      case Step::kDrill: return limits.fence;  // they never wait: the runner bounds them
    }
    return limits.fence;
  }

  std::string runAgainMessage(const Run& run, Step step, const std::string& why) const {
    if (run.kind == OperationKind::kSwitchover && step == Step::kFollow) {
      return run.to.name() + " is the primary DC, but " + why + "; run the command again to finish the switchover";
    }
    return std::string(kindName(run.kind)) + " stopped at " + stepName(step) + ": " + why + "; run the command again to finish it";
  }

  Error stepFailed(Run& run, const StepRow& row, const Error& why) {
    const std::string name = stepName(row.step);
    switch (row.on_failure) {
      case OnFailure::kNothingChanged: return why;
      case OnFailure::kRollBack: return rollBack(run, name, why);
      case OnFailure::kRollBackUntilSent:
        // Journaled as started (in this run or an earlier one): its first
        // write may have landed, so only forward.
        if (!run.op.step(name)) return rollBack(run, name, why);
        [[fallthrough]];
      case OnFailure::kRunAgain:
        (void)journal(run, name, why.message, "failed");
        return makeError(why.code, runAgainMessage(run, row.step, why.message));
      case OnFailure::kRecordFailure: {
        (void)journal(run, name, why.message, "failed");
        Status closed = finish(run, "failed: " + why.message);
        return makeError(why.code, std::string(kindName(run.kind)) + " failed: " + why.message +
                                       (closed.ok() ? "" : " (not recorded: " + closed.error().message + ")"));
      }
    }
    return why;
  }

  // Every operation kind runs here: the journal says which step comes next
  // (decideNext); the driver observes what its row asks, the row's pure
  // decider says what to do (decideStep), the driver executes that action
  // or journals the step, and goes round again. Bounded in rounds, and each
  // step in time by its limit.
  Status drive(Run& run, const OperationSettings& settings, const StepListener& listener = {}) {
    std::optional<Step> current;
    MonoTime step_started{};
    dcs::ClusterSnapshot to_at_step_start;
    std::set<Action> executed;
    std::map<Action, std::string> failed;
    const bool from_optional = run.from_optional;
    for (int round = 0; round < 1000000; ++round) {
      const Next next = decideNext(run.kind, run.op);
      if (next.type == Next::Type::kDone) return finish(run, "done");
      if (next.type == Next::Type::kFinishRollBack) return finishRollBack(run, next.reason, ErrorCode::kConflict);
      const StepRow& row = *next.row;
      // Past its point of no return the step needs only the DC taking over
      // (the old one is fenced, its token recorded): losing the old DC then
      // does not keep the new one from taking writes.
      run.from_optional = from_optional || (row.on_failure == OnFailure::kRollBackUntilSent && run.op.step(stepName(row.step)));
      const bool started = current != row.step;
      if (started) run.from.lost_this_step = false;  // each step tries a lost DC again, once
      Status observed = observe(run, row.probes);
      if (!observed.ok()) return stepFailed(run, row, observed.error());
      if (started) {
        current = row.step;
        step_started = clock.monotonicNow();
        to_at_step_start = run.to.view.snapshot;
        executed.clear();
        failed.clear();
      }
      StepInput input;
      input.kind = run.kind;
      input.from = &run.from.view;
      input.to = &run.to.view;
      input.journal = &run.op;
      input.epoch = run.epoch;
      input.settings = settings;
      input.waited = std::chrono::duration_cast<std::chrono::milliseconds>(clock.monotonicNow() - step_started);
      input.to_at_step_start = &to_at_step_start;
      input.executed_actions = executed;
      input.failed_actions = failed;
      input.wall_now = clock.wallNow();
      if (listener && started) {
        listener(StepEvent::kStarted, row.step, input);
      }
      const Verdict verdict = decideStep(row, input, limitFor(run.kind, row.step));
      spdlog::debug("{} {}: {} ({})", kindName(run.kind), stepName(row.step), verdict.rule, verdict.detail);
      switch (verdict.type) {
        case Verdict::Type::kAct: {
          // Journaled before it is sent: a write whose answer is lost may
          // have landed; a backup cut off by a crash is run again.
          const bool announce = (row.on_failure == OnFailure::kRollBackUntilSent && !run.op.step(stepName(row.step))) ||
                                row.on_failure == OnFailure::kRecordFailure;
          if (announce) {
            const std::string what = row.on_failure == OnFailure::kRecordFailure
                                         ? verdict.detail
                                         : std::string("sending ") + actionName(verdict.action) + " to " + run.to.name();
            Status announced = journal(run, stepName(row.step), what, "started");
            if (!announced.ok()) {
              // Nothing of the step was sent: it can still be undone.
              std::erase_if(run.op.steps, [&](const auto& s) { return s.name == stepName(row.step); });
              return stepFailed(run, row, announced.error());
            }
          }
          Status acted = execute(run, verdict);
          if (acted.ok()) {
            executed.insert(verdict.action);
          } else if (verdict.tolerate_failure) {
            failed[verdict.action] = acted.error().message;
          } else {
            return stepFailed(run, row, acted.error());
          }
          break;
        }
        case Verdict::Type::kStepDone: {
          Status written = journal(run, stepName(row.step), verdict.detail);
          if (!written.ok()) return stepFailed(run, row, written.error());
          if (listener) listener(StepEvent::kDone, row.step, input);
          break;
        }
        case Verdict::Type::kWait: sleep(limits.poll); break;
        case Verdict::Type::kFail: return stepFailed(run, row, makeError(verdict.code, verdict.detail));
      }
    }
    return makeError(ErrorCode::kInternal, std::string("the ") + kindName(run.kind) + " did not finish its steps");
  }

  // --- the operations -------------------------------------------------------

  Result<SwitchoverReport> runSwitchover(const std::string& to_site) {
    const Site* target = nullptr;
    PGT_ASSIGN(target, findSite(to_site));
    Run run;
    run.kind = OperationKind::kSwitchover;
    PGT_TRY(open(run.from, *sites.other(to_site)));
    PGT_TRY(open(run.to, *target));
    PGT_TRY(adoptJournal(run, {}));
    SwitchoverReport report;
    report.from_site = run.from.name();
    report.to_site = run.to.name();
    report.resumed = run.resumed;
    std::optional<MonoTime> fenced_at;
    const Status driven = drive(run, OperationSettings{sites.switchover, false}, [&](StepEvent event, Step step, const StepInput&) {
      if (event == StepEvent::kStarted && step == Step::kFence) fenced_at = clock.monotonicNow();
      if (event == StepEvent::kDone && step == Step::kPromote && fenced_at) {
        report.write_gap = std::chrono::duration_cast<std::chrono::milliseconds>(clock.monotonicNow() - *fenced_at);
      }
    });
    if (!driven.ok()) return driven.error();
    report.summary = "switchover done: " + run.to.name() + " is the primary DC (epoch " + std::to_string(run.epoch) + "), " +
                     run.from.name() + " is its standby cluster";
    if (report.write_gap) {
      report.summary += "\nwrites were refused for " + std::to_string(report.write_gap->count()) + " ms (fence to promote)";
    }
    return report;
  }

  Result<PromoteReport> runPromote(const std::string& site_name, PromoteOptions options) {
    const Site* target = nullptr;
    PGT_ASSIGN(target, findSite(site_name));
    Run run;
    run.kind = OperationKind::kPromote;
    run.from_optional = true;
    PGT_TRY(open(run.to, *target));
    if (auto other = open(run.from, *sites.other(site_name)); !other.ok()) {
      say(run.from.name() + " cannot be reached (" + other.error().message + "): promoting without fencing it in its DCS");
    }
    PGT_TRY(adoptJournal(run, {OperationKind::kSwitchover}));
    PromoteReport report;
    report.site = run.to.name();
    report.other = run.from.name();
    report.other_reachable = run.from.reachable();
    const Status driven = drive(run, OperationSettings{sites.switchover, options}, [&](StepEvent event, Step step, const StepInput& seen) {
      if (event != StepEvent::kDone) return;
      const DcView& from = *seen.from;
      const DcView& to = *seen.to;
      if (step == Step::kPrecheck) {
        report.known_behind_bytes = to.leader() ? to.leader()->standby_lag_bytes : std::nullopt;
        if (auto bound = lossBound(to, clock.wallNow())) {
          report.silent_for_seconds = bound->silent_for_seconds;
          report.silent_since = formatIsoTime(bound->since);
        }
      }
      if (step == Step::kFence) {
        // Said as it is: fenced only when its key really says so.
        report.other_fenced = from.reachable && from.snapshot.site && from.snapshot.site->role == dcs::SiteRole::kFenced &&
                              from.snapshot.site->epoch == run.epoch;
        if (auto failed = seen.failed_actions.find(Action::kFenceFrom); failed != seen.failed_actions.end()) {
          report.fence_error = failed->second;
        }
      }
    });
    if (!driven.ok()) return driven.error();
    report.epoch = run.epoch;
    report.summary = promoteSummary(run, report);
    return report;
  }

  static std::string promoteSummary(const Run& run, const PromoteReport& report) {
    const std::string& to = report.site;
    const std::string& from = report.other;
    std::string summary = to + " is the primary DC (epoch " + std::to_string(report.epoch) + ")";
    if (report.silent_for_seconds) {
      summary += "\n" + to + " last heard from " + from + " at most " + std::to_string(*report.silent_for_seconds) +
                 " s before this promotion: writes " + from + " acknowledged after " + report.silent_since + " may be lost";
      if (report.known_behind_bytes) {
        summary += " (" + to + " knew it was " + std::to_string(*report.known_behind_bytes) +
                   " bytes behind; more may have been written since)";
      }
    } else if (!run.resumed) {
      summary += "\n" + to + "'s agent has not heard from " + from +
                 " since it started: how much of " + from + "'s last writes may be lost is unknown";
    }
    const std::string other_state = report.other_fenced    ? " is fenced"
                                    : report.other_reachable ? " could not be fenced (" + report.fence_error +
                                                                   "); its agents still refuse the primary role once they see the new epoch"
                                                             : " was not reachable";
    summary += "\n" + from + other_state + "; when it is back, run `dcctl site rejoin " + from + "`";
    return summary;
  }

  Result<RejoinReport> runRejoin(const std::string& site_name) {
    const Site* target = nullptr;
    PGT_ASSIGN(target, findSite(site_name));
    // `to` rejoins; `from` is the primary DC it will follow.
    Run run;
    run.kind = OperationKind::kRejoin;
    PGT_TRY(open(run.to, *target));
    PGT_TRY(open(run.from, *sites.other(site_name)));
    PGT_TRY(adoptJournal(run, {}));
    RejoinReport report;
    report.site = run.to.name();
    report.primary_site = run.from.name();
    PGT_TRY(drive(run, OperationSettings{sites.switchover, false}, [&](StepEvent event, Step step, const StepInput& seen) {
      if (event == StepEvent::kDone && step == Step::kFollow) {
        report.members = memberRepairs(seen.to->snapshot, seen.to_at_step_start);
      }
    }));
    report.summary = run.to.name() + " is a standby cluster of " + run.from.name() + " again";
    for (const auto& [name, how] : report.members) report.summary += "\n  " + name + ": " + how;
    return report;
  }

  Result<std::string> runInit();

  BackupRunner* runner = nullptr;  // during runScheduled

  Result<std::optional<std::string>> runScheduled(BackupRunner& backup_runner, std::optional<ScheduledKind> now_kind) {
    runner = &backup_runner;
    Run run;
    run.slot = JournalSlot::kBackupsKey;
    const Status first = open(run.from, sites.sites[0]);
    const Status second = open(run.to, sites.sites[1]);
    if (!first.ok() && !second.ok()) {
      return makeError(ErrorCode::kUnavailable, "neither DC can be read: " + first.error().message + "; " + second.error().message);
    }
    // Fail closed: no run starts over a journal that cannot be read.
    const dcs::SiteOperation* open_run = nullptr;
    for (const SiteHandle* h : {&run.from, &run.to}) {
      if (!h->reachable()) continue;
      if (!h->snapshot().backups_error.empty()) {
        return makeError(ErrorCode::kConflict, h->name() + ": its backups journal " + h->paths.backups() + " holds garbage (" +
                                                   h->snapshot().backups_error + "); fix or delete it first");
      }
      const auto* open_here = openIn(*h, run.slot);
      if (open_here && *open_here && !open_run) open_run = &**open_here;
    }
    std::optional<ScheduledKind> kind;
    if (open_run) {
      kind = open_run->backup ? scheduledKindOf(open_run->backup->type) : std::nullopt;
      if (!kind) return makeError(ErrorCode::kConflict, "the open scheduled run started " + open_run->started_at + " has no known type");
    } else if (now_kind) {
      kind = now_kind;
    } else {
      const std::vector<ScheduledKind> due = dueRuns(sites.backups, lastRunsOf(run.from.view, run.to.view), clock.wallNow());
      if (due.empty()) return std::optional<std::string>();
      kind = due.front();
    }
    run.kind = operationKindOf(*kind);
    PGT_TRY(adoptJournal(run, {}));
    if (!run.op.backup) {
      run.op.backup = dcs::BackupRecord{};
      run.op.backup->type = recordTypeOf(*kind);
    }
    OperationSettings settings{sites.switchover, {}, sites.backups.allow_primary_dc};
    PGT_TRY(drive(run, settings));
    return std::optional<std::string>(run.op.steps.empty() ? "done" : run.op.steps.back().detail);
  }
};

Result<std::string> SiteOperations::Impl::runInit() {
  Run run;
  SiteHandle& from = run.from;
  SiteHandle& to = run.to;
  PGT_TRY(open(from, sites.sites[0]));
  PGT_TRY(open(to, sites.sites[1]));
  std::string summary;
  std::int64_t highest = 0;
  for (const SiteHandle* h : {&from, &to}) {
    if (h->snapshot().site) highest = std::max(highest, h->snapshot().site->epoch);
  }
  int primaries = 0;
  for (const SiteHandle* h : {&from, &to}) primaries += siteRoleOf(h->snapshot()) == dcs::SiteRole::kPrimary ? 1 : 0;
  if (primaries != 1 && !from.snapshot().site && !to.snapshot().site) {
    return makeError(ErrorCode::kInvalidArgument,
                     primaries == 0 ? "neither DC is a primary cluster (both have standby_cluster in /config)"
                                    : "both DCs are primary clusters (neither has standby_cluster in /config): make one a standby first");
  }
  // A missing key is never recreated as primary while the other DC's key
  // says primary: that would make two writable DCs (the agents of a DC whose
  // key vanished behave as fenced until it is back).
  for (const auto& [missing, other] : {std::pair{&from, &to}, std::pair{&to, &from}}) {
    if (!missing->snapshot().site && other->snapshot().site && other->snapshot().site->writable() &&
        siteRoleOf(missing->snapshot()) == dcs::SiteRole::kPrimary) {
      return makeError(ErrorCode::kConflict,
                       missing->name() + " has no site key while " + other->name() + "'s says primary (epoch " +
                           std::to_string(other->snapshot().site->epoch) + "): not creating " + missing->name() +
                           "'s as primary, which would make two writable DCs; run 'dcctl site rejoin " +
                           missing->name() + "' to make it a standby of " + other->name() + ", or restore its key");
    }
  }
  for (SiteHandle* h : {&from, &to}) {
    const bool existed = h->snapshot().site.has_value();
    PGT_TRY(updateSite(*h, [&](dcs::SiteState& st) {
      if (!existed) st.epoch = std::max<std::int64_t>(highest, 1);
    }));
    PGT_TRY(reload(*h));
    summary += (summary.empty() ? "" : "\n") + h->name() + ": " + dcs::siteRoleName(siteRoleOf(h->snapshot())) + " at epoch " +
               std::to_string(h->snapshot().site ? h->snapshot().site->epoch : 0) + (existed ? " (kept)" : " (created)");
  }
  return summary;
}

SiteOperations::SiteOperations(const SitesConfig& sites, DcsFactory connect, SitePeers& peers, const Clock& clock,
                               OperationLimits limits, Progress progress, Sleep sleep)
    : impl_(std::make_unique<Impl>(sites, std::move(connect), peers, clock, limits, std::move(progress), std::move(sleep))) {}

SiteOperations::~SiteOperations() = default;

Result<SwitchoverReport> SiteOperations::switchover(const std::string& to_site) { return impl_->runSwitchover(to_site); }

Result<PromoteReport> SiteOperations::promote(const std::string& site, PromoteOptions options) {
  return impl_->runPromote(site, options);
}

Result<RejoinReport> SiteOperations::rejoin(const std::string& site) { return impl_->runRejoin(site); }

Result<std::string> SiteOperations::init() { return impl_->runInit(); }

Result<std::optional<std::string>> SiteOperations::runScheduled(BackupRunner& runner, std::optional<ScheduledKind> now_kind) {
  return impl_->runScheduled(runner, now_kind);
}

}  // namespace pgtandem::coordinator
