#pragma once
// The rolling minor upgrade's plan (issue 19), pure: from both DCs' views and
// the target version, the members in the safe order, or why not. The engine's
// upgrade operation runs it one step at a time and computes it again after
// each (members already on the target drop out), so a rerun resumes.
//
// Order: the standby DC first (its replicas, then the standby-leader role
// handed to an upgraded member, then the former standby leader), then the
// primary DC (its replicas, a switchover inside the DC to an upgraded
// replica, then the former primary). One member at a time; a DC keeps a
// streaming standby leader except while its role is handed over.

#include <string>
#include <vector>

#include "common/util/result.h"
#include "coordinator/operation_plan.h"

namespace pgtandem::coordinator {

enum class UpgradeAction {
  kUpgradeMember,  // mark, drain, CHECKPOINT, install, restart on the new binaries, verify, unmark
  kHandOver,       // the DC's leader role (primary or standby leader) to `to_member`, already upgraded
};
const char* upgradeActionName(UpgradeAction action);

struct UpgradeStep {
  UpgradeAction action = UpgradeAction::kUpgradeMember;
  std::string dc, member;
  std::string to_member;  // kHandOver
  std::string why;        // one line, for the plan's print-out
  bool operator==(const UpgradeStep&) const = default;
};

struct UpgradePlan {
  int target = 0;                  // 150020
  std::vector<UpgradeStep> steps;  // what is left, in order
  std::vector<std::string> done;   // "dc1/pg1 (15.20)": already on the target
  // Where the plan has a write gap or a pause in the standby DC's stream.
  std::vector<std::string> notes;
};

// Refuses, naming what is wrong and changing nothing: a DC that cannot be
// read, no primary DC and standby DC, a member that is not running or has
// no known version, another major version (pg_upgrade's job), a downgrade,
// a paused DC, a standby DC that does not stream.
Result<UpgradePlan> planUpgrade(const DcView& a, const DcView& b, int target);

}  // namespace pgtandem::coordinator
