#include "common/config/dynamic_json.h"

#include <boost/json.hpp>

namespace pgtandem::config {

namespace json = boost::json;

std::string toJson(const DynamicConfig& d) {
  json::object o;
  o["ttl"] = d.ttl;
  o["loop_wait"] = d.loop_wait;
  o["retry_timeout"] = d.retry_timeout;
  o["maximum_lag_on_failover"] = d.maximum_lag_on_failover;
  o["maximum_lag_on_syncnode"] = d.maximum_lag_on_syncnode;
  o["primary_start_timeout"] = d.primary_start_timeout;
  o["synchronous_mode"] = d.synchronous_mode;
  o["synchronous_mode_strict"] = d.synchronous_mode_strict;
  o["synchronous_node_count"] = d.synchronous_node_count;
  o["failsafe_mode"] = d.failsafe_mode;
  o["check_timeline"] = d.check_timeline;
  json::object pg;
  pg["use_pg_rewind"] = d.use_pg_rewind;
  pg["use_slots"] = d.use_slots;
  json::object parameters;
  for (const auto& [k, v] : d.parameters) parameters[k] = v;
  pg["parameters"] = std::move(parameters);
  o["postgresql"] = std::move(pg);
  if (!d.slots.empty()) {
    json::object slots;
    for (const auto& [name, fields] : d.slots) {
      json::object slot;
      for (const auto& [k, v] : fields) slot[k] = v;
      slots[name] = std::move(slot);
    }
    o["slots"] = std::move(slots);
  }
  if (d.standby_cluster) {
    const auto& s = *d.standby_cluster;
    json::object standby;
    if (!s.hosts.empty()) {
      std::string hosts;
      for (const auto& h : s.hosts) hosts += (hosts.empty() ? "" : ",") + h;
      standby["host"] = hosts;
    }
    if (s.port) standby["port"] = *s.port;
    if (!s.primary_slot_name.empty()) standby["primary_slot_name"] = s.primary_slot_name;
    if (!s.restore_command.empty()) standby["restore_command"] = s.restore_command;
    if (!s.archive_cleanup_command.empty()) standby["archive_cleanup_command"] = s.archive_cleanup_command;
    if (!s.recovery_min_apply_delay.empty()) standby["recovery_min_apply_delay"] = s.recovery_min_apply_delay;
    if (!s.create_replica_methods.empty()) {
      json::array methods;
      for (const auto& m : s.create_replica_methods) methods.emplace_back(m);
      standby["create_replica_methods"] = std::move(methods);
    }
    o["standby_cluster"] = std::move(standby);
  }
  return json::serialize(o);
}

namespace {

Error wrongType(const char* key, const char* expected) {
  return makeError(ErrorCode::kParse, std::string("/config: '") + key + "' must be " + expected);
}

template <typename T>
Status readNumber(const json::object& o, const char* key, T& out) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return okStatus();
  const auto& v = it->value();
  if (v.is_int64()) out = static_cast<T>(v.as_int64());
  else if (v.is_uint64()) out = static_cast<T>(v.as_uint64());
  else if (v.is_string()) {
    // Patroni accepts numbers written as strings ("30").
    try {
      out = static_cast<T>(std::stoll(std::string(v.as_string())));
    } catch (...) {
      return wrongType(key, "a number");
    }
  } else {
    return wrongType(key, "a number");
  }
  return okStatus();
}

Status readBool(const json::object& o, const char* key, bool& out) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return okStatus();
  if (it->value().is_bool()) out = it->value().as_bool();
  else if (it->value().is_string() && (it->value().as_string() == "on" || it->value().as_string() == "true")) out = true;
  else if (it->value().is_string() && (it->value().as_string() == "off" || it->value().as_string() == "false")) out = false;
  else return wrongType(key, "true or false");
  return okStatus();
}

}  // namespace

