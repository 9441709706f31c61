#include "common/dcs/cluster_json.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "common/pg/postgres.h"
#include "common/util/lsn.h"

namespace pgtandem::dcs {

namespace json = boost::json;

namespace {

json::object tagsObject(const MemberTags& t) {
  boost::system::error_code ec;
  json::value v = json::parse(tagsJson(t), ec);
  return !ec && v.is_object() ? std::move(v.as_object()) : json::object{};
}

}  // namespace

std::string clusterJson(const dcs::ClusterSnapshot& cluster, const ClusterFlags& flags) {
  const std::string leader = cluster.leader ? cluster.leader->name : "";
  const std::int64_t cluster_lsn = cluster.status ? cluster.status->optime.value_or(0) : 0;
  json::array members;
  for (const auto& m : cluster.members) {  // sorted by name
    std::string role = "replica";
    if (m.name == leader) {
      role = flags.standby_cluster ? "standby_leader" : "leader";
    } else if (flags.synchronous_mode && cluster.sync &&
               std::find(cluster.sync->sync_standby.begin(), cluster.sync->sync_standby.end(), m.name) !=
                   cluster.sync->sync_standby.end()) {
      role = "sync_standby";
    }
    json::object member;
    member["name"] = m.name;
    member["role"] = role;
    member["state"] = role != "leader" && !m.replication_state.empty() ? m.replication_state : m.state;
    member["api_url"] = m.api_url;
    if (auto hp = pg::parseConnUrl(m.conn_url); hp.ok()) {
      member["host"] = hp->first;
      member["port"] = hp->second;
    }
    if (m.timeline) member["timeline"] = *m.timeline;
    if (m.pending_restart) member["pending_restart"] = true;
    if (m.server_version) member["server_version"] = *m.server_version;
    if (!m.scheduled_restart.empty()) member["scheduled_restart"] = json::object{{"schedule", m.scheduled_restart}};
    if (json::object tags = tagsObject(m.tags); !tags.empty()) member["tags"] = std::move(tags);
    if (!m.standby_source.empty()) {
      // As the member key has it.
      const json::value key = json::parse(toJson(m));
      member["standby_lag"] = key.at("standby_lag");
    }
    if (m.name != leader) {
      const auto put = [&](const char* lsn_key, const char* lag_key, std::optional<std::int64_t> lsn) {
        if (!lsn || *lsn == 0) {
          member[lsn_key] = "unknown";
          member[lag_key] = "unknown";
        } else {
          member[lsn_key] = formatLsn(*lsn);
          member[lag_key] = std::max<std::int64_t>(0, cluster_lsn - *lsn);
        }
      };
      put("receive_lsn", "receive_lag", m.receive_lsn);
      put("replay_lsn", "replay_lag", m.replay_lsn);
      put("lsn", "lag", m.xlog_location);
    }
    members.push_back(std::move(member));
  }
  json::object o;
  o["members"] = std::move(members);
  if (flags.pause) o["pause"] = true;
  if (cluster.failover && !cluster.failover->scheduled_at.empty()) {
    json::object scheduled{{"at", cluster.failover->scheduled_at}};
    if (!cluster.failover->leader.empty()) scheduled["from"] = cluster.failover->leader;
    if (!cluster.failover->candidate.empty()) scheduled["to"] = cluster.failover->candidate;
    o["scheduled_switchover"] = std::move(scheduled);
  }
  return json::serialize(o);
}

}  // namespace pgtandem::dcs
