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
  if (s.failsafe_active) o["failsafe_mode_is_active"] = true;
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


}  // namespace pgtandem::rest
