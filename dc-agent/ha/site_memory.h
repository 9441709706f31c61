#pragma once
// Whether this member has ever seen its DC's site key, kept across agent
// restarts: a DC that was coordinated and whose key is now gone (an etcd
// restore, a hand-made delete) behaves as fenced (site_check.h), and an
// agent restarted meanwhile must still know it had one. One real
// implementation (a file in the data directory, so a re-clone from a member
// of the same DC brings it back) and a test double. The file names the DCS
// it was written for: a standby DC cloned from the other DC copies the file
// with the data, and must not take it for its own.

#include <memory>
#include <string>
#include <vector>

#include "common/util/result.h"

namespace pgtandem::agent {

class SiteMemory {
 public:
  virtual ~SiteMemory() = default;
  virtual bool seen() = 0;
  virtual Status remember() = 0;
};

// `<data_dir>/pgtandem.site_seen`, holding `dcs_identity` (the DC's etcd
// hosts, namespace and scope: dcsIdentity). To take the coordinator away on
// purpose, delete the site key and this file on every member, then restart
// the agents.
std::unique_ptr<SiteMemory> makeFileSiteMemory(const std::string& data_dir, const std::string& dcs_identity);
std::string dcsIdentity(const std::vector<std::string>& etcd_hosts, const std::string& namespace_, const std::string& scope);

}  // namespace pgtandem::agent
