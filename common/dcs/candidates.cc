#include "common/dcs/candidates.h"

namespace pgtandem::dcs {

bool promotable(const MemberInfo& member) {
  return !member.tags.nofailover && member.tags.failover_priority.value_or(1) > 0;
}

bool eligibleCandidate(const MemberInfo& member) {
  return promotable(member) && (member.state == "running" || member.state == "streaming");
}

std::optional<std::string> whyNotCandidate(const ClusterSnapshot& cluster, const std::string& name) {
  const MemberInfo* member = cluster.member(name);
  if (!member) return "member " + name + " is not in the cluster";
  if (!promotable(*member)) return "member " + name + " is tagged nofailover";
  if (!eligibleCandidate(*member)) return "member " + name + " is not running (" + member->state + ")";
  return std::nullopt;
}

}  // namespace pgtandem::dcs
