#include "coordinator/operation_plan.h"

#include <algorithm>
#include <boost/json.hpp>

#include "common/config/dynamic_json.h"
#include "common/pg/postgres.h"
#include "common/util/clock.h"
#include "common/util/lsn.h"
#include "common/util/units.h"
#include "coordinator/backup_schedule.h"

namespace pgtandem::coordinator {

namespace json = boost::json;

const char* kindName(OperationKind kind) {
  switch (kind) {
    case OperationKind::kSwitchover: return "switchover";
    case OperationKind::kPromote: return "promote";
    case OperationKind::kRejoin: return "rejoin";
    case OperationKind::kBackup: return "backup";
    case OperationKind::kDrill: return "drill";
  }
  return "unknown";
}

JournalSlot journalSlot(OperationKind kind) {
  return kind == OperationKind::kBackup || kind == OperationKind::kDrill ? JournalSlot::kBackupsKey : JournalSlot::kSiteKey;
}

std::optional<OperationKind> parseKind(std::string_view name) {
  for (OperationKind kind : {OperationKind::kSwitchover, OperationKind::kPromote, OperationKind::kRejoin,
                             OperationKind::kBackup, OperationKind::kDrill}) {
    if (name == kindName(kind)) return kind;
  }
  return std::nullopt;
}

const char* stepName(Step step) {
  switch (step) {
    case Step::kPrecheck: return "precheck";
    case Step::kCheckpoint: return "checkpoint";
    case Step::kFence: return "fence";
    case Step::kToken: return "token";
    case Step::kCatchUp: return "catch_up";
    case Step::kPromote: return "promote";
    case Step::kFollow: return "follow";
    case Step::kBackup: return "backup";
    case Step::kDrill: return "drill";
  }
  return "unknown";
}

const char* actionName(Action action) {
  switch (action) {
    case Action::kCheckpoint: return "checkpoint";
    case Action::kRaiseEpoch: return "raise_epoch";
    case Action::kFenceFrom: return "fence_from";
    case Action::kFenceTo: return "fence_to";
    case Action::kGrantTo: return "grant_to";
    case Action::kRecordToken: return "record_token";
    case Action::kMarkToPrimary: return "mark_to_primary";
    case Action::kLeaveStandbyTo: return "leave_standby_to";
    case Action::kFollowFrom: return "follow_from";
    case Action::kMarkFromStandby: return "mark_from_standby";
    case Action::kFollowTo: return "follow_to";
    case Action::kMarkToStandby: return "mark_to_standby";
    case Action::kTakeBackup: return "take_backup";
    case Action::kRunDrill: return "run_drill";
  }
  return "unknown";
}

// --- pure readings ----------------------------------------------------------

std::optional<config::DynamicState> readDynamic(const dcs::ClusterSnapshot& snapshot) {
  return config::storedDynamic(snapshot.config_json, {});
}

void DcView::refresh() { dynamic = readDynamic(snapshot); }

bool hasStandbyCluster(const std::optional<config::DynamicState>& dynamic) {
  return dynamic && dynamic->config.standby_cluster.has_value();
}

bool hasStandbyCluster(const dcs::ClusterSnapshot& snapshot) { return hasStandbyCluster(readDynamic(snapshot)); }

std::string standbyClusterBlock(const dcs::ClusterSnapshot& snapshot) {
  if (!snapshot.config_json) return "";
  json::error_code ec;
  json::value config = json::parse(*snapshot.config_json, ec);
  if (ec || !config.is_object()) return "";
  const json::value* block = config.as_object().if_contains("standby_cluster");
  return block && block->is_object() ? json::serialize(*block) : "";
}

bool paused(const std::optional<config::DynamicState>& dynamic) { return dynamic && dynamic->pause; }

int ttlOf(const std::optional<config::DynamicState>& dynamic) { return dynamic ? dynamic->config.ttl : 30; }

bool isPrimaryRole(const std::string& member_role) { return member_role == "primary" || member_role == "master"; }

dcs::SiteRole siteRoleOf(const dcs::ClusterSnapshot& snapshot) {
  if (snapshot.site) return snapshot.site->role;
  return hasStandbyCluster(snapshot) ? dcs::SiteRole::kStandby : dcs::SiteRole::kPrimary;
}

Result<std::string> standbyBlockFor(const DcView& dc, const DcView& upstream) {
  if (!dc.site->standby_cluster_json.empty()) return dc.site->standby_cluster_json;
  const dcs::MemberInfo* leader = upstream.leader();
  if (!leader) return makeError(ErrorCode::kUnavailable, upstream.name() + " has no leader to follow");
  auto url = pg::parseConnUrl(leader->conn_url);
  if (!url.ok()) return url.error();
  auto objectOf = [](const std::optional<dcs::SiteState>& state) {
    json::error_code ec;
    json::value v = state && !state->standby_cluster_json.empty() ? json::parse(state->standby_cluster_json, ec) : json::value();
    return !ec && v.is_object() ? v.as_object() : json::object();
  };
  json::object block = objectOf(dc.snapshot.site);
  block["host"] = url->first;
  block["port"] = url->second;
  if (!block.contains("primary_slot_name")) {
    const json::object theirs = objectOf(upstream.snapshot.site);
    if (const json::value* slot = theirs.if_contains("primary_slot_name")) block["primary_slot_name"] = *slot;
  }
  return json::serialize(block);
}

std::optional<LossBound> lossBound(const DcView& standby_dc, std::chrono::system_clock::time_point now) {
  const dcs::MemberInfo* standby = standby_dc.leader();
  if (!standby || !standby->standby_contact_age) return std::nullopt;
  LossBound bound;
  bound.silent_for_seconds = *standby->standby_contact_age + ttlOf(standby_dc.dynamic);
  bound.since = now - std::chrono::seconds(bound.silent_for_seconds);
  return bound;
}

std::vector<std::pair<std::string, std::string>> memberRepairs(const dcs::ClusterSnapshot& now,
                                                               const dcs::ClusterSnapshot* before) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& m : now.members) {
    const dcs::MemberInfo* earlier = before ? before->member(m.name) : nullptr;
    const bool repaired = !m.repaired.empty() &&
                          (!earlier || earlier->repaired != m.repaired || earlier->repaired_at != m.repaired_at);
    out.emplace_back(m.name, repaired ? (m.repaired == "rewind" ? "rewound" : "re-cloned") : "followed (no rewind needed)");
  }
  return out;
}

