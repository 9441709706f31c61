#include "ctl/site_commands.h"

#include <istream>
#include <map>

#include "coordinator/rpc/coordinator_rpc.h"
#include "common/util/units.h"
#include "common/pg/postgres.h"
#include "coordinator/schedule.h"
#include "coordinator/upgrade_plan.h"
#include "coordinator/upgrade_precheck.h"
#include "coordinator/site_operations.h"
#include "ctl/table.h"

namespace pgtandem::ctl {

int siteStatusCommand(const coordinator::SitesConfig& sites, const coordinator::DcsFactory& connect, Format format,
                      std::ostream& out, std::ostream& err) {
  const auto views = coordinator::gatherSites(sites, connect);
  Table table;
  table.title = "Sites (" + sites.source_file + ")";
  table.columns = {"Site", "Scope", "Role", "Leader", "Leader role", "TL", "System ID", "Members", "Lag (bytes)",
                   "Lag (s)", "Source", "Epoch", "Operation"};
  table.numeric = {false, false, false, false, false, true, false, false, true, true, false, true, false};
  for (const auto& v : views) {
    const coordinator::Site* site = sites.site(v.name);
    if (!v.reachable) {
      table.rows.push_back({v.name, site ? site->scope : "", "unreachable", "", "", "", "", "", "", "", "", "", ""});
      continue;
    }
    std::string operation;
    if (v.state && v.state->operation) {
      const auto& op = *v.state->operation;
      operation = op.kind + " " + op.from_site + "->" + op.to_site;
      if (!op.steps.empty()) operation += " at " + op.steps.back().name;
    }
    table.rows.push_back({v.name, site ? site->scope : "", v.role.empty() ? "uninitialized" : v.role, v.leader,
                          v.leader_role, v.timeline ? std::to_string(*v.timeline) : "", v.system_identifier,
                          std::to_string(v.running) + "/" + std::to_string(v.members),
                          v.lag_bytes ? std::to_string(*v.lag_bytes) : "",
                          v.lag_seconds && !v.lag_source.empty() ? std::to_string(*v.lag_seconds) : "", v.lag_source,
                          v.state ? std::to_string(v.state->epoch) : "", operation});
  }
  const auto problems = coordinator::crossSiteProblems(views);
  for (const auto& p : problems) table.footer.push_back("! " + p);
  render(table, format, out);
  if (format != Format::kPretty) {
    for (const auto& p : problems) err << "dcctl: " << p << "\n";
  }
  return problems.empty() ? 0 : 1;
}

int siteOperationCommand(const coordinator::SitesConfig& sites, const coordinator::DcsFactory& connect,
                         coordinator::SitePeers& peers, const SiteOperationRequest& request, std::istream& in,
                         std::ostream& out, std::ostream& err) {
  const coordinator::OperationRequest& operation = request.operation;
  if (!request.force && operation.verb != "init") {
    const std::string question =
        operation.verb == "switchover" ? "Make " + operation.site + " the primary DC? Writes stop for a few seconds."
        : operation.verb == "promote"  ? "Promote " + operation.site + " although the other DC may hold writes it never got?"
                                       : "Make " + operation.site +
                                            " a standby cluster of the other DC? What it wrote after that DC's promotion is discarded.";
    out << question << " [y/N]: " << std::flush;
    std::string answer;
    std::getline(in, answer);
    if (answer != "y" && answer != "Y" && answer != "yes") {
      err << "dcctl: aborted, nothing changed\n";
      return 1;
    }
  }
  const RealClock& clock = RealClock::instance();
  const auto started = clock.monotonicNow();
  const auto print = [&](const std::string& line) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock.monotonicNow() - started).count();
    out << "[" << ms / 1000 << "." << (ms % 1000) / 100 << "s] " << line << "\n" << std::flush;
  };
  // One code path, two hosts: the daemon if it answers, else this process.
  std::optional<Result<std::string>> outcome;
  if (!sites.listen.empty()) {
    bool announced = false;
    outcome = coordinator::runRemote(sites.listen, sites.tls, operation, [&](const std::string& line) {
      if (!announced) out << "(run by the coordinator at " << sites.listen << ")\n";
      announced = true;
      print(line);
    });
    if (!outcome) {
      out << "(no coordinator answers at " << sites.listen
          << (sites.tls.clientTls() ? ", or it refused our TLS handshake" : "") << ": running in-process)\n";
    }
  }
  if (!outcome) outcome = coordinator::runOperation(sites, connect, peers, clock, operation, print);
  if (!outcome->ok()) {
    err << "dcctl: " << outcome->error().message << "\n";
    return 1;
  }
  out << **outcome << "\n";
  return 0;
}

int siteHistoryCommand(const coordinator::SitesConfig& sites, const coordinator::DcsFactory& connect, Format format,
                       std::ostream& out, std::ostream& err) {
  const auto views = coordinator::gatherSites(sites, connect);
  // Both DCs keep the operations they took part in: merge them.
  std::map<std::pair<std::string, std::string>, dcs::SiteOperation> merged;
  for (const auto& v : views) {
    if (!v.reachable) err << "dcctl: " << v.name << ": its DCS cannot be read: " << v.error << "\n";
    if (!v.state) continue;
    for (const auto& op : v.state->history) merged.emplace(std::pair{op.started_at, op.kind}, op);
    if (v.state->operation) merged.emplace(std::pair{v.state->operation->started_at, v.state->operation->kind}, *v.state->operation);
  }
  Table table;
  table.title = "Site operations (" + sites.source_file + ")";
  table.columns = {"Started", "Kind", "From", "To", "Took (s)", "Result", "Steps"};
  table.numeric = {false, false, false, false, true, false, false};
  for (const auto& [key, op] : merged) {
    std::string took;
    const auto start = parseIsoTime(op.started_at), end = parseIsoTime(op.finished_at);
    if (start && end) took = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(*end - *start).count());
    std::string steps;
    for (const auto& step : op.steps) steps += (steps.empty() ? "" : " ") + step.name + (step.state == "done" ? "" : "(" + step.state + ")");
    table.rows.push_back({op.started_at, op.kind, op.from_site, op.to_site, took,
                          op.result.empty() ? "in progress" : op.result, steps});
  }
  render(table, format, out);
  return 0;
}

