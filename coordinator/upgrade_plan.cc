#include "coordinator/upgrade_plan.h"

#include <algorithm>

#include "common/pg/postgres.h"

namespace pgtandem::coordinator {

const char* upgradeActionName(UpgradeAction action) {
  switch (action) {
    case UpgradeAction::kUpgradeMember: return "upgrade";
    case UpgradeAction::kHandOver: return "hand_over";
  }
  return "unknown";
}

namespace {

Error refused(const std::string& why) { return makeError(ErrorCode::kConflict, "no upgrade: " + why); }

// The members of one DC in the order they are upgraded: replicas (the most
// caught-up last: it takes the leader role), then the role handed to an
// upgraded one, then the former leader.
Status planDc(const DcView& dc, int target, bool primary_dc, UpgradePlan& plan) {
  const dcs::MemberInfo* leader = dc.leader();
  if (!leader) return refused(dc.name() + " has no leader");
  const char* leader_word = primary_dc ? "primary" : "standby leader";
  std::vector<const dcs::MemberInfo*> replicas;
  for (const auto& m : dc.snapshot.members) {
    if (m.state != "running") return refused(dc.name() + "/" + m.name + " is " + m.state + ", not running: start it or remove it first");
    if (!m.server_version) return refused(dc.name() + "/" + m.name + " publishes no server version (an older agent?)");
    if (*m.server_version / 10000 != target / 10000) {
      return refused(dc.name() + "/" + m.name + " runs PostgreSQL " + pg::versionText(*m.server_version) +
                     ", another major version than " + pg::versionText(target) +
                     ": a major upgrade is pg_upgrade's job, not a rolling one");
    }
    if (*m.server_version > target) {
      return refused(dc.name() + "/" + m.name + " already runs " + pg::versionText(*m.server_version) +
                     ", newer than the target " + pg::versionText(target) + ": no downgrades");
    }
    if (&m != leader) replicas.push_back(&m);
  }
  auto position = [](const dcs::MemberInfo* m) { return m->replay_lsn.value_or(m->xlog_location.value_or(0)); };
  std::stable_sort(replicas.begin(), replicas.end(), [&](auto* x, auto* y) { return position(x) < position(y); });
  const dcs::MemberInfo* successor = nullptr;
  for (const dcs::MemberInfo* m : replicas) {
    if (m->tags.nofailover) continue;  // never given the leader role
    successor = m;                     // the most caught-up eligible one (sorted)
  }
  for (const dcs::MemberInfo* m : replicas) {
    if (*m->server_version == target) {
      plan.done.push_back(dc.name() + "/" + m->name + " (" + pg::versionText(target) + ")");
      continue;
    }
    plan.steps.push_back({UpgradeAction::kUpgradeMember, dc.name(), m->name, "",
                          "replica of " + dc.name() + ": out of the load balancer, upgraded, back"});
  }
  if (*leader->server_version == target) {
    plan.done.push_back(dc.name() + "/" + leader->name + " (" + pg::versionText(target) + ")");
    return okStatus();
  }
  if (successor) {
    plan.steps.push_back({UpgradeAction::kHandOver, dc.name(), leader->name, successor->name,
                          std::string("the ") + leader_word + " role of " + dc.name() + " to the upgraded " +
                              successor->name + (primary_dc ? ": the upgrade's one write gap" : ": the DC streams again through it")});
    plan.steps.push_back({UpgradeAction::kUpgradeMember, dc.name(), leader->name, "",
                          std::string("the former ") + leader_word + " of " + dc.name() + ", now a replica"});
  } else {
    plan.steps.push_back({UpgradeAction::kUpgradeMember, dc.name(), leader->name, "",
                          std::string("the ") + leader_word + " of " + dc.name() + ", in place: no replica to take its role"});
    plan.notes.push_back(dc.name() + " has no replica that may take the " + leader_word + " role: " +
                         (primary_dc ? "writes stop while its primary restarts" : "its stream pauses while its standby leader restarts"));
  }
  return okStatus();
}

}  // namespace

Result<UpgradePlan> planUpgrade(const DcView& a, const DcView& b, int target) {
  if (target <= 0) return makeError(ErrorCode::kInvalidArgument, "no target version");
  for (const DcView* dc : {&a, &b}) {
    if (!dc->reachable) return refused(dc->name() + "'s DCS cannot be read (" + dc->error + ")");
    if (paused(dc->dynamic)) return refused(dc->name() + " is paused (maintenance mode): resume it first");
  }
  const bool a_standby = siteRoleOf(a.snapshot) == dcs::SiteRole::kStandby;
  const bool b_standby = siteRoleOf(b.snapshot) == dcs::SiteRole::kStandby;
  if (a_standby == b_standby) {
    return refused(a_standby ? "both DCs are standby clusters" : "neither DC is a standby cluster (or one is fenced)");
  }
  const DcView& standby = a_standby ? a : b;
  const DcView& primary = a_standby ? b : a;
  if (siteRoleOf(primary.snapshot) != dcs::SiteRole::kPrimary) return refused(primary.name() + " is fenced");
  const dcs::MemberInfo* standby_leader = standby.leader();
  if (!standby_leader || standby_leader->replication_state != "streaming") {
    return refused("the standby DC " + standby.name() + " does not stream from " + primary.name() +
                   ": its standby leader must stream before and after each step");
  }
  UpgradePlan plan;
  plan.target = target;
  PGT_TRY(planDc(standby, target, false, plan));
  PGT_TRY(planDc(primary, target, true, plan));
  return plan;
}

}  // namespace pgtandem::coordinator
