#include "ctl/site_commands.h"

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

}  // namespace pgtandem::ctl
