// The operations' step deciders (operation_plan.h), a row per rule: each
// row starts from two DCs ready for the step, changes one thing, and
// expects a verdict and its rule. A last test checks that every rule id in
// operation_plan.cc has a row.

#include <gtest/gtest.h>

#include "tests/support/row_name.h"

#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>

#include "coordinator/operation_plan.h"

namespace pgtandem::coordinator {
namespace {

using namespace std::chrono_literals;
using T = Verdict::Type;
using dcs::SiteRole;

constexpr std::int64_t kEpoch = 2;  // this run's epoch; both keys start at 1
const std::string kStandbyConfig = R"({"ttl":30,"standby_cluster":{"host":"10.0.0.32","port":5432,"primary_slot_name":"dr"}})";

dcs::MemberInfo member(const std::string& name, const std::string& role, int port) {
  dcs::MemberInfo m;
  m.name = name;
  m.role = role;
  m.state = "running";
  m.conn_url = "postgres://10.0.0." + std::to_string(port % 100) + ":" + std::to_string(port) + "/postgres";
  m.timeline = 1;
  return m;
}

dcs::SiteState siteKey(SiteRole role, std::int64_t epoch) {
  dcs::SiteState s;
  s.role = role;
  s.epoch = epoch;
  s.peer = dcs::PeerSite{"the other DC", {"10.0.9.1:2379"}, "/service/", "other"};  // as `site init` writes it
  return s;
}

dcs::DemotionToken token() { return dcs::DemotionToken{"7000", 1, 1000, "000000010000000000000001", "dc1", true}; }

// Two DCs as a switchover finds them: dc1 primary (pg1 leads, pg2
// replica), dc2 its standby cluster (dr1 streams). Then `prepare` moves
// them to where the step under test begins.
struct World {
  Site dc1, dc2;
  DcView from, to;
  dcs::SiteOperation journal;
  StepInput input;
  dcs::ClusterSnapshot to_before;

  World() {
    dc1.name = "dc1";
    dc2.name = "dc2";
    from.site = &dc1;
    to.site = &dc2;
    for (DcView* dc : {&from, &to}) {
      dc->reachable = true;
      dc->snapshot.initialize = "7000";
    }
    from.snapshot.config_json = R"({"ttl":30})";
    from.snapshot.leader = dcs::LeaderInfo{"pg1", 1, 1};
    from.snapshot.members = {member("pg1", "primary", 5432), member("pg2", "replica", 5433)};
    from.snapshot.site = siteKey(SiteRole::kPrimary, 1);
    from.leader_health = Result<PrimaryHealth>(PrimaryHealth{});
    to.snapshot.config_json = kStandbyConfig;
    to.snapshot.leader = dcs::LeaderInfo{"dr1", 1, 1};
    dcs::MemberInfo dr1 = member("dr1", "standby_leader", 6432);
    dr1.replication_state = "streaming";
    dr1.standby_source = "stream";
    dr1.standby_lag_bytes = 0;
    dr1.standby_contact_age = 2;
    to.snapshot.members = {dr1};
    to.snapshot.site = siteKey(SiteRole::kStandby, 1);
  }

  dcs::MemberInfo& m(DcView& dc, const std::string& name) {
    for (auto& x : dc.snapshot.members) {
      if (x.name == name) return x;
    }
    throw std::runtime_error(name);
  }

