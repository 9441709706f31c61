#include "dc-agent/ha/peer_site.h"

#include "common/config/etcd_options.h"
#include "common/dcs/cluster.h"
#include "common/dcs/etcd_dcs.h"

namespace pgtandem::agent {

namespace {

class EtcdPeerSiteReader final : public PeerSiteReader {
 public:
  explicit EtcdPeerSiteReader(config::EtcdConfig own) : own_(std::move(own)) {}

  Result<std::optional<dcs::SiteState>> read(const dcs::PeerSite& peer) override {
    if (!client_ || hosts_ != peer.etcd_hosts) {
      config::EtcdConfig settings = own_;
      settings.hosts = peer.etcd_hosts;
      auto client = dcs::EtcdDcs::create(config::etcdOptions(settings, std::chrono::milliseconds(1000)));
      if (!client.ok()) return client.error();
      client_ = std::move(*client);
      hosts_ = peer.etcd_hosts;
    }
    auto got = client_->get(dcs::ClusterPaths(peer.namespace_, peer.scope).site());
    if (!got.ok()) return got.error();
    if (got->kvs.empty()) return std::optional<dcs::SiteState>();
    auto parsed = dcs::parseSiteState(got->kvs[0].value);
    if (!parsed.ok()) return makeError(ErrorCode::kParse, "the peer's site key: " + parsed.error().message);
    return std::optional<dcs::SiteState>(std::move(*parsed));
  }

 private:
  config::EtcdConfig own_;
  std::vector<std::string> hosts_;
  std::unique_ptr<dcs::EtcdDcs> client_;
};

}  // namespace

std::unique_ptr<PeerSiteReader> makeEtcdPeerSiteReader(const config::EtcdConfig& own_etcd) {
  return std::make_unique<EtcdPeerSiteReader>(own_etcd);
}

}  // namespace pgtandem::agent
