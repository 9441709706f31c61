#pragma once
// `dcctl site status`: both DCs as their own DCSs describe them (role,
// leader, timeline, system identifier, the standby DC's lag, the fencing
// epoch, an operation in progress), and what is wrong across them (two
// writable DCs, none, different system identifiers).

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/dcs/cluster.h"
#include "common/dcs/dcs.h"
#include "common/dcs/site_state.h"
#include "coordinator/operation_plan.h"
#include "coordinator/sites.h"

namespace pgtandem::coordinator {

struct SiteView {
  std::string name;
  bool reachable = false;
  std::string error;  // why the DCS could not be read
  std::string role;   // "primary" or "standby" (standby_cluster in /config), "fenced" (site key); "" when not initialized
  std::string leader;
  std::string leader_role;  // primary, standby_leader, replica (no writable primary yet)
  std::optional<int> timeline;
  std::string system_identifier;
  int members = 0;
  int running = 0;
  // The standby DC's lag behind the primary DC, from its standby leader.
  std::string lag_source;
  std::optional<std::int64_t> lag_bytes;
  std::optional<std::int64_t> lag_seconds;
  std::optional<dcs::SiteState> state;  // the site key
  std::string state_error;         // the site key holds garbage
  std::optional<dcs::BackupJournal> backups;  // the scheduled backups' journal
  std::string backups_error;                  // it holds garbage
};

// Pure: a site's view from its cluster snapshot and its site key's text.
SiteView viewSite(const Site& site, const dcs::ClusterSnapshot& snapshot, const std::optional<std::string>& site_key);

// What is wrong across the two views, one line each.
std::vector<std::string> crossSiteProblems(const std::vector<SiteView>& views);

using DcsFactory = std::function<Result<std::unique_ptr<dcs::Dcs>>(const Site&)>;

// Reads both DCSs (an unreachable one is reported, not an error).
std::vector<SiteView> gatherSites(const SitesConfig& sites, const DcsFactory& connect);

// Both DCs as the engine's deciders see them, in the sites file's order (an
// unreachable one with its error). The views point into `sites`.
std::vector<DcView> observeSites(const SitesConfig& sites, const DcsFactory& connect);

}  // namespace pgtandem::coordinator
