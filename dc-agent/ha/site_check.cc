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
  const bool could_lead = !snapshot.leader || snapshot.leader->name == me;
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
  // Both primary at one epoch cannot be told apart (the coordinator never
  // writes that; a hand edit or a restored backup can): both DCs fence.
  j.supersedes = j.view.role == dcs::SiteRole::kPrimary && j.view.epoch >= our_epoch;
  j.confirms = !j.supersedes;
  return j;
}

bool siteConfirmed(const dcs::ClusterSnapshot& snapshot, bool peer_checked, std::optional<std::int64_t> confirmed_epoch) {
  if (!peer_checked || !snapshot.site || !snapshot.site->peer) return true;
  return confirmed_epoch == snapshot.site->epoch || snapshot.site->granted_epoch == snapshot.site->epoch;
}

}  // namespace pgtandem::agent