std::int64_t operationEpoch(OperationKind kind, const DcView& from, const DcView& to, const dcs::SiteOperation& journal) {
  auto epochOf = [](const DcView& dc) -> std::int64_t {
    return dc.reachable && dc.snapshot.site ? dc.snapshot.site->epoch : 0;
  };
  if (kind == OperationKind::kRejoin) return epochOf(from);
  if (journalSlot(kind) == JournalSlot::kBackupsKey) return 0;  // changes no role
  const std::int64_t highest = std::max(epochOf(from), epochOf(to));
  return journal.done(stepName(Step::kFence)) ? highest : highest + 1;
}

namespace {

// --- verdict helpers ----------------------------------------------------------

Verdict act(Action action, std::string rule, std::string payload = "", bool tolerate_failure = false) {
  Verdict v;
  v.type = Verdict::Type::kAct;
  v.action = action;
  v.payload = std::move(payload);
  v.tolerate_failure = tolerate_failure;
  v.rule = std::move(rule);
  return v;
}

Verdict done(std::string rule, std::string detail) {
  Verdict v;
  v.type = Verdict::Type::kStepDone;
  v.rule = std::move(rule);
  v.detail = std::move(detail);
  return v;
}

Verdict wait(std::string rule, std::string awaited) {
  Verdict v;
  v.type = Verdict::Type::kWait;
  v.rule = std::move(rule);
  v.detail = std::move(awaited);
  return v;
}

Verdict fail(std::string rule, std::string why, ErrorCode code = ErrorCode::kConflict) {
  Verdict v;
  v.type = Verdict::Type::kFail;
  v.code = code;
  v.rule = std::move(rule);
  v.detail = std::move(why);
  return v;
}

bool keyAt(const DcView& dc, dcs::SiteRole role, std::int64_t epoch) {
  return dc.snapshot.site && dc.snapshot.site->role == role && dc.snapshot.site->epoch == epoch;
}

// Whether the standby DC's stream can be cut by the fence before the
// shutdown checkpoint reaches it: it goes through something that is not a
// member of the primary DC (a load balancer checking /primary with
// on-marked-down shutdown-sessions drops it as soon as the fence says 503)
// and there is no archive to fetch the rest from.
std::optional<std::string> streamAtRisk(const DcView& standby_dc, const DcView& primary_dc) {
  if (!hasStandbyCluster(standby_dc.dynamic)) return std::nullopt;
  const config::StandbyClusterConfig& standby = *standby_dc.dynamic->config.standby_cluster;
  if (!standby.restore_command.empty() || standby.hosts.empty()) return std::nullopt;
  const int port = standby.port.value_or(5432);
  for (const std::string& hosts : standby.hosts) {
    std::size_t start = 0;
    while (start <= hosts.size()) {
      const std::size_t comma = std::min(hosts.find(',', start), hosts.size());
      const std::string host = hosts.substr(start, comma - start);
      for (const auto& m : primary_dc.snapshot.members) {
        auto url = pg::parseConnUrl(m.conn_url);
        if (url.ok() && url->first == host && url->second == port) return std::nullopt;  // streams from a member
      }
      start = comma + 1;
    }
  }
  std::string where;
  for (const auto& h : standby.hosts) where += (where.empty() ? "" : ",") + h;
  return where + ":" + std::to_string(port);
}

bool notPrimaryDc(const DcView& dc) {
  return hasStandbyCluster(dc.dynamic) || (dc.snapshot.site && !dc.snapshot.site->writable());
}

// --- switchover ---------------------------------------------------------------

Verdict switchoverPrecheck(const StepInput& in) {
  const DcView& from = *in.from;
  const DcView& to = *in.to;
  const dcs::MemberInfo* primary = from.leader();
  const dcs::MemberInfo* standby = to.leader();
  const SwitchoverLimits& limits = in.settings.switchover;
  if (!hasStandbyCluster(to.dynamic) && (!to.snapshot.site || to.snapshot.site->writable())) {
    return fail("switchover.precheck.to_is_primary", to.name() + " is already the primary DC: nothing to switch over", ErrorCode::kInvalidArgument);
  }
  if (!hasStandbyCluster(to.dynamic)) {
    return fail("switchover.precheck.to_not_standby",
                to.name() + " is not a standby cluster (no standby_cluster in its /config): nothing to switch over to", ErrorCode::kInvalidArgument);
  }
  if (notPrimaryDc(from)) {
    return fail("switchover.precheck.from_not_primary", from.name() + " is not the primary DC: nothing to switch over from", ErrorCode::kInvalidArgument);
  }
  if (!from.snapshot.initialize || !to.snapshot.initialize || *from.snapshot.initialize != *to.snapshot.initialize) {
    return fail("switchover.precheck.other_database", "the DCs hold different databases (system identifiers " +
                                                          from.snapshot.initialize.value_or("?") + " and " +
                                                          to.snapshot.initialize.value_or("?") + ")", ErrorCode::kInvalidArgument);
  }
  if (!primary || !isPrimaryRole(primary->role) || primary->state != "running") {
    return fail("switchover.precheck.no_primary", from.name() + " has no running primary holding the leader lock", ErrorCode::kUnavailable);
  }
  if (!standby || standby->role != "standby_leader" || standby->state != "running") {
    return fail("switchover.precheck.no_standby_leader", to.name() + " has no running standby leader", ErrorCode::kUnavailable);
  }
  for (const DcView* dc : {&from, &to}) {
    if (paused(dc->dynamic)) {
      return fail("switchover.precheck.paused", dc->name() + " is paused (maintenance mode): resume it first", ErrorCode::kInvalidArgument);
    }
  }
  if (standby->standby_source != "stream" || standby->replication_state != "streaming") {
    return fail("switchover.precheck.not_streaming", to.name() + "'s standby leader " + standby->name + " does not stream from " +
                                                         from.name() + " (source '" + standby->standby_source + "', state '" +
                                                         standby->replication_state + "')", ErrorCode::kUnavailable);
  }
  if (auto via = streamAtRisk(to, from)) {
    return fail("switchover.precheck.stream_at_risk",
                to.name() + " streams from " + *via + ", which is no member of " + from.name() +
                    " (a load balancer?), and its standby_cluster has no restore_command: the fence can cut that "
                    "stream before " + from.name() + "'s shutdown checkpoint reaches it. Give " + to.name() +
                    "'s standby_cluster a restore_command on " + from.name() + "'s archive, or point it at a member",
                ErrorCode::kInvalidArgument);
  }
  if (!standby->standby_lag_bytes) return fail("switchover.precheck.lag_unknown", to.name() + "'s lag is not known yet", ErrorCode::kUnavailable);
  if (*standby->standby_lag_bytes > limits.maximum_lag_bytes) {
    return fail("switchover.precheck.lag", to.name() + " is " + std::to_string(*standby->standby_lag_bytes) +
                                               " bytes behind, more than switchover.maximum_lag_bytes (" +
                                               std::to_string(limits.maximum_lag_bytes) + ")", ErrorCode::kInvalidArgument);
  }
  if (!from.leader_health) return wait("switchover.precheck.health", "checking the health of " + from.name() + "'s primary");
  if (!from.leader_health->ok()) {
    return fail("switchover.precheck.health_unknown",
                "cannot check " + from.name() + "'s primary: " + from.leader_health->error().message, ErrorCode::kUnavailable);
  }
  const PrimaryHealth& health = **from.leader_health;
  if (health.longest_transaction_seconds > limits.maximum_transaction_seconds) {
    return fail("switchover.precheck.long_transaction",
                from.name() + " has a transaction open for " + std::to_string(health.longest_transaction_seconds) +
                    " s, more than switchover.maximum_transaction_seconds (" +
                    std::to_string(limits.maximum_transaction_seconds) + ")", ErrorCode::kInvalidArgument);
  }
  if (health.archive_failing) {
    return fail("switchover.precheck.archive_failing", from.name() + "'s archive_command is failing (pg_stat_archiver)", ErrorCode::kUnavailable);
  }
  return done("switchover.precheck.ok", to.name() + " streams, " + std::to_string(*standby->standby_lag_bytes) +
                                            " bytes behind; " + std::to_string(health.archive_ready_files) +
                                            " WAL files waiting for the archive");
}

Verdict switchoverCheckpoint(const StepInput& in) {
  const dcs::MemberInfo* primary = in.from->leader();
  if (!primary) return fail("switchover.checkpoint.no_leader", in.from->name() + " has no leader");
  if (!in.executed_actions.count(Action::kCheckpoint)) return act(Action::kCheckpoint, "switchover.checkpoint.run");
  return done("switchover.checkpoint.ok", "CHECKPOINT on " + primary->name);
}

// Epochs are never reused: the new epoch is written to the DC that will be
// promoted before the old DC is fenced with it, so that a later operation
// that reaches only one DC (a promotion while the other is down) always
// sees the highest epoch ever used, whatever rolled back or crashed between.
Verdict switchoverFence(const StepInput& in) {
  const DcView& from = *in.from;
  const DcView& to = *in.to;
  if (!to.snapshot.site || to.snapshot.site->epoch < in.epoch) return act(Action::kRaiseEpoch, "switchover.fence.raise_epoch");
  if (!keyAt(from, dcs::SiteRole::kFenced, in.epoch)) return act(Action::kFenceFrom, "switchover.fence.fence_key");
  std::size_t answering = 0, silent = 0;
  const dcs::MemberInfo* leader = from.leader();
  for (const auto& m : from.snapshot.members) {
    auto it = from.primary_checks.find(m.name);
    if (it == from.primary_checks.end()) return wait("switchover.fence.unprobed", "asking " + m.name + "'s /primary");
    const Result<int>& code = it->second;
    if (code.ok() && *code == 200) return wait("switchover.fence.still_writable", m.name + " answering /primary with 503");
    // A leader whose API does not answer may still take writes: not fenced
    // until it says 503 (or stops leading).
    if (!code.ok() && leader && m.name == leader->name) {
      return wait("switchover.fence.leader_silent", "the leader " + m.name + " answering /primary");
    }
    code.ok() ? ++answering : ++silent;
  }
  return done("switchover.fence.ok", from.name() + " fenced at epoch " + std::to_string(in.epoch) +
                                         "; /primary answers 503 on " + std::to_string(answering) + " members" +
                                         (silent ? ", " + std::to_string(silent) + " replicas do not answer" : ""));
}

Verdict switchoverToken(const StepInput& in) {
  const DcView& from = *in.from;
  const DcView& to = *in.to;
  const dcs::MemberInfo* leader = from.leader();
  if (!leader || !leader->demotion_token || leader->state == "running") {
    return wait("switchover.token.awaited", from.name() + "'s primary stopping cleanly");
  }
  dcs::DemotionToken token = *leader->demotion_token;
  if (from.snapshot.initialize && token.system_identifier != *from.snapshot.initialize) {
    return fail("switchover.token.other_database", "the demotion token's system identifier " + token.system_identifier +
                                                       " is not " + from.name() + "'s " + *from.snapshot.initialize);
  }
  token.from_site = from.name();
  for (const DcView* dc : {&from, &to}) {
    if (!dc->snapshot.site || dc->snapshot.site->token != token) {
      return act(Action::kRecordToken, "switchover.token.record", dcs::toJson(token));
    }
  }
  return done("switchover.token.ok", "REDO " + formatLsn(token.redo_lsn) + " on timeline " + std::to_string(token.timeline) +
                                         ", WAL file " + token.redo_wal_file +
                                         (token.archived ? " (archived)" : " (not archived)"));
}

// Exact: the standby's restartpoint is the token's shutdown checkpoint (a
// shutdown checkpoint's REDO is its own record), and its replay went past
// that record's start, so it replayed the whole record: every commit
// before it, nothing after.
Verdict switchoverCatchUp(const StepInput& in) {
  const DcView& from = *in.from;
  const DcView& to = *in.to;
  const std::optional<dcs::DemotionToken>& token = from.snapshot.site ? from.snapshot.site->token : std::nullopt;
  if (!token) return fail("switchover.catch_up.no_token", "the journaled token is missing from " + from.name() + "'s key");
  if (!to.leader()) return wait("switchover.catch_up.no_leader", to.name() + " electing a standby leader");
  if (!to.leader_point || !to.leader_point->ok()) {
    return wait("switchover.catch_up.unreadable", to.name() + "'s standby leader answering (restarting?)");
  }
  const ControlPoint& point = **to.leader_point;
  if (!point.in_recovery) return fail("switchover.catch_up.not_in_recovery", to.name() + "'s leader is not in recovery");
  if (point.system_identifier != token->system_identifier) {
    return fail("switchover.catch_up.other_database", to.name() + " holds another database");
  }
  if (point.timeline > token->timeline || (point.timeline == token->timeline && point.redo_lsn > token->redo_lsn)) {
    return fail("switchover.catch_up.past_token", to.name() + " replayed past the token (timeline " +
                                                      std::to_string(point.timeline) + ", REDO " + formatLsn(point.redo_lsn) + ")");
  }
  if (point.timeline != token->timeline || point.redo_lsn != token->redo_lsn) {
    return wait("switchover.catch_up.behind", to.name() + " replaying up to the demotion token (at REDO " +
                                                  formatLsn(point.redo_lsn) + ")");
  }
  if (!point.replay_lsn || *point.replay_lsn <= token->redo_lsn) {
    return wait("switchover.catch_up.record_unreplayed", to.name() + " replaying the whole shutdown checkpoint record");
  }
  return done("switchover.catch_up.ok", to.name() + " replayed exactly to REDO " + formatLsn(token->redo_lsn) +
                                            " (replay at " + formatLsn(*point.replay_lsn) + ")");
}

// Shared by the switchover and the disaster promotion.
Verdict promoteTo(const StepInput& in, const char* rule_prefix) {
  const DcView& to = *in.to;
  const std::string prefix = rule_prefix;
  const std::string block = standbyClusterBlock(to.snapshot);
  const bool block_saved = block.empty() || (to.snapshot.site && !to.snapshot.site->standby_cluster_json.empty());
  if (!keyAt(to, dcs::SiteRole::kPrimary, in.epoch) || !block_saved) {
    return act(Action::kMarkToPrimary, prefix + ".mark_primary", block);
  }
  if (!block.empty()) return act(Action::kLeaveStandbyTo, prefix + ".leave_standby");
  const dcs::MemberInfo* leader = to.leader();
  if (!leader) return wait(prefix + ".no_leader", to.name() + " electing a leader");
  const bool writable = to.leader_in_recovery && to.leader_in_recovery->ok() && !**to.leader_in_recovery &&
                        to.leader_primary_check && to.leader_primary_check->ok() && **to.leader_primary_check == 200;
  if (!writable) return wait(prefix + ".not_writable", to.name() + "'s leader becoming a writable primary");
  return done(prefix + ".ok", to.name() + "'s leader " + leader->name + " is a writable primary");
}

Verdict switchoverPromote(const StepInput& in) { return promoteTo(in, "switchover.promote"); }

Verdict switchoverFollow(const StepInput& in) {
  const DcView& from = *in.from;
  const DcView& to = *in.to;
  if (!hasStandbyCluster(from.dynamic)) {
    auto block = standbyBlockFor(from, to);
    if (!block.ok()) return wait("switchover.follow.no_upstream", to.name() + " having a leader to follow");
    return act(Action::kFollowFrom, "switchover.follow.configure", *block);
  }
  if (!keyAt(from, dcs::SiteRole::kStandby, in.epoch)) return act(Action::kMarkFromStandby, "switchover.follow.mark_standby");
  const dcs::MemberInfo* theirs = to.leader();
  const dcs::MemberInfo* ours = from.leader();
  if (!theirs || !ours || !theirs->timeline) return wait("switchover.follow.leaders", "both DCs electing leaders");
  if (ours->role != "standby_leader" || ours->state != "running" || ours->timeline != theirs->timeline ||
      ours->replication_state != "streaming") {
    return wait("switchover.follow.not_streaming", from.name() + " streaming from " + to.name());
  }
  return done("switchover.follow.ok", from.name() + " is a standby cluster of " + to.name() + ": " + ours->name +
                                          " streams timeline " + std::to_string(*theirs->timeline));
}

// --- disaster promotion -------------------------------------------------------

Verdict promotePrecheck(const StepInput& in) {
  const DcView& from = *in.from;
  const DcView& to = *in.to;
  if (!hasStandbyCluster(to.dynamic)) {
    return fail("promote.precheck.already_primary", to.name() + " is already the primary DC: nothing to promote", ErrorCode::kInvalidArgument);
  }
  const dcs::MemberInfo* standby = to.leader();
  if (!standby || standby->state != "running") {
    return fail("promote.precheck.no_standby_leader", to.name() + " has no running standby leader to promote", ErrorCode::kUnavailable);
  }
  if (from.reachable && !in.settings.promote.while_primary_runs) {
    const dcs::MemberInfo* primary = from.leader();
    if (primary && isPrimaryRole(primary->role) && primary->state == "running") {
      return fail("promote.precheck.other_primary_runs",
                  from.name() + " is reachable and its primary " + primary->name + " runs: use `dcctl site switchover --to " +
                      to.name() + "` (nothing lost), or --while-primary-runs to promote anyway", ErrorCode::kInvalidArgument);
    }
  }
  if (!from.reachable && !in.settings.promote.without_site_keys && (!to.snapshot.site || !to.snapshot.site->peer)) {
    // Without site keys naming each other (`dcctl site init`), the other
    // DC's agents cannot learn they were superseded: it would come back writable.
    return fail("promote.precheck.never_initialized",
                from.name() + " cannot be reached and the two DCs were never given site keys (`dcctl site init`): when " +
                    from.name() + " comes back its agents cannot know " + to.name() +
                    " took over, and its primary would accept writes again. Keep " + from.name() +
                    "'s agents stopped until `dcctl site rejoin " + from.name() + "`, then run this again with --without-site-keys",
                ErrorCode::kConflict);
  }
  const std::optional<LossBound> bound = lossBound(to, in.wall_now);
  return done("promote.precheck.ok", to.name() + "'s standby leader " + standby->name + " last heard from " + from.name() +
                                         (bound ? " at most " + std::to_string(bound->silent_for_seconds) + " s ago"
                                                : " at an unknown time"));
}

// The new epoch goes to the promoted DC first: it is the one that counts.
// It is granted: the promoted DC's agents cannot ask the other DC. The
// other DC is fenced where it answers; its agents refuse the primary role
// once they see the new epoch (or cannot confirm theirs).
Verdict promoteFence(const StepInput& in) {
  const DcView& from = *in.from;
  const DcView& to = *in.to;
  if (!keyAt(to, dcs::SiteRole::kPrimary, in.epoch) || to.snapshot.site->granted_epoch != in.epoch) {
    return act(Action::kGrantTo, "promote.fence.grant");
  }
  const std::string here = "epoch " + std::to_string(in.epoch) + " in " + to.name();
  if (!from.reachable) {
    return done("promote.fence.other_unreachable", here + "; " + from.name() +
                                                       " unreachable: its agents refuse the primary role once they see epoch " +
                                                       std::to_string(in.epoch) + " (or cannot confirm theirs)");
  }
  if (keyAt(from, dcs::SiteRole::kFenced, in.epoch)) return done("promote.fence.ok", here + "; " + from.name() + " fenced");
  if (auto failed = in.failed_actions.find(Action::kFenceFrom); failed != in.failed_actions.end()) {
    return done("promote.fence.other_failed", here + "; fencing " + from.name() + " failed: " + failed->second);
  }
  return act(Action::kFenceFrom, "promote.fence.fence_other", "", /*tolerate_failure=*/true);
}

Verdict promotePromote(const StepInput& in) { return promoteTo(in, "promote.promote"); }

// --- rejoin -------------------------------------------------------------------

Verdict rejoinPrecheck(const StepInput& in) {
  const DcView& primary_dc = *in.from;
  const DcView& rejoining = *in.to;
  if (notPrimaryDc(primary_dc)) {
    return fail("rejoin.precheck.other_not_primary",
                primary_dc.name() + " is not the primary DC: " + rejoining.name() + " has nothing to rejoin", ErrorCode::kInvalidArgument);
  }
  const dcs::MemberInfo* primary = primary_dc.leader();
  if (!primary || !isPrimaryRole(primary->role) || primary->state != "running") {
    return fail("rejoin.precheck.no_primary", primary_dc.name() + " has no running primary to follow", ErrorCode::kUnavailable);
  }
  if (hasStandbyCluster(rejoining.dynamic)) {
    return fail("rejoin.precheck.already_standby", rejoining.name() + " is already a standby cluster: nothing to rejoin", ErrorCode::kInvalidArgument);
  }
  const std::int64_t ours = rejoining.snapshot.site ? rejoining.snapshot.site->epoch : 0;
  const std::int64_t theirs = primary_dc.snapshot.site ? primary_dc.snapshot.site->epoch : 0;
  if ((!rejoining.snapshot.site || rejoining.snapshot.site->writable()) && ours >= theirs) {
    return fail("rejoin.precheck.not_superseded",
                rejoining.name() + " was not superseded (epoch " + std::to_string(ours) + ", " + primary_dc.name() + "'s " +
                    std::to_string(theirs) + "): use `dcctl site switchover` to move the primary role", ErrorCode::kInvalidArgument);
  }
  return done("rejoin.precheck.ok",
              primary_dc.name() + "'s primary " + primary->name + " runs at epoch " + std::to_string(theirs));
}

Verdict rejoinFence(const StepInput& in) {
  if (!keyAt(*in.to, dcs::SiteRole::kFenced, in.epoch) && !keyAt(*in.to, dcs::SiteRole::kStandby, in.epoch)) {
    return act(Action::kFenceTo, "rejoin.fence.fence_key");
  }
  return done("rejoin.fence.ok", in.to->name() + " fenced at epoch " + std::to_string(in.epoch));
}

// Every member of the rejoining DC streams the primary DC's timeline:
// rewound where it had diverged, re-cloned where rewind failed (what each
// did since the step began: memberRepairs).
Verdict rejoinFollow(const StepInput& in) {
  const DcView& primary_dc = *in.from;
  const DcView& rejoining = *in.to;
  if (!hasStandbyCluster(rejoining.dynamic)) {
    auto block = standbyBlockFor(rejoining, primary_dc);
    if (!block.ok()) return wait("rejoin.follow.no_upstream", primary_dc.name() + " having a leader to follow");
    return act(Action::kFollowTo, "rejoin.follow.configure", *block);
  }
  if (!keyAt(rejoining, dcs::SiteRole::kStandby, in.epoch)) return act(Action::kMarkToStandby, "rejoin.follow.mark_standby");
  const dcs::MemberInfo* primary = primary_dc.leader();
  if (!primary || !primary->timeline || rejoining.snapshot.members.empty()) {
    return wait("rejoin.follow.leaders", primary_dc.name() + " having a primary and " + rejoining.name() + " its members");
  }
  for (const auto& m : rejoining.snapshot.members) {
    if (m.state != "running" || m.timeline != primary->timeline || m.replication_state != "streaming") {
      return wait("rejoin.follow.not_streaming", "every member of " + rejoining.name() + " streaming from " + primary_dc.name());
    }
  }
  std::string detail;
  for (const auto& [name, how] : memberRepairs(rejoining.snapshot, in.to_at_step_start)) {
    detail += (detail.empty() ? "" : ", ") + name + " " + how;
  }
  return done("rejoin.follow.ok", rejoining.name() + " is a standby cluster of " + primary_dc.name() + ": " + detail);
}

// --- scheduled backups and drills ---------------------------------------------

std::string describeRun(const dcs::SiteOperation& journal) {
  if (!journal.backup) return "done";
  const dcs::BackupRecord& b = *journal.backup;
  std::string text = b.type == "drill" ? "the drill of backup " + b.label + " passed"
                                       : b.type + " backup " + b.label + " of " + b.member + " in " + b.site + ": " +
                                             formatBytes(static_cast<std::uint64_t>(b.bytes)) + " (" +
                                             formatBytes(static_cast<std::uint64_t>(b.copied_bytes)) + " copied)";
  return text + " in " + std::to_string((b.duration_ms + 500) / 1000) + " s";
}

Verdict backupTake(const StepInput& in) {
  if (in.executed_actions.count(Action::kTakeBackup)) return done("backup.backup.taken", describeRun(*in.journal));
  const Placement placed = placeScheduledBackup(*in.from, *in.to, in.settings.backup_allow_primary_dc);
  if (placed.member.empty()) return fail(placed.rule, placed.reason, ErrorCode::kUnavailable);
  Verdict v = act(Action::kTakeBackup, placed.rule);
  v.target_dc = placed.dc;
  v.target_member = placed.member;
  v.detail = (in.journal->backup ? "a " + in.journal->backup->type + " backup of " : "a backup of ") + placed.reason;
  return v;
}

Verdict drillRun(const StepInput& in) {
  if (in.executed_actions.count(Action::kRunDrill)) return done("drill.drill.passed", describeRun(*in.journal));
  Verdict v = act(Action::kRunDrill, "drill.drill.run");
  v.detail = "restoring the newest backup into a scratch directory, starting it and checking it";
  return v;
}

}  // namespace

