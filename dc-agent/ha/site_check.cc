#include "dc-agent/ha/site_check.h"

namespace pgtandem::agent {

std::string siteUnreadable(const dcs::ClusterSnapshot& snapshot, bool seen) {
  if (!snapshot.site_error.empty()) return "the site key cannot be parsed (" + snapshot.site_error + ")";
  if (!snapshot.site && seen) return "the site key disappeared";
  return "";
}

bool peerReadNeeded(const dcs::ClusterSnapshot& snapshot, const std::string& me, bool standby_cluster,
                    std::optional<std::int64_t> confirmed_epoch) {
  if (!snapshot.site || !snapshot.site->peer || !snapshot.site->writable() || standby_cluster) return false;
  const bool could_lead = snapshot.isUnlocked() || snapshot.ledBy(me);
  return could_lead || confirmed_epoch != snapshot.site->epoch;
}

PeerJudgement judgePeer(std::int64_t our_epoch, const Result<std::optional<dcs::SiteState>>& read) {
  PeerJudgement j;
  if (!read.ok()) return j;  // unknown: neither confirms nor supersedes
  j.view.reachable = true;
  if (*read) {
    j.view.role = (*read)->role;
    j.view.epoch = (*read)->epoch;
  }
  j.supersedes = peerSupersedes(j.view, our_epoch);
  j.confirms = !j.supersedes;
  return j;
}

bool peerSupersedes(const PeerSiteView& peer, std::int64_t our_epoch) {
  return peer.reachable && peer.role == dcs::SiteRole::kPrimary && peer.epoch >= our_epoch;
}

bool dcFenced(const std::optional<dcs::SiteState>& site, const std::string& unreadable, bool superseded, bool standby_cluster) {
  if (standby_cluster) return false;
  if (!unreadable.empty()) return true;
  return site && (!site->writable() || superseded);
}

bool siteConfirmed(const dcs::ClusterSnapshot& snapshot, bool peer_checked, std::optional<std::int64_t> confirmed_epoch) {
  if (!peer_checked || !snapshot.site || !snapshot.site->peer) return true;
  return confirmed_epoch == snapshot.site->epoch || snapshot.site->granted_epoch == snapshot.site->epoch;
}

}  // namespace pgtandem::agent
