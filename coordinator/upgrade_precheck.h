#pragma once
// The rolling upgrade's pre-checks on the members' hosts (issue 19): each
// member the plan upgrades answers over SSH and its install step's dry run
// succeeds there. Changes nothing on any host.

#include <string>
#include <vector>

#include "common/ssh/ssh.h"
#include "coordinator/sites.h"
#include "coordinator/upgrade_plan.h"

namespace pgtandem::coordinator {

// One line per member checked ("dc1/pg2 on 10.0.0.2: installable"); every
// member is tried, and the error lists each one that failed and why.
Result<std::vector<std::string>> checkInstallable(const UpgradePlan& plan, const std::vector<DcView>& dcs,
                                                  const UpgradeSettings& settings, ssh::RemoteShell& shell);

// The SSH options of `settings` (key, known_hosts).
ssh::SshOptions sshOptionsOf(const UpgradeSettings& settings);

}  // namespace pgtandem::coordinator
