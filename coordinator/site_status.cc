#include "coordinator/site_status.h"

#include "common/config/dynamic_json.h"

namespace pgtandem::coordinator {

SiteView viewSite(const Site& site, const dcs::ClusterSnapshot& snapshot, const std::optional<std::string>& site_key) {
  SiteView v;
  v.name = site.name;
  v.reachable = true;
  if (snapshot.initialize) v.system_identifier = *snapshot.initialize;
  if (const auto dynamic = config::storedDynamic(snapshot.config_json, {})) {
    v.role = dynamic->config.standby_cluster ? "standby" : "primary";
  }
  v.members = static_cast<int>(snapshot.members.size());
  for (const auto& m : snapshot.members) v.running += m.state == "running" || m.state == "streaming" ? 1 : 0;
  if (const dcs::MemberInfo* leader = snapshot.leaderMember()) {
    v.leader = leader->name;
    v.leader_role = leader->role;
    v.timeline = leader->timeline;
    if (!leader->standby_source.empty()) {
      v.lag_source = leader->standby_source;
      v.lag_bytes = leader->standby_lag_bytes;
      v.lag_seconds = leader->standby_lag_seconds;
    }
  } else if (snapshot.leader) {
    v.leader = snapshot.leader->name;
  }
  v.backups = snapshot.backups;
  v.backups_error = snapshot.backups_error;
  if (site_key) {
    auto state = dcs::parseSiteState(*site_key);
    if (state.ok()) {
      if (state->role == dcs::SiteRole::kFenced) v.role = "fenced";  // no writes, whatever /config says
      v.state = std::move(*state);
    } else {
      v.state_error = state.error().message;
    }
  }
  return v;
}

std::vector<std::string> crossSiteProblems(const std::vector<SiteView>& views) {
  std::vector<std::string> problems;
  int writable = 0, known = 0;
  for (const auto& v : views) {
    if (!v.reachable) {
      problems.push_back(v.name + ": its DCS cannot be read: " + v.error);
      continue;
    }
    ++known;
    if (v.role == "primary" && v.leader_role == "primary") ++writable;
    if (!v.state_error.empty()) problems.push_back(v.name + ": the site key holds garbage: " + v.state_error);
  }
  if (writable > 1) problems.push_back("TWO WRITABLE DCs: both have a primary; fence one now");
  if (known == static_cast<int>(views.size()) && writable == 0) problems.push_back("no DC has a writable primary");
  if (views.size() == 2 && views[0].reachable && views[1].reachable && !views[0].system_identifier.empty() &&
      !views[1].system_identifier.empty() && views[0].system_identifier != views[1].system_identifier) {
    problems.push_back("the DCs hold different databases (system identifiers " + views[0].system_identifier + " and " +
                       views[1].system_identifier + ")");
  }
  return problems;
}

std::vector<SiteView> gatherSites(const SitesConfig& sites, const DcsFactory& connect) {
  std::vector<SiteView> views;
  for (const auto& site : sites.sites) {
    SiteView unreachable;
    unreachable.name = site.name;
    auto dcs = connect(site);
    if (!dcs.ok()) {
      unreachable.error = dcs.error().message;
      views.push_back(std::move(unreachable));
      continue;
    }
    const dcs::ClusterPaths paths(site.namespace_, site.scope);
    dcs::MalformedValueLog log;
    auto snapshot = dcs::loadCluster(**dcs, paths, log);
    if (!snapshot.ok()) {
      unreachable.error = snapshot.error().message;
      views.push_back(std::move(unreachable));
      continue;
    }
    std::optional<std::string> site_key;
    if (auto got = (*dcs)->get(paths.site()); got.ok() && !got->kvs.empty()) site_key = got->kvs[0].value;
    views.push_back(viewSite(site, *snapshot, site_key));
  }
  return views;
}

std::vector<DcView> observeSites(const SitesConfig& sites, const DcsFactory& connect) {
  std::vector<DcView> views;
  for (const auto& site : sites.sites) {
    DcView view;
    view.site = &site;
    auto dcs = connect(site);
    if (!dcs.ok()) {
      view.error = dcs.error().message;
    } else {
      dcs::MalformedValueLog log;
      auto snapshot = dcs::loadCluster(**dcs, dcs::ClusterPaths(site.namespace_, site.scope), log);
      if (!snapshot.ok()) {
        view.error = snapshot.error().message;
      } else {
        view.snapshot = std::move(*snapshot);
        view.reachable = true;
        view.refresh();
      }
    }
    views.push_back(std::move(view));
  }
  return views;
}

}  // namespace pgtandem::coordinator
