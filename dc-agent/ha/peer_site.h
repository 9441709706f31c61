#pragma once
// The other DC's site key, as the agents of a coordinated DC check their
// fencing epoch against it: a DC whose epoch the other DC has passed (it was
// promoted in a disaster) must not take writes, and a member that has never
// confirmed its epoch does not become primary. One real implementation (an
// etcd client per peer address list) and a test double.

#include <memory>
#include <optional>

#include "common/config/config.h"
#include "common/dcs/site_state.h"
#include "common/util/result.h"

namespace pgtandem::agent {

class PeerSiteReader {
 public:
  virtual ~PeerSiteReader() = default;
  // The peer's site key (nullopt: it has none); an error when its DCS does
  // not answer in time or the key does not parse.
  virtual Result<std::optional<dcs::SiteState>> read(const dcs::PeerSite& peer) = 0;
};

// Reaches the peer's etcd with this agent's own etcd credentials and TLS
// settings and a short timeout.
std::unique_ptr<PeerSiteReader> makeEtcdPeerSiteReader(const config::EtcdConfig& own_etcd);

}  // namespace pgtandem::agent
