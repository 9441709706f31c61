#include "coordinator/backup_schedule.h"

namespace pgtandem::coordinator {

Placement placeBackup(const DcView& primary_dc, const DcView& standby_dc, bool allow_primary_dc) {
  // The running replica that has replayed the most, else (standby DC) its leader.
  auto pick = [](const DcView& dc, bool leader_too) -> std::string {
    const dcs::MemberInfo* leader = dc.leader();
    const dcs::MemberInfo* best = nullptr;
    auto position = [](const dcs::MemberInfo& m) { return m.replay_lsn.value_or(m.xlog_location.value_or(0)); };
    for (const auto& m : dc.snapshot.members) {
      if (m.state != "running" || (leader && m.name == leader->name) || isPrimaryRole(m.role)) continue;
      if (!best || position(m) > position(*best)) best = &m;
    }
    if (best) return best->name;
    if (leader_too && leader && leader->state == "running" && !isPrimaryRole(leader->role)) return leader->name;
    return "";
  };
  if (standby_dc.reachable) {
    if (std::string member = pick(standby_dc, true); !member.empty()) {
      return {standby_dc.name(), member, "backup.place.standby_dc",
              member + " in the standby DC " + standby_dc.name() + ": the primary DC does not pay for the backup"};
    }
  }
  const std::string standby_state = standby_dc.reachable ? "has no running member" : "cannot be read (" + standby_dc.error + ")";
  if (!allow_primary_dc) {
    return {"", "", "backup.place.nowhere",
            "the standby DC " + standby_dc.name() + " " + standby_state +
                ", and allow_primary_dc is off: no backup taken (the primary DC's clients would pay for it)"};
  }
  if (primary_dc.reachable) {
    if (std::string member = pick(primary_dc, false); !member.empty()) {
      return {primary_dc.name(), member, "backup.place.primary_dc_replica",
              member + ", a replica of the primary DC " + primary_dc.name() + ": the standby DC " + standby_state};
    }
  }
  return {"", "", "backup.place.no_replica",
          "no running replica in either DC (the standby DC " + standby_state + "): a primary is never backed up by schedule"};
}

}  // namespace pgtandem::coordinator
