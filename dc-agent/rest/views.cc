#include "dc-agent/rest/views.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "common/pg/postgres.h"

namespace pgtandem::rest {

namespace json = boost::json;

namespace {

json::object tagsObject(const std::map<std::string, std::string>& raw_tags) {
  json::object tags;
  for (const auto& [name, text] : raw_tags) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    tags[name] = ec ? json::value(text) : std::move(v);
  }
  return tags;
}

json::object tagsObject(const dcs::MemberTags& t) {
  boost::system::error_code ec;
  json::value v = json::parse(dcs::tagsJson(t), ec);
  return !ec && v.is_object() ? std::move(v.as_object()) : json::object{};
}

}  // namespace

std::string patroniJson(const agent::AgentStatus& s) {
  json::object o;
  o["state"] = s.state;
  o["role"] = s.role;
  if (s.pg_running && s.server_version > 0) {
    o["postmaster_start_time"] = s.postmaster_start_time;
    o["server_version"] = s.server_version;
    json::object xlog;
    if (s.pg_primary) {
      xlog["location"] = s.wal_position.value_or(0);
    } else {
      xlog["received_location"] = s.receive_lsn.value_or(s.replay_lsn.value_or(0));
      xlog["replayed_location"] = s.replay_lsn.value_or(0);
      xlog["replayed_timestamp"] = s.replayed_timestamp.empty() ? json::value(nullptr) : json::value(s.replayed_timestamp);
      xlog["paused"] = s.replay_paused;
    }
    o["xlog"] = std::move(xlog);
    if (s.timeline > 0) o["timeline"] = s.timeline;
    if (!s.replication.empty()) {
      json::array replication;
      for (const auto& r : s.replication) {
        replication.push_back(json::object{{"usename", r.usename},
                                           {"application_name", r.application_name},
                                           {"client_addr", r.client_addr},
                                           {"state", r.state},
                                           {"sync_state", r.sync_state},
                                           {"sync_priority", r.sync_priority}});
      }
      o["replication"] = std::move(replication);
    }
    if (!s.replication_state.empty()) o["replication_state"] = s.replication_state;
  }
  if (s.sync_standby) o["sync_standby"] = true;
  if (s.cluster_unlocked) o["cluster_unlocked"] = true;
  if (s.pause) o["pause"] = true;
  if (!s.dynamic_config_error.empty()) o["dynamic_config_error"] = s.dynamic_config_error;
  if (s.site_role) {
    json::object site{{"role", dcs::siteRoleName(*s.site_role)}, {"epoch", s.site_epoch}};
    if (!s.site_reason.empty()) site["reason"] = s.site_reason;
    o["site"] = std::move(site);
  }
  o["dcs_last_seen"] = std::chrono::duration_cast<std::chrono::seconds>(s.dcs_last_seen.time_since_epoch()).count();
  if (!s.raw_tags.empty()) o["tags"] = tagsObject(s.raw_tags);
  if (!s.system_id.empty()) o["database_system_identifier"] = s.system_id;
  if (!s.pending_restart.empty()) {
    o["pending_restart"] = true;
    json::object reasons;
    for (const auto& name : s.pending_restart) reasons[name] = json::object{};
    o["pending_restart_reason"] = std::move(reasons);
  }
  if (!s.standby_source.empty()) {
    json::object lag{{"source", s.standby_source}, {"seconds", s.standby_lag_seconds}};
    lag["bytes"] = s.standby_lag_bytes ? json::value(*s.standby_lag_bytes) : json::value(nullptr);
    lag["contact_age"] = s.standby_contact_age ? json::value(*s.standby_contact_age) : json::value(nullptr);
    o["standby_lag"] = std::move(lag);
  }
  if (!s.scheduled_restart.empty()) o["scheduled_restart"] = json::object{{"schedule", s.scheduled_restart}};
  o["patroni"] = json::object{{"version", s.version}, {"scope", s.scope}, {"name", s.name}};
  return json::serialize(o);
}

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
    if (!m.scheduled_restart.empty()) member["scheduled_restart"] = json::object{{"schedule", m.scheduled_restart}};
    if (json::object tags = tagsObject(m.tags); !tags.empty()) member["tags"] = std::move(tags);
    if (!m.standby_source.empty()) {
      // As the member key has it.
      const json::value key = json::parse(dcs::toJson(m));
      member["standby_lag"] = key.at("standby_lag");
    }
    if (m.name != leader) {
      const auto put = [&](const char* lsn_key, const char* lag_key, std::optional<std::int64_t> lsn) {
        if (!lsn || *lsn == 0) {
          member[lsn_key] = "unknown";
          member[lag_key] = "unknown";
        } else {
          member[lsn_key] = pg::formatLsn(*lsn);
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

}  // namespace pgtandem::rest
