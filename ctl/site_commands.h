#pragma once
// dcctl's site verbs: both DCs at once, from the sites file. They run the
// coordinator's code in-process (no daemon needed to look).

#include <ostream>

#include "coordinator/run_operation.h"
#include "coordinator/site_peers.h"
#include "coordinator/site_status.h"
#include "ctl/ctl_context.h"

namespace pgtandem::ctl {

// Prints both DCs and what is wrong across them. 0 when both DCs could be
// read and nothing is wrong, 1 otherwise.
int siteStatusCommand(const coordinator::SitesConfig& sites, const coordinator::DcsFactory& connect, Format format,
                      std::ostream& out, std::ostream& err);

struct SiteOperationRequest {
  coordinator::OperationRequest operation;
  bool force = false;  // do not ask
};

// Runs a site operation (or resumes one) through the dc-coordinator daemon
// when the sites file names one that answers, else in-process: prints each
// step as it is journaled, then the result. Asks first unless `force`. 0
// when it is complete and checked, 1 otherwise.
int siteOperationCommand(const coordinator::SitesConfig& sites, const coordinator::DcsFactory& connect,
                         coordinator::SitePeers& peers, const SiteOperationRequest& request, std::istream& in,
                         std::ostream& out, std::ostream& err);

// Past site operations of both DCs, oldest first, with their timings.
// `dcctl site backups`: the scheduled backups and drills both DCs recorded
// (merged), the one in progress, and when each kind is due next.
int siteBackupsCommand(const coordinator::SitesConfig& sites, const coordinator::DcsFactory& connect, Format format,
                       std::ostream& out, std::ostream& err);

// `dcctl upgrade plan --to 15.20`: the rolling upgrade's steps from both
// DCs as they are (coordinator/upgrade_plan.h); exit 1 with the refusal,
// 2 for a target that is not a version. Changes nothing.
int upgradePlanCommand(const coordinator::SitesConfig& sites, const coordinator::DcsFactory& connect,
                       const std::string& target, std::ostream& out, std::ostream& err);

int siteHistoryCommand(const coordinator::SitesConfig& sites, const coordinator::DcsFactory& connect, Format format,
                       std::ostream& out, std::ostream& err);

}  // namespace pgtandem::ctl
