#pragma once
// dcctl's site verbs: both DCs at once, from the sites file. They run the
// coordinator's code in-process (no daemon needed to look).

#include <ostream>

#include "coordinator/site_status.h"
#include "ctl/ctl_context.h"

namespace pgtandem::ctl {

// Prints both DCs and what is wrong across them. 0 when both DCs could be
// read and nothing is wrong, 1 otherwise.
int siteStatusCommand(const coordinator::SitesConfig& sites, const coordinator::DcsFactory& connect, Format format,
                      std::ostream& out, std::ostream& err);

}  // namespace pgtandem::ctl