const std::vector<StepRow>& stepTable(OperationKind kind) {
  using F = OnFailure;
  static const std::vector<StepRow> switchover = {
      {Step::kPrecheck, F::kNothingChanged, kProbeFromHealth, switchoverPrecheck,
       "both DCs readable, the standby DC streams within the lag limit, no long transaction, the archive keeps up, nobody paused"},
      {Step::kCheckpoint, F::kRollBack, kProbeNone, switchoverCheckpoint,
       "CHECKPOINT on the primary DC's primary, so that its shutdown checkpoint is short"},
      {Step::kFence, F::kRollBack, kProbeFromPrimaryChecks, switchoverFence,
       "the new epoch in both keys; the primary DC fenced; every member answers /primary with 503"},
      {Step::kToken, F::kRollBack, kProbeNone, switchoverToken,
       "the primary DC's leader stopped cleanly and published where (the demotion token)"},
      {Step::kCatchUp, F::kRollBack, kProbeToControlPoint, switchoverCatchUp,
       "the standby DC's standby leader replayed exactly to the token"},
      {Step::kPromote, F::kRollBackUntilSent, kProbeToWritable, switchoverPromote,
       "the standby DC's key says primary, standby_cluster leaves its /config, its leader is writable"},
      {Step::kFollow, F::kRunAgain, kProbeNone, switchoverFollow,
       "the old primary DC follows the new one as a standby cluster"},
  };
  static const std::vector<StepRow> promote = {
      {Step::kPrecheck, F::kNothingChanged, kProbeNone, promotePrecheck,
       "the DC is a standby cluster with a running standby leader; the loss bound"},
      {Step::kFence, F::kRunAgain, kProbeNone, promoteFence,
       "a new, granted epoch in the promoted DC's key; the other DC fenced where it answers"},
      {Step::kPromote, F::kRunAgain, kProbeToWritable, promotePromote,
       "the DC's key says primary, standby_cluster leaves its /config, its leader is writable"},
  };
  static const std::vector<StepRow> rejoin = {
      {Step::kPrecheck, F::kNothingChanged, kProbeNone, rejoinPrecheck,
       "the other DC is primary at a newer epoch; this DC was superseded"},
      {Step::kFence, F::kRunAgain, kProbeNone, rejoinFence, "this DC fenced at the primary DC's epoch"},
      {Step::kFollow, F::kRunAgain, kProbeNone, rejoinFollow,
       "standby_cluster points at the primary DC; every member streams its timeline"},
  };
  static const std::vector<StepRow> backup = {
      {Step::kBackup, F::kRecordFailure, kProbeNone, backupTake,
       "a base backup of the standby DC's most caught-up replica (else its standby leader; the primary DC's replica only "
       "when allowed), recorded with its size and duration"},
  };
  static const std::vector<StepRow> drill = {
      {Step::kDrill, F::kRecordFailure, kProbeNone, drillRun,
       "the newest backup restored into a scratch directory, started, a check query run, recorded pass or fail"},
  };
  switch (kind) {
    case OperationKind::kSwitchover: return switchover;
    case OperationKind::kPromote: return promote;
    case OperationKind::kRejoin: return rejoin;
    case OperationKind::kBackup: return backup;
    case OperationKind::kDrill: return drill;
  }
  return switchover;
}

Verdict decideStep(const StepRow& row, const StepInput& input, std::chrono::seconds limit) {
  Verdict verdict = row.decide(input);
  if (verdict.type == Verdict::Type::kWait && input.waited >= limit) {
    verdict.type = Verdict::Type::kFail;
    verdict.code = ErrorCode::kTimeout;
    verdict.rule += ".timeout";
    verdict.detail += " did not happen within " + std::to_string(limit.count()) + " s";
  }
  return verdict;
}

Next decideNext(OperationKind kind, const dcs::SiteOperation& journal) {
  Next next;
  if (const dcs::OperationStep* rolling_back = journal.step("rollback")) {
    next.type = Next::Type::kFinishRollBack;
    next.reason = rolling_back->detail;
    return next;
  }
  for (const StepRow& row : stepTable(kind)) {
    if (journal.done(stepName(row.step))) continue;
    next.type = Next::Type::kRun;
    next.row = row;
    return next;
  }
  return next;  // kDone
}

}  // namespace pgtandem::coordinator
