#pragma once
// dcctl's site verbs: both DCs at once, from the sites file. They run the
// coordinator's code in-process (no daemon needed to look).

#include <ostream>

#include "coordinator/site_peers.h"
#include "coordinator/site_status.h"
#include "ctl/ctl_context.h"

namespace pgtandem::ctl {

// Prints both DCs and what is wrong across them. 0 when both DCs could be
// read and nothing is wrong, 1 otherwise.
int siteStatusCommand(const coordinator::SitesConfig& sites, const coordinator::DcsFactory& connect, Format format,
                      std::ostream& out, std::ostream& err);

// Planned DC switchover to `to_site` (or resumes one): prints each step as it
// is journaled, then the result and the write gap. Asks first unless
// `force`. 0 when the switchover is complete and checked, 1 otherwise.
int siteSwitchoverCommand(const coordinator::SitesConfig& sites, const coordinator::DcsFactory& connect,
                          coordinator::SitePeers& peers, const std::string& to_site, bool force, std::istream& in,
                          std::ostream& out, std::ostream& err);

}  // namespace pgtandem::ctl
