#include "coordinator/upgrade_precheck.h"

#include "common/pg/postgres.h"

namespace pgtandem::coordinator {

ssh::SshOptions sshOptionsOf(const UpgradeSettings& settings) {
  return {settings.ssh_key_file, settings.ssh_known_hosts, 10};
}

Result<std::vector<std::string>> checkInstallable(const UpgradePlan& plan, const std::vector<DcView>& dcs,
                                                  const UpgradeSettings& settings, ssh::RemoteShell& shell) {
  const std::string version = pg::versionText(plan.target);
  const std::string command = upgradeCommand(settings.dry_run, version);
  std::vector<std::string> checked, failed;
  for (const UpgradeStep& step : plan.steps) {
    if (step.action != UpgradeAction::kUpgradeMember) continue;
    const std::string who = step.dc + "/" + step.member;
    const dcs::MemberInfo* member = nullptr;
    for (const DcView& dc : dcs) {
      if (dc.site && dc.name() == step.dc) member = dc.snapshot.member(step.member);
    }
    auto where = member ? pg::parseConnUrl(member->conn_url) : Result<std::pair<std::string, int>>(makeError(ErrorCode::kNotFound, "no member key"));
    if (!where.ok()) {
      failed.push_back(who + ": no host to reach (" + where.error().message + ")");
      continue;
    }
    const ssh::SshTarget target{settings.ssh_user, where->first, settings.ssh_port};
    auto ran = shell.run(target, command, std::chrono::seconds(120));
    if (!ran.ok()) {
      failed.push_back(who + " on " + target.describe() + ": " + ran.error().message);
    } else if (ran->exit_code != 0) {
      failed.push_back(who + " on " + target.describe() + ": the dry run `" + command + "` " +
                       (ran->timed_out ? "timed out" : "exited " + std::to_string(ran->exit_code)) + ": " +
                       tailLines(ran->output, 3));
    } else {
      checked.push_back(who + " on " + target.describe() + ": " + version + " installable");
    }
  }
  if (!failed.empty()) {
    std::string message = "no upgrade: the install step cannot run on " + std::to_string(failed.size()) + " member(s):";
    for (const auto& f : failed) message += "\n  " + f;
    return makeError(ErrorCode::kUnavailable, message);
  }
  return checked;
}

}  // namespace pgtandem::coordinator
