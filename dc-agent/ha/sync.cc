#include "dc-agent/ha/sync.h"

#include <algorithm>

namespace pgtandem::agent {

const char* const kStrictPlaceholder = "__pgtandem_strict_sync_placeholder__";

namespace {

bool contains(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

std::string quoteName(const std::string& name) {
  std::string out = "\"";
  for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// What a standby's lag is measured from (Patroni: the furthest standby when
// there are several, else the leader's position); none: no limit.
std::optional<Lsn> lagReference(const std::vector<StandbyStatus>& standbys, const SyncLagLimit& limit) {
  if (limit.maximum_bytes <= 0) return std::nullopt;
  std::optional<Lsn> furthest;
  int streaming = 0;
  for (const auto& s : standbys) {
    if (s.state != "streaming") continue;
    ++streaming;
    if (s.flush_lsn && (!furthest || *s.flush_lsn > *furthest)) furthest = s.flush_lsn;
  }
  return streaming > 1 ? furthest : limit.leader_lsn;
}

}  // namespace

SyncPlan planSync(const dcs::ClusterSnapshot& cluster, const std::vector<StandbyStatus>& standbys,
                  const std::string& self, bool synchronous_mode, bool strict, int node_count,
                  const SyncLagLimit& lag_limit) {
  SyncPlan plan;
  if (!synchronous_mode) {
    plan.key_op = cluster.sync ? SyncPlan::KeyOp::kDelete : SyncPlan::KeyOp::kKeep;
    return plan;
  }
  const std::vector<std::string> current =
      cluster.sync && cluster.sync->leader == self ? cluster.sync->sync_standby : std::vector<std::string>{};
  // Candidates: streaming members not tagged nosync and not too far behind;
  // current ones first, so that the set does not churn.
  const std::optional<Lsn> reference = lagReference(standbys, lag_limit);
  std::vector<std::string> candidates;
  for (const auto& s : standbys) {
    const dcs::MemberInfo* m = cluster.member(s.application_name);
    if (!m || m->name == self || m->tags.nosync || s.state != "streaming") continue;
    if (m->tags.sync_priority && *m->tags.sync_priority <= 0) continue;
    if (reference && (!s.flush_lsn || *reference - *s.flush_lsn > lag_limit.maximum_bytes)) continue;
    candidates.push_back(m->name);
  }
  std::stable_sort(candidates.begin(), candidates.end(), [&](const std::string& a, const std::string& b) {
    const bool ca = contains(current, a), cb = contains(current, b);
    if (ca != cb) return ca;
    return a < b;
  });
  const std::size_t wanted = static_cast<std::size_t>(std::max(1, node_count));
  if (candidates.size() > wanted) candidates.resize(wanted);

  if (candidates.empty()) {
    plan.synchronous_standby_names = strict ? quoteName(kStrictPlaceholder) : "";
  } else {
    std::string list;
    for (const auto& c : candidates) {
      if (!list.empty()) list += ',';
      list += quoteName(c);
    }
    plan.synchronous_standby_names = "FIRST " + std::to_string(candidates.size()) + " (" + list + ")";
  }
  // /sync: keep current members that stay; add a new one only once
  // PostgreSQL reports it synchronous.
  for (const auto& c : candidates) {
    const bool confirmed = std::any_of(standbys.begin(), standbys.end(), [&](const StandbyStatus& s) {
      return s.application_name == c && (s.sync_state == "sync" || s.sync_state == "quorum");
    });
    if (contains(current, c) || confirmed) plan.sync_standby.push_back(c);
  }
  const bool unchanged = cluster.sync && cluster.sync->leader == self && cluster.sync->sync_standby == plan.sync_standby;
  plan.key_op = unchanged ? SyncPlan::KeyOp::kKeep : SyncPlan::KeyOp::kWrite;
  return plan;
}

bool allowedBySync(const dcs::ClusterSnapshot& cluster, const std::string& name) {
  if (!cluster.sync || cluster.sync->leader.empty()) return false;
  return cluster.sync->leader == name || contains(cluster.sync->sync_standby, name);
}

}  // namespace pgtandem::agent
