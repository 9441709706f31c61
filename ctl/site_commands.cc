#include "ctl/site_commands.h"

#include "coordinator/site_operations.h"
#include "ctl/table.h"

#include <istream>

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

int siteSwitchoverCommand(const coordinator::SitesConfig& sites, const coordinator::DcsFactory& connect,
                          coordinator::SitePeers& peers, const std::string& to_site, bool force, std::istream& in,
                          std::ostream& out, std::ostream& err) {
  if (!force) {
    out << "Make " << to_site << " the primary DC? Writes stop for a few seconds. [y/N]: " << std::flush;
    std::string answer;
    std::getline(in, answer);
    if (answer != "y" && answer != "Y" && answer != "yes") {
      err << "dcctl: aborted, nothing changed\n";
      return 1;
    }
  }
  const RealClock& clock = RealClock::instance();
  const auto started = clock.monotonicNow();
  coordinator::SiteOperations operations(sites, connect, peers, clock, {}, [&](const std::string& line) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock.monotonicNow() - started).count();
    out << "[" << ms / 1000 << "." << (ms % 1000) / 100 << "s] " << line << "\n" << std::flush;
  });
  auto report = operations.switchover(to_site);
  if (!report.ok()) {
    err << "dcctl: " << report.error().message << "\n";
    return 1;
  }
  out << report->summary << "\n";
  return 0;
}

}  // namespace pgtandem::ctl
