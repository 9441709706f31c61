#include "coordinator/backup_schedule.h"

namespace pgtandem::coordinator {

Placement placeBackup(const DcView& primary_dc, const DcView& standby_dc, bool allow_primary_dc) {
  if (standby_dc.reachable) {
    const dcs::MemberInfo* member = standby_dc.snapshot.mostCaughtUpReplica();
    const dcs::MemberInfo* leader = standby_dc.leader();
    if (!member && leader && leader->state == "running" && !isPrimaryRole(leader->role)) member = leader;
    if (member) {
      return {standby_dc.name(), member->name, "backup.place.standby_dc",
              member->name + " in the standby DC " + standby_dc.name() + ": the primary DC does not pay for the backup"};
    }
  }
  const std::string standby_state = standby_dc.reachable ? "has no running member" : "cannot be read (" + standby_dc.error + ")";
  if (!allow_primary_dc) {
    return {"", "", "backup.place.nowhere",
            "the standby DC " + standby_dc.name() + " " + standby_state +
                ", and allow_primary_dc is off: no backup taken (the primary DC's clients would pay for it)"};
  }
  if (primary_dc.reachable) {
    if (const dcs::MemberInfo* member = primary_dc.snapshot.mostCaughtUpReplica()) {
      return {primary_dc.name(), member->name, "backup.place.primary_dc_replica",
              member->name + ", a replica of the primary DC " + primary_dc.name() + ": the standby DC " + standby_state};
    }
  }
  return {"", "", "backup.place.no_replica",
          "no running replica in either DC (the standby DC " + standby_state + "): a primary is never backed up by schedule"};
}

Placement placeScheduledBackup(const DcView& a, const DcView& b, bool allow_primary_dc) {
  auto role = [](const DcView& dc) { return dc.reachable ? std::optional(siteRoleOf(dc.snapshot)) : std::nullopt; };
  const auto role_a = role(a), role_b = role(b);
  bool a_is_standby = false;
  if (role_a == dcs::SiteRole::kStandby && role_b != dcs::SiteRole::kStandby) {
    a_is_standby = true;
  } else if (role_b == dcs::SiteRole::kStandby && role_a != dcs::SiteRole::kStandby) {
    a_is_standby = false;
  } else if (role_a && role_b && *role_a != *role_b) {
    a_is_standby = *role_a != dcs::SiteRole::kPrimary;
  } else if (!role_a && role_b == dcs::SiteRole::kPrimary) {
    a_is_standby = true;
  }
  return a_is_standby ? placeBackup(b, a, allow_primary_dc) : placeBackup(a, b, allow_primary_dc);
}

OperationKind operationKindOf(ScheduledKind kind) {
  return kind == ScheduledKind::kDrill ? OperationKind::kDrill : OperationKind::kBackup;
}

const char* recordTypeOf(ScheduledKind kind) { return scheduledKindName(kind); }

std::optional<ScheduledKind> scheduledKindOf(const std::string& record_type) {
  for (ScheduledKind kind : {ScheduledKind::kFull, ScheduledKind::kDiff, ScheduledKind::kIncr, ScheduledKind::kDrill}) {
    if (record_type == scheduledKindName(kind)) return kind;
  }
  return std::nullopt;
}

LastRuns lastRunsOf(const DcView& a, const DcView& b) {
  LastRuns last;
  auto note = [&](const dcs::SiteOperation& run) {
    if (!run.backup) return;
    const std::optional<ScheduledKind> kind = scheduledKindOf(run.backup->type);
    const std::optional<WallTime> started = parseIsoTime(run.started_at);
    if (!kind || !started) return;
    std::optional<WallTime>& slot = *kind == ScheduledKind::kFull   ? last.full
                                    : *kind == ScheduledKind::kDiff ? last.diff
                                    : *kind == ScheduledKind::kIncr ? last.incr
                                                                    : last.drill;
    if (!slot || *started > *slot) slot = *started;
  };
  for (const DcView* dc : {&a, &b}) {
    if (!dc->reachable || !dc->snapshot.backups) continue;
    const dcs::BackupJournal& journal = *dc->snapshot.backups;
    for (const auto& run : journal.history) note(run);
    if (journal.operation) note(*journal.operation);
  }
  return last;
}

}  // namespace pgtandem::coordinator