int siteBackupsCommand(const coordinator::SitesConfig& sites, const coordinator::DcsFactory& connect, Format format,
                       std::ostream& out, std::ostream& err) {
  const auto views = coordinator::gatherSites(sites, connect);
  std::map<std::pair<std::string, std::string>, dcs::SiteOperation> merged;
  int failures = 0;
  for (const auto& v : views) {
    if (!v.reachable) err << "dcctl: " << v.name << ": its DCS cannot be read: " << v.error << "\n";
    if (!v.backups_error.empty()) {
      err << "dcctl: " << v.name << ": its backups journal holds garbage (" << v.backups_error
          << "): no scheduled run starts until it is fixed or deleted\n";
      ++failures;
    }
    if (!v.backups) continue;
    for (const auto& run : v.backups->history) merged.emplace(std::pair{run.started_at, run.kind}, run);
    if (v.backups->operation) merged.emplace(std::pair{v.backups->operation->started_at, v.backups->operation->kind}, *v.backups->operation);
  }
  Table table;
  table.title = "Scheduled backups and drills (" + sites.source_file + ")";
  table.columns = {"Started", "Type", "Site", "Member", "Label", "Size", "Copied", "Took (s)", "Result"};
  table.numeric = {false, false, false, false, false, true, true, true, false};
  for (const auto& [key, run] : merged) {
    const dcs::BackupRecord record = run.backup.value_or(dcs::BackupRecord{});
    const bool finished = !run.result.empty();
    table.rows.push_back({run.started_at, record.type.empty() ? run.kind : record.type, record.site, record.member,
                          record.label, finished && record.bytes ? formatBytes(static_cast<std::uint64_t>(record.bytes)) : "",
                          finished && record.bytes ? formatBytes(static_cast<std::uint64_t>(record.copied_bytes)) : "",
                          finished ? std::to_string((record.duration_ms + 500) / 1000) : "",
                          finished ? run.result : "in progress"});
  }
  // When each kind falls due next, from the last runs both DCs recorded.
  const coordinator::BackupSchedules& schedules = sites.backups;
  if (!schedules.any()) table.footer.push_back("no schedule: the sites file has no backups: section");
  const WallTime now = RealClock::instance().wallNow();
  for (auto [kind, schedule] : {std::pair{coordinator::ScheduledKind::kFull, &schedules.full},
                                std::pair{coordinator::ScheduledKind::kDiff, &schedules.diff},
                                std::pair{coordinator::ScheduledKind::kIncr, &schedules.incr},
                                std::pair{coordinator::ScheduledKind::kDrill, &schedules.drill}}) {
    if (!*schedule) continue;
    const auto next = coordinator::nextRun(**schedule, now);
    table.footer.push_back(std::string(coordinator::scheduledKindName(kind)) + " \"" + (*schedule)->text + "\": next " +
                           (next ? formatIsoTime(*next) : "never"));
  }
  render(table, format, out);
  return failures == 0 ? 0 : 1;
}

int upgradePlanCommand(const coordinator::SitesConfig& sites, const coordinator::DcsFactory& connect,
                       const std::string& target, std::ostream& out, std::ostream& err) {
  const std::optional<int> version = pg::versionNumber(target);
  if (!version || target.find('.') == std::string::npos) {
    err << "dcctl upgrade plan: --to '" << target << "' is not a minor version such as 15.20\n";
    return 2;
  }
  const std::vector<coordinator::DcView> views = coordinator::observeSites(sites, connect);
  auto plan = coordinator::planUpgrade(views[0], views[1], *version);
  if (!plan.ok()) {
    err << "dcctl upgrade plan: " << plan.error().message << "\n";
    return 1;
  }
  out << "Rolling upgrade to " << pg::versionText(*version) << " (" << sites.source_file << ")";
  out << (plan->steps.empty() ? ": nothing to do\n" : ":\n");
  for (std::size_t i = 0; i < plan->steps.size(); ++i) {
    const auto& step = plan->steps[i];
    out << "  " << i + 1 << ". " << coordinator::upgradeActionName(step.action) << " " << step.dc << "/" << step.member
        << (step.to_member.empty() ? "" : " -> " + step.to_member) << ": " << step.why << "\n";
  }
  if (!plan->done.empty()) {
    out << "Already on " << pg::versionText(*version) << ":";
    for (const auto& d : plan->done) out << " " << d;
    out << "\n";
  }
  for (const auto& note : plan->notes) out << "Note: " << note << "\n";
  if (plan->steps.empty()) return 0;
  if (!sites.upgrade.configured) {
    out << "Not checked: the members' hosts (the sites file has no upgrade: section for the install step over SSH)\n";
    return 0;
  }
  auto shell = ssh::makeLibsshRemoteShell(coordinator::sshOptionsOf(sites.upgrade));
  auto installable = coordinator::checkInstallable(*plan, views, sites.upgrade, *shell);
  if (!installable.ok()) {
    err << "dcctl upgrade plan: " << installable.error().message << "\n";
    return 1;
  }
  for (const auto& line : *installable) out << "Checked: " << line << "\n";
  return 0;
}

}  // namespace pgtandem::ctl