Result<DynamicState> parseDynamicJson(const std::string& text, const DynamicConfig& defaults) {
  boost::system::error_code ec;
  json::value value = json::parse(text, ec);
  if (ec || !value.is_object()) return makeError(ErrorCode::kParse, "/config is not a JSON object");
  const auto& o = value.as_object();
  DynamicState state{defaults, false};
  DynamicConfig& d = state.config;
  PGT_TRY(readNumber(o, "ttl", d.ttl));
  PGT_TRY(readNumber(o, "loop_wait", d.loop_wait));
  PGT_TRY(readNumber(o, "retry_timeout", d.retry_timeout));
  PGT_TRY(readNumber(o, "maximum_lag_on_failover", d.maximum_lag_on_failover));
  PGT_TRY(readNumber(o, "maximum_lag_on_syncnode", d.maximum_lag_on_syncnode));
  PGT_TRY(readNumber(o, "master_start_timeout", d.primary_start_timeout));
  PGT_TRY(readNumber(o, "primary_start_timeout", d.primary_start_timeout));
  PGT_TRY(readBool(o, "synchronous_mode", d.synchronous_mode));
  PGT_TRY(readBool(o, "synchronous_mode_strict", d.synchronous_mode_strict));
  PGT_TRY(readNumber(o, "synchronous_node_count", d.synchronous_node_count));
  PGT_TRY(readBool(o, "failsafe_mode", d.failsafe_mode));
  PGT_TRY(readBool(o, "check_timeline", d.check_timeline));
  PGT_TRY(readBool(o, "pause", state.pause));
  if (auto it = o.find("postgresql"); it != o.end() && it->value().is_object()) {
    const auto& pg = it->value().as_object();
    PGT_TRY(readBool(pg, "use_pg_rewind", d.use_pg_rewind));
    PGT_TRY(readBool(pg, "use_slots", d.use_slots));
    if (auto p = pg.find("parameters"); p != pg.end() && p->value().is_object()) {
      for (const auto& [k, v] : p->value().as_object()) {
        d.parameters[std::string(k)] = v.is_string() ? std::string(v.as_string()) : json::serialize(v);
      }
    }
  }
  if (auto it = o.find("slots"); it != o.end() && it->value().is_object()) {
    d.slots.clear();
    for (const auto& [name, slot] : it->value().as_object()) {
      std::map<std::string, std::string> fields;
      if (slot.is_object()) {
        for (const auto& [k, v] : slot.as_object()) {
          fields[std::string(k)] = v.is_string() ? std::string(v.as_string()) : json::serialize(v);
        }
      }
      d.slots[std::string(name)] = std::move(fields);
    }
  }
  // standby_cluster is seeded from bootstrap.dcs only: once /config exists,
  // its absence (or null) means "not a standby cluster", so that removing it
  // promotes the DC.
  d.standby_cluster.reset();
  if (auto it = o.find("standby_cluster"); it != o.end() && !it->value().is_null()) {
    if (!it->value().is_object()) return wrongType("standby_cluster", "an object");
    const json::object& sc = it->value().as_object();
    StandbyClusterConfig standby;
    auto readText = [&](const char* key, std::string& out) -> Status {
      auto f = sc.find(key);
      if (f == sc.end() || f->value().is_null()) return okStatus();
      if (!f->value().is_string()) return wrongType(key, "a string");
      out = std::string(f->value().as_string());
      return okStatus();
    };
    if (auto h = sc.find("host"); h != sc.end() && !h->value().is_null()) {
      // "a,b" or ["a", "b"]
      std::vector<std::string> parts;
      if (h->value().is_string()) {
        const std::string hosts(h->value().as_string());
        for (std::size_t start = 0; start <= hosts.size();) {
          const auto comma = std::min(hosts.find(',', start), hosts.size());
          if (comma > start) parts.push_back(hosts.substr(start, comma - start));
          start = comma + 1;
        }
      } else if (h->value().is_array()) {
        for (const auto& v : h->value().as_array()) {
          if (!v.is_string()) return wrongType("standby_cluster.host", "a string or a list of strings");
          parts.emplace_back(v.as_string());
        }
      } else {
        return wrongType("standby_cluster.host", "a string or a list of strings");
      }
      standby.hosts = std::move(parts);
    }
    int port = 0;
    PGT_TRY(readNumber(sc, "port", port));
    if (port != 0) {
      if (port < 0 || port > 65535) return wrongType("standby_cluster.port", "a TCP port");
      standby.port = port;
    }
    PGT_TRY(readText("primary_slot_name", standby.primary_slot_name));
    PGT_TRY(readText("restore_command", standby.restore_command));
    PGT_TRY(readText("archive_cleanup_command", standby.archive_cleanup_command));
    if (auto delay = sc.find("recovery_min_apply_delay"); delay != sc.end() && delay->value().is_number()) {
      standby.recovery_min_apply_delay = json::serialize(delay->value());  // milliseconds, as PostgreSQL reads it
    } else {
      PGT_TRY(readText("recovery_min_apply_delay", standby.recovery_min_apply_delay));
    }
    if (auto m = sc.find("create_replica_methods"); m != sc.end() && m->value().is_array()) {
      for (const auto& v : m->value().as_array()) {
        if (v.is_string()) standby.create_replica_methods.emplace_back(v.as_string());
      }
    }
    // Patroni counts it a standby cluster only with a source to follow.
    if (!standby.hosts.empty() || standby.port || !standby.restore_command.empty()) d.standby_cluster = std::move(standby);
  }
  if (auto timing = validateTiming(d.ttl, d.loop_wait, d.retry_timeout); !timing.ok()) {
    return makeError(ErrorCode::kParse, "/config: " + timing.error().message);
  }
  return state;
}

std::optional<DynamicState> storedDynamic(const std::optional<std::string>& config_json, const DynamicConfig& defaults) {
  if (!config_json) return std::nullopt;
  auto parsed = parseDynamicJson(*config_json, defaults);
  if (!parsed.ok()) return std::nullopt;
  return std::move(*parsed);
}

Status validateDynamicJson(const std::string& text, const DynamicConfig& defaults) {
  auto parsed = parseDynamicJson(text, defaults);
  if (!parsed.ok()) return parsed.error();
  return validateTiming(parsed->config.ttl, parsed->config.loop_wait, parsed->config.retry_timeout);
}

namespace {

void mergeInto(json::value& target, const json::value& patch) {
  if (!patch.is_object()) {
    target = patch;
    return;
  }
  if (!target.is_object()) target = json::object{};
  json::object& t = target.get_object();
  for (const auto& [key, value] : patch.get_object()) {
    if (value.is_null()) {
      t.erase(key);
    } else {
      mergeInto(t[key], value);
    }
  }
}

}  // namespace

Result<std::string> applyMergePatch(const std::string& base, const std::string& patch) {
  boost::system::error_code ec;
  const json::value p = json::parse(patch, ec);
  if (ec) return makeError(ErrorCode::kInvalidArgument, "the patch is not valid JSON: " + ec.message());
  json::value merged = json::parse(base, ec);
  if (ec || !merged.is_object()) merged = json::object{};
  mergeInto(merged, p);
  return json::serialize(merged);
}

}  // namespace pgtandem::config