  // --- where each step of a switchover begins ---
  void fenced() {
    to.snapshot.site->epoch = kEpoch;
    from.snapshot.site = siteKey(SiteRole::kFenced, kEpoch);
    from.primary_checks.emplace("pg1", Result<int>(503));
    from.primary_checks.emplace("pg2", Result<int>(503));
  }
  void stopped() {
    fenced();
    m(from, "pg1").state = "stopped";
    m(from, "pg1").role = "demoted";
    m(from, "pg1").demotion_token = token();
    dcs::DemotionToken t = token();
    from.snapshot.site->token = t;
    to.snapshot.site->token = t;
  }
  void caughtUp() {
    stopped();
    to.leader_point = Result<ControlPoint>(ControlPoint{"7000", 1, 1000, true, 1120});
  }
  void promoted() {
    caughtUp();
    to.snapshot.site->role = SiteRole::kPrimary;
    to.snapshot.site->standby_cluster_json = R"({"host":"10.0.1.10","port":5432,"primary_slot_name":"dr"})";
    to.snapshot.config_json = R"({"ttl":30})";
    m(to, "dr1").role = "primary";
    m(to, "dr1").timeline = 2;
    to.leader_in_recovery = Result<bool>(false);
    to.leader_primary_check = Result<int>(200);
  }
  void following() {
    promoted();
    from.snapshot.config_json = R"({"ttl":30,"standby_cluster":{"host":"10.0.0.32","port":6432}})";
    from.snapshot.site = siteKey(SiteRole::kStandby, kEpoch);
    m(from, "pg1").role = "standby_leader";
    m(from, "pg1").state = "running";
    m(from, "pg1").timeline = 2;
    m(from, "pg1").replication_state = "streaming";
  }
  // --- a disaster promotion of dc2 (dc1 is `from`, maybe unreachable) ---
  void granted() {
    to.snapshot.site = siteKey(SiteRole::kPrimary, kEpoch);
    to.snapshot.site->granted_epoch = kEpoch;
  }
  // --- a rejoin of dc1 (`to`) to dc2 (`from`), which was promoted ---
  void superseded() {
    std::swap(from.site, to.site);
    std::swap(from.snapshot, to.snapshot);
    // `from` is now dc2's data: make it the primary DC at epoch 2.
    from.snapshot.config_json = R"({"ttl":30})";
    from.snapshot.site = siteKey(SiteRole::kPrimary, kEpoch);
    m(from, "dr1").role = "primary";
    m(from, "dr1").timeline = 2;
    // `to` is dc1: its key still says primary at epoch 1.
  }
  void rejoinFenced() {
    superseded();
    to.snapshot.site = siteKey(SiteRole::kFenced, kEpoch);
  }
  void rejoinConfigured() {
    rejoinFenced();
    to.snapshot.config_json = R"({"ttl":30,"standby_cluster":{"host":"10.0.0.32","port":6432}})";
    to.snapshot.site = siteKey(SiteRole::kStandby, kEpoch);
    to_before = to.snapshot;
    for (auto& x : to.snapshot.members) {
      x.role = x.name == "pg1" ? "standby_leader" : "replica";
      x.timeline = 2;
      x.replication_state = "streaming";
    }
    m(to, "pg2").repaired = "rewind";
    m(to, "pg2").repaired_at = "2026-12-02T10:00:00Z";
  }

