#pragma once
// Where a scheduled backup runs (coordinator/schedule.h says when). Pure:
// the coordinator's engine takes this decision for its backup operations.

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

}  // namespace pgtandem::coordinator
