#pragma once
// Where a scheduled backup runs, and when each kind last ran, from the DCs'
// views (coordinator/schedule.h says when a run is due). Pure: the engine's
// backup and drill operations (operation_plan.h) decide with these.

#include <string>

#include "coordinator/operation_plan.h"
#include "coordinator/schedule.h"

namespace pgtandem::coordinator {

// Where a scheduled backup runs: a replica of the standby DC (the one that
// has replayed the most), else its standby leader; the primary DC's
// replica only when allowed and the standby DC has none running; never a
// primary.
struct Placement {
  std::string dc, member;  // "" when nowhere
  std::string rule, reason;
};
Placement placeBackup(const DcView& primary_dc, const DcView& standby_dc, bool allow_primary_dc);

// The same for two DCs in any order: the standby DC is the one whose site
// key (else /config) says standby, else the one that is not primary (a
// fenced DC takes no writes either), else the second. A DC that cannot be
// read is the standby DC when the other says primary.
Placement placeScheduledBackup(const DcView& a, const DcView& b, bool allow_primary_dc);

// When each kind last started, from the DCs' backups journals (both, when
// both answer: a DC that was down missed the record of the other's runs);
// a run in progress counts as started.
LastRuns lastRunsOf(const DcView& a, const DcView& b);

// The backups journal's kind and BackupRecord type of a scheduled kind.
OperationKind operationKindOf(ScheduledKind kind);
const char* recordTypeOf(ScheduledKind kind);  // "full", "diff", "incr", "drill"
std::optional<ScheduledKind> scheduledKindOf(const std::string& record_type);

}  // namespace pgtandem::coordinator