  Verdict decide(OperationKind kind, Step step) {
    input.kind = kind;
    input.from = &from;
    input.to = &to;
    input.journal = &journal;
    input.epoch = kEpoch;
    input.to_at_step_start = &to_before;
    input.wall_now = std::chrono::system_clock::time_point(std::chrono::hours(24 * 365 * 57));
    from.refresh();  // as the driver does after each observation
    to.refresh();
    for (const StepRow& row : stepTable(kind)) {
      if (row.step == step) return decideStep(row, input, 60s);
    }
    throw std::runtime_error(std::string("no step ") + stepName(step));
  }
};

struct Row {
  const char* name;
  OperationKind kind;
  Step step;
  std::function<void(World&)> given;
  T type;
  std::string rule;
  std::optional<Action> action = std::nullopt;
  std::string detail_has = "";
};

std::vector<Row> rows() {
  const auto S = OperationKind::kSwitchover;
  const auto P = OperationKind::kPromote;
  const auto R = OperationKind::kRejoin;
  const auto B = OperationKind::kBackup;
  const auto D = OperationKind::kDrill;
  auto noop = [](World&) {};
  return {
      // switchover: precheck
      {"healthy DCs pass", S, Step::kPrecheck, noop, T::kStepDone, "switchover.precheck.ok", {}, "0 bytes behind"},
      {"to is already primary", S, Step::kPrecheck,
       [](World& w) {
         w.to.snapshot.config_json = R"({"ttl":30})";
         w.to.snapshot.site.reset();
       },
       T::kFail, "switchover.precheck.to_is_primary"},
      {"to has no standby_cluster although its key says standby", S, Step::kPrecheck,
       [](World& w) { w.to.snapshot.config_json = R"({"ttl":30})"; }, T::kFail, "switchover.precheck.to_not_standby"},
      {"from is fenced", S, Step::kPrecheck, [](World& w) { w.from.snapshot.site->role = SiteRole::kFenced; }, T::kFail,
       "switchover.precheck.from_not_primary"},
      {"another database", S, Step::kPrecheck, [](World& w) { w.to.snapshot.initialize = "8000"; }, T::kFail,
       "switchover.precheck.other_database"},
      {"no running primary", S, Step::kPrecheck, [](World& w) { w.m(w.from, "pg1").state = "stopped"; }, T::kFail,
       "switchover.precheck.no_primary"},
      {"no standby leader", S, Step::kPrecheck, [](World& w) { w.m(w.to, "dr1").role = "replica"; }, T::kFail,
       "switchover.precheck.no_standby_leader"},
      {"paused", S, Step::kPrecheck, [](World& w) { w.from.snapshot.config_json = R"({"ttl":30,"pause":true})"; }, T::kFail,
       "switchover.precheck.paused"},
      {"not streaming", S, Step::kPrecheck, [](World& w) { w.m(w.to, "dr1").replication_state = "in archive recovery"; },
       T::kFail, "switchover.precheck.not_streaming"},
      {"streaming through a load balancer with no archive to fall back on", S, Step::kPrecheck,
       [](World& w) {
         w.to.snapshot.config_json = R"({"ttl":30,"standby_cluster":{"host":"10.0.1.100","port":5000}})";
       },
       T::kFail, "switchover.precheck.stream_at_risk", {}, "restore_command"},
      {"through a load balancer, with the archive to fall back on", S, Step::kPrecheck,
       [](World& w) {
         w.to.snapshot.config_json =
             R"({"ttl":30,"standby_cluster":{"host":"10.0.1.100","port":5000,"restore_command":"cp /archive/%f %p"}})";
       },
       T::kStepDone, "switchover.precheck.ok"},
      {"from a member named in a host list", S, Step::kPrecheck,
       [](World& w) { w.to.snapshot.config_json = R"({"ttl":30,"standby_cluster":{"host":"10.0.0.99,10.0.0.32","port":5432}})"; },
       T::kStepDone, "switchover.precheck.ok"},
      {"lag unknown", S, Step::kPrecheck, [](World& w) { w.m(w.to, "dr1").standby_lag_bytes.reset(); }, T::kFail,
       "switchover.precheck.lag_unknown"},
      {"lag over the limit", S, Step::kPrecheck, [](World& w) { w.m(w.to, "dr1").standby_lag_bytes = 1LL << 30; }, T::kFail,
       "switchover.precheck.lag"},
      {"health not probed yet", S, Step::kPrecheck, [](World& w) { w.from.leader_health.reset(); }, T::kWait,
       "switchover.precheck.health"},
      {"health cannot be read", S, Step::kPrecheck,
       [](World& w) { w.from.leader_health = Result<PrimaryHealth>(makeError(ErrorCode::kUnavailable, "refused")); }, T::kFail,
       "switchover.precheck.health_unknown"},
      {"a long transaction", S, Step::kPrecheck,
       [](World& w) { w.from.leader_health = Result<PrimaryHealth>(PrimaryHealth{100, 0, false}); }, T::kFail,
       "switchover.precheck.long_transaction"},
      {"the archive fails", S, Step::kPrecheck,
       [](World& w) { w.from.leader_health = Result<PrimaryHealth>(PrimaryHealth{0, 3, true}); }, T::kFail,
       "switchover.precheck.archive_failing"},
      // checkpoint
      {"checkpoint first", S, Step::kCheckpoint, noop, T::kAct, "switchover.checkpoint.run", Action::kCheckpoint},
      {"checkpoint done", S, Step::kCheckpoint, [](World& w) { w.input.executed_actions.insert(Action::kCheckpoint); },
       T::kStepDone, "switchover.checkpoint.ok", {}, "CHECKPOINT on pg1"},
      {"checkpoint without a leader", S, Step::kCheckpoint, [](World& w) { w.from.snapshot.leader.reset(); }, T::kFail,
       "switchover.checkpoint.no_leader"},
      // fence: the epoch to `to` before `from` is fenced with it
      {"the new epoch goes to the standby DC first", S, Step::kFence, noop, T::kAct, "switchover.fence.raise_epoch",
       Action::kRaiseEpoch},
      {"then the primary DC is fenced", S, Step::kFence, [](World& w) { w.to.snapshot.site->epoch = kEpoch; }, T::kAct,
       "switchover.fence.fence_key", Action::kFenceFrom},
      {"members not probed", S, Step::kFence,
       [](World& w) {
         w.fenced();
         w.from.primary_checks.clear();
       },
       T::kWait, "switchover.fence.unprobed"},
      {"a member still answers 200", S, Step::kFence,
       [](World& w) {
         w.fenced();
         w.from.primary_checks.erase("pg1");
         w.from.primary_checks.emplace("pg1", Result<int>(200));
       },
       T::kWait, "switchover.fence.still_writable"},
      {"a silent leader is not counted fenced", S, Step::kFence,
       [](World& w) {
         w.fenced();
         w.from.primary_checks.erase("pg1");
         w.from.primary_checks.emplace("pg1", Result<int>(makeError(ErrorCode::kTimeout, "timed out")));
       },
       T::kWait, "switchover.fence.leader_silent"},
      {"every member 503, a silent replica counted apart", S, Step::kFence,
       [](World& w) {
         w.fenced();
         w.from.primary_checks.erase("pg2");
         w.from.primary_checks.emplace("pg2", Result<int>(makeError(ErrorCode::kTimeout, "timed out")));
       },
       T::kStepDone, "switchover.fence.ok", {}, "1 replicas do not answer"},
      // token
      {"the primary still runs", S, Step::kToken, [](World& w) { w.fenced(); }, T::kWait, "switchover.token.awaited"},
      {"a token from another database", S, Step::kToken,
       [](World& w) {
         w.stopped();
         w.m(w.from, "pg1").demotion_token->system_identifier = "8000";
       },
       T::kFail, "switchover.token.other_database"},
      {"the token goes to both keys", S, Step::kToken,
       [](World& w) {
         w.stopped();
         w.to.snapshot.site->token.reset();
       },
       T::kAct, "switchover.token.record", Action::kRecordToken},
      {"the token in both keys", S, Step::kToken, [](World& w) { w.stopped(); }, T::kStepDone, "switchover.token.ok", {},
       "REDO 0/3E8 on timeline 1"},
      // catch_up: exact
      {"no token journaled", S, Step::kCatchUp,
       [](World& w) {
         w.caughtUp();
         w.from.snapshot.site->token.reset();
       },
       T::kFail, "switchover.catch_up.no_token"},
      {"no standby leader to ask", S, Step::kCatchUp,
       [](World& w) {
         w.caughtUp();
         w.to.snapshot.leader.reset();
       },
       T::kWait, "switchover.catch_up.no_leader"},
      {"the standby leader does not answer", S, Step::kCatchUp,
       [](World& w) {
         w.caughtUp();
         w.to.leader_point = Result<ControlPoint>(makeError(ErrorCode::kUnavailable, "refused"));
       },
       T::kWait, "switchover.catch_up.unreadable"},
      {"the standby leader is out of recovery", S, Step::kCatchUp,
       [](World& w) {
         w.caughtUp();
         (*w.to.leader_point)->in_recovery = false;
       },
       T::kFail, "switchover.catch_up.not_in_recovery"},
      {"the standby holds another database", S, Step::kCatchUp,
       [](World& w) {
         w.caughtUp();
         (*w.to.leader_point)->system_identifier = "8000";
       },
       T::kFail, "switchover.catch_up.other_database"},
      {"the standby replayed past the token", S, Step::kCatchUp,
       [](World& w) {
         w.caughtUp();
         (*w.to.leader_point)->redo_lsn = 2000;
       },
       T::kFail, "switchover.catch_up.past_token"},
      {"the standby is behind", S, Step::kCatchUp,
       [](World& w) {
         w.caughtUp();
         (*w.to.leader_point)->redo_lsn = 500;
       },
       T::kWait, "switchover.catch_up.behind"},
      {"REDO reached but the record not replayed in full", S, Step::kCatchUp,
       [](World& w) {
         w.caughtUp();
         (*w.to.leader_point)->replay_lsn = 1000;
       },
       T::kWait, "switchover.catch_up.record_unreplayed"},
      {"exactly at the token", S, Step::kCatchUp, [](World& w) { w.caughtUp(); }, T::kStepDone, "switchover.catch_up.ok"},
      // promote
      {"the key says primary first, the standby_cluster block saved", S, Step::kPromote, [](World& w) { w.caughtUp(); },
       T::kAct, "switchover.promote.mark_primary", Action::kMarkToPrimary},
      {"then standby_cluster leaves /config", S, Step::kPromote,
       [](World& w) {
         w.promoted();
         w.to.snapshot.config_json = kStandbyConfig;
       },
       T::kAct, "switchover.promote.leave_standby", Action::kLeaveStandbyTo},
      {"no leader yet", S, Step::kPromote,
       [](World& w) {
         w.promoted();
         w.to.snapshot.leader.reset();
       },
       T::kWait, "switchover.promote.no_leader"},
      {"the leader still in recovery", S, Step::kPromote,
       [](World& w) {
         w.promoted();
         w.to.leader_in_recovery = Result<bool>(true);
       },
       T::kWait, "switchover.promote.not_writable"},
      {"the leader writable", S, Step::kPromote, [](World& w) { w.promoted(); }, T::kStepDone, "switchover.promote.ok"},
      // follow
      {"nobody to follow yet", S, Step::kFollow,
       [](World& w) {
         w.promoted();
         w.to.snapshot.leader.reset();
       },
       T::kWait, "switchover.follow.no_upstream"},
      {"the old DC gets standby_cluster", S, Step::kFollow, [](World& w) { w.promoted(); }, T::kAct,
       "switchover.follow.configure", Action::kFollowFrom},
      {"then its key says standby", S, Step::kFollow,
       [](World& w) {
         w.following();
         w.from.snapshot.site = siteKey(SiteRole::kFenced, kEpoch);
       },
       T::kAct, "switchover.follow.mark_standby", Action::kMarkFromStandby},
      {"no leader in the old DC yet", S, Step::kFollow,
       [](World& w) {
         w.following();
         w.from.snapshot.leader.reset();
       },
       T::kWait, "switchover.follow.leaders"},
      {"the old DC still on the old timeline", S, Step::kFollow,
       [](World& w) {
         w.following();
         w.m(w.from, "pg1").timeline = 1;
       },
       T::kWait, "switchover.follow.not_streaming"},
      {"the old DC streams the new timeline", S, Step::kFollow, [](World& w) { w.following(); }, T::kStepDone,
       "switchover.follow.ok", {}, "pg1 streams timeline 2"},
      // promote (disaster)
      {"promote a standby DC: the loss bound", P, Step::kPrecheck, [](World& w) { w.from.reachable = false; }, T::kStepDone,
       "promote.precheck.ok", {}, "at most 32 s ago"},
      {"nothing to promote in a primary DC", P, Step::kPrecheck, [](World& w) { w.to.snapshot.config_json = R"({"ttl":30})"; },
       T::kFail, "promote.precheck.already_primary"},
      {"no running standby leader", P, Step::kPrecheck, [](World& w) { w.m(w.to, "dr1").state = "stopped"; }, T::kFail,
       "promote.precheck.no_standby_leader"},
      {"the other DC's primary runs", P, Step::kPrecheck, noop, T::kFail, "promote.precheck.other_primary_runs"},
      {"the other DC unreachable and never given site keys", P, Step::kPrecheck,
       [](World& w) {
         w.from.reachable = false;
         w.to.snapshot.site->peer.reset();
       },
       T::kFail, "promote.precheck.never_initialized", {}, "would accept writes again"},
      {"never given site keys, --without-site-keys", P, Step::kPrecheck,
       [](World& w) {
         w.from.reachable = false;
         w.to.snapshot.site.reset();
         w.input.settings.promote.without_site_keys = true;
       },
       T::kStepDone, "promote.precheck.ok"},
      {"--while-primary-runs promotes anyway", P, Step::kPrecheck, [](World& w) { w.input.settings.promote.while_primary_runs = true; }, T::kStepDone,
       "promote.precheck.ok"},
      {"the granted epoch first", P, Step::kFence, noop, T::kAct, "promote.fence.grant", Action::kGrantTo},
      {"the other DC unreachable", P, Step::kFence,
       [](World& w) {
         w.granted();
         w.from.reachable = false;
       },
       T::kStepDone, "promote.fence.other_unreachable"},
      {"the other DC fenced where it answers", P, Step::kFence, [](World& w) { w.granted(); }, T::kAct,
       "promote.fence.fence_other", Action::kFenceFrom},
      {"fencing the other DC failed: said, not fatal", P, Step::kFence,
       [](World& w) {
         w.granted();
         w.input.failed_actions[Action::kFenceFrom] = "its site key holds garbage";
       },
       T::kStepDone, "promote.fence.other_failed", {}, "garbage"},
      {"the other DC fenced", P, Step::kFence,
       [](World& w) {
         w.granted();
         w.from.snapshot.site = siteKey(SiteRole::kFenced, kEpoch);
       },
       T::kStepDone, "promote.fence.ok"},
      {"promote: standby_cluster leaves /config", P, Step::kPromote,
       [](World& w) {
         w.granted();
         w.to.snapshot.site->standby_cluster_json = R"({"host":"10.0.1.10"})";
       },
       T::kAct, "promote.promote.leave_standby", Action::kLeaveStandbyTo},
      {"promote: writable", P, Step::kPromote, [](World& w) { w.promoted(); }, T::kStepDone, "promote.promote.ok"},
      // rejoin
      {"rejoin a superseded DC", R, Step::kPrecheck, [](World& w) { w.superseded(); }, T::kStepDone, "rejoin.precheck.ok"},
      {"rejoin to a DC that is not primary", R, Step::kPrecheck,
       [](World& w) {
         w.superseded();
         w.from.snapshot.site->role = SiteRole::kFenced;
       },
       T::kFail, "rejoin.precheck.other_not_primary"},
      {"rejoin: the primary DC has no running primary", R, Step::kPrecheck,
       [](World& w) {
         w.superseded();
         w.m(w.from, "dr1").state = "stopped";
       },
       T::kFail, "rejoin.precheck.no_primary"},
      {"rejoin: already a standby cluster", R, Step::kPrecheck,
       [](World& w) {
         w.superseded();
         w.to.snapshot.config_json = kStandbyConfig;
       },
       T::kFail, "rejoin.precheck.already_standby"},
      {"rejoin a DC that was not superseded", R, Step::kPrecheck,
       [](World& w) {
         w.superseded();
         w.to.snapshot.site->epoch = kEpoch;
       },
       T::kFail, "rejoin.precheck.not_superseded"},
      {"rejoin: fence first", R, Step::kFence, [](World& w) { w.superseded(); }, T::kAct, "rejoin.fence.fence_key",
       Action::kFenceTo},
      {"rejoin: fenced", R, Step::kFence, [](World& w) { w.rejoinFenced(); }, T::kStepDone, "rejoin.fence.ok"},
      {"rejoin: nobody to follow", R, Step::kFollow,
       [](World& w) {
         w.rejoinFenced();
         w.from.snapshot.leader.reset();
       },
       T::kWait, "rejoin.follow.no_upstream"},
      {"rejoin: standby_cluster first", R, Step::kFollow, [](World& w) { w.rejoinFenced(); }, T::kAct,
       "rejoin.follow.configure", Action::kFollowTo},
      {"rejoin: then the key says standby", R, Step::kFollow,
       [](World& w) {
         w.rejoinConfigured();
         w.to.snapshot.site->role = SiteRole::kFenced;
       },
       T::kAct, "rejoin.follow.mark_standby", Action::kMarkToStandby},
      {"rejoin: no primary timeline yet", R, Step::kFollow,
       [](World& w) {
         w.rejoinConfigured();
         w.from.snapshot.leader.reset();
       },
       T::kWait, "rejoin.follow.leaders"},
      {"rejoin: a member still rewinding", R, Step::kFollow,
       [](World& w) {
         w.rejoinConfigured();
         w.m(w.to, "pg2").state = "starting";
       },
       T::kWait, "rejoin.follow.not_streaming"},
      {"rejoin: every member streams; what each did", R, Step::kFollow, [](World& w) { w.rejoinConfigured(); }, T::kStepDone,
       "rejoin.follow.ok", {}, "pg1 followed (no rewind needed), pg2 rewound"},
      // scheduled backups and drills (where a backup goes: backup_schedule_test.cc)
      {"a backup copies the standby DC's member", B, Step::kBackup, noop, T::kAct, "backup.place.standby_dc",
       Action::kTakeBackup, "a backup of dr1 in the standby DC dc2"},
      {"the standby DC cannot be read and the primary DC is not allowed", B, Step::kBackup,
       [](World& w) { w.to.reachable = false; }, T::kFail, "backup.place.nowhere", {}, "allow_primary_dc is off"},
      {"the backup was taken", B, Step::kBackup,
       [](World& w) {
         w.journal.backup = dcs::BackupRecord{"full", "dc2", "dr1", "20261204-010000F", 3 << 20, 1 << 20, 61'400};
         w.input.executed_actions.insert(Action::kTakeBackup);
       },
       T::kStepDone, "backup.backup.taken", {}, "full backup 20261204-010000F of dr1 in dc2: 3.0 MB (1.0 MB copied) in 61 s"},
      {"a drill runs", D, Step::kDrill, noop, T::kAct, "drill.drill.run", Action::kRunDrill},
      {"the drill passed", D, Step::kDrill,
       [](World& w) {
         w.journal.backup = dcs::BackupRecord{"drill", "", "", "20261204-010000F", 0, 0, 12'000};
         w.input.executed_actions.insert(Action::kRunDrill);
       },
       T::kStepDone, "drill.drill.passed", {}, "the drill of backup 20261204-010000F passed in 12 s"},
  };
}

class OperationStepsTest : public ::testing::TestWithParam<Row> {};

TEST_P(OperationStepsTest, Decides) {
  const Row& row = GetParam();
  World world;
  row.given(world);
  const Verdict verdict = world.decide(row.kind, row.step);
  EXPECT_EQ(verdict.rule, row.rule) << verdict.detail;
  EXPECT_EQ(verdict.type, row.type) << verdict.rule << ": " << verdict.detail;
  if (row.action) {
    EXPECT_EQ(verdict.action, *row.action) << actionName(verdict.action);
  }
  EXPECT_NE(verdict.detail.find(row.detail_has), std::string::npos) << verdict.detail;
  if (verdict.type == T::kFail || verdict.type == T::kWait) {
    EXPECT_FALSE(verdict.detail.empty()) << "says why";
  }
}

INSTANTIATE_TEST_SUITE_P(Rows, OperationStepsTest, ::testing::ValuesIn(rows()), pgtandem::testing::rowName<Row>);

TEST(OperationSteps, AWaitPastTheLimitIsAFailure) {
  World world;
  world.fenced();
  world.input.waited = 61s;
  const Verdict verdict = world.decide(OperationKind::kSwitchover, Step::kToken);
  EXPECT_EQ(verdict.type, T::kFail);
  EXPECT_EQ(verdict.rule, "switchover.token.awaited.timeout");
  EXPECT_EQ(verdict.code, ErrorCode::kTimeout);
  EXPECT_NE(verdict.detail.find("did not happen within 60 s"), std::string::npos) << verdict.detail;
}

TEST(OperationSteps, DecidingTwiceGivesTheSameVerdict) {
  for (const Row& row : rows()) {
    World a, b;
    row.given(a);
    row.given(b);
    const Verdict first = a.decide(row.kind, row.step), second = b.decide(row.kind, row.step);
    EXPECT_EQ(first.rule, second.rule) << row.name;
    EXPECT_EQ(first.payload, second.payload) << row.name;
  }
}

// Epochs are never reused: above both keys, unless the fence was journaled.
TEST(OperationSteps, TheEpochOfARun) {
  World world;
  world.from.snapshot.site->epoch = 4;
  world.to.snapshot.site->epoch = 5;  // raised by a switchover that rolled back
  dcs::SiteOperation fresh;
  EXPECT_EQ(operationEpoch(OperationKind::kSwitchover, world.from, world.to, fresh), 6);
  EXPECT_EQ(operationEpoch(OperationKind::kPromote, world.from, world.to, fresh), 6);
  world.from.reachable = false;
  EXPECT_EQ(operationEpoch(OperationKind::kPromote, world.from, world.to, fresh), 6) << "the promoted DC's key counts";
  world.from.reachable = true;
  dcs::SiteOperation fenced;
  fenced.steps.push_back({"fence", "done", "t", ""});
  EXPECT_EQ(operationEpoch(OperationKind::kSwitchover, world.from, world.to, fenced), 5) << "resumed: the epoch it fenced at";
  EXPECT_EQ(operationEpoch(OperationKind::kRejoin, world.from, world.to, fresh), 4) << "a rejoin takes the primary DC's";
}

// Every rule id written in operation_plan.cc has a row above.
TEST(OperationSteps, EveryRuleHasARow) {
  std::ifstream in(std::string(PGTANDEM_SOURCE_DIR) + "/coordinator/operation_plan.cc");
  ASSERT_TRUE(in);
  std::stringstream text;
  text << in.rdbuf();
  const std::string source = text.str();
  std::set<std::string> rules;
  const std::regex literal(R"re("((?:switchover|promote|rejoin|backup|drill)\.[a-z_]+\.[a-z_]+)")re");
  for (auto it = std::sregex_iterator(source.begin(), source.end(), literal); it != std::sregex_iterator(); ++it) {
    rules.insert((*it)[1]);
  }
  const std::regex shared(R"re(prefix \+ "\.([a-z_]+)")re");  // promoteTo, as the switchover uses it
  for (auto it = std::sregex_iterator(source.begin(), source.end(), shared); it != std::sregex_iterator(); ++it) {
    rules.insert("switchover.promote." + std::string((*it)[1]));
  }
  ASSERT_GT(rules.size(), 50u);
  std::set<std::string> tested;
  for (const Row& row : rows()) tested.insert(row.rule);
  for (const std::string& rule : rules) EXPECT_TRUE(tested.count(rule)) << "no row tests " << rule;
}

}  // namespace
}  // namespace pgtandem::coordinator
