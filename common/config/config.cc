#include "common/config/config.h"

#include <yaml-cpp/yaml.h>

#include "common/config/yaml_reader.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

extern char** environ;

namespace pgtandem::config {

// Host:port strings as Patroni takes them (listen may be "0.0.0.0:8008" or
// "*:5432"; several listen addresses are comma-separated).
bool looksLikeHostPort(const std::string& value) {
  const auto colon = value.rfind(':');
  if (colon == std::string::npos || colon + 1 >= value.size()) return false;
  const std::string port = value.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5) return false;
  const long n = std::stol(port);
  return n > 0 && n <= 65535;
}

void readEtcd(Reader& r, const YAML::Node& etcd, const std::string& path, EtcdConfig& out) {
  r.checkKeys(etcd, path, {"host", "hosts", "protocol", "username", "password", "cacert", "cert", "key", "retry_timeout"});
  std::vector<std::string> hosts;
  r.readList(etcd, "host", path, hosts);
  r.readList(etcd, "hosts", path, hosts);
  if (!hosts.empty()) out.hosts = hosts;
  r.readString(etcd, "protocol", path, out.protocol);
  if (out.protocol != "http" && out.protocol != "https") {
    r.error(at(etcd, "protocol"), path + ".protocol", "must be http or https");
  }
  r.readString(etcd, "username", path, out.username);
  r.readString(etcd, "password", path, out.password);
  r.readString(etcd, "cacert", path, out.cacert);
  r.readString(etcd, "cert", path, out.cert);
  r.readString(etcd, "key", path, out.key);
}

namespace {

// Keys Patroni accepts that pgtandem does not act on (yet): reported as
// warnings naming their line, never silently dropped. docs/configuration.md
// lists them with what pgtandem does instead.
std::set<std::string> unsupportedKeys() {
  std::set<std::string> keys = {
      "consul", "zookeeper", "exhibitor", "kubernetes", "raft", "citus", "etcd.srv", "etcd.url", "etcd.proxy",
      "etcd3.srv", "etcd3.url", "etcd3.proxy", "etcd.srv_suffix", "etcd3.srv_suffix", "etcd.retry_timeout",
      "etcd3.retry_timeout", "bootstrap.method", "restapi.http_extra_headers", "restapi.https_extra_headers",
      "restapi.request_queue_size", "restapi.server_tokens", "restapi.ciphers", "postgresql.callbacks.before_stop"};
  for (const char* key : {"primary_stop_timeout", "ignore_slots", "max_timelines_history",
                          "member_slots_ttl", "postgresql.recovery_conf", "postgresql.pg_hba"}) {
    keys.insert(std::string("bootstrap.dcs.") + key);
  }
  for (const char* key : {"proxy_address", "config_dir", "pg_ident", "use_unix_socket", "use_unix_socket_repl",
                          "recovery_conf", "custom_conf", "pg_ctl_timeout", "bin_name", "exec_env",
                          "retry_timeout", "database", "remove_data_directory_on_diverged_timelines"}) {
    keys.insert(std::string("postgresql.") + key);
  }
  for (const char* role : {"superuser", "replication", "rewind"}) {
    for (const char* key : {"sslmode", "sslkey", "sslcert", "sslrootcert", "channel_binding"}) {
      keys.insert(std::string("postgresql.authentication.") + role + "." + key);
    }
  }
  return keys;
}

const std::set<std::string> kUnsupportedKeys = unsupportedKeys();

void readCredentials(Reader& r, const YAML::Node& parent, const char* key, const std::string& path, Credentials& out) {
  YAML::Node node = r.section(parent, key, path);
  if (!node.IsDefined() || node.IsNull()) return;
  const std::string here = Reader::join(path, key);
  r.checkKeys(node, here, {"username", "password"});
  r.readString(node, "username", here, out.username);
  r.readString(node, "password", here, out.password);
}

void readStandbyCluster(Reader& r, const YAML::Node& node, const std::string& path, DynamicConfig& out) {
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsMap()) return r.error(node, path, "must be a mapping");
  r.checkKeys(node, path, {"host", "port", "primary_slot_name", "create_replica_methods", "restore_command",
                           "archive_cleanup_command", "recovery_min_apply_delay"});
  StandbyClusterConfig standby;
  r.readList(node, "host", path, standby.hosts);
  int port = 0;
  r.readInt(node, "port", path, port);
  if (at(node, "port").IsDefined()) {
    if (port <= 0 || port > 65535) r.error(at(node, "port"), path + ".port", "must be a TCP port (1-65535)");
    standby.port = port;
  }
  r.readString(node, "primary_slot_name", path, standby.primary_slot_name);
  r.readList(node, "create_replica_methods", path, standby.create_replica_methods);
  r.readString(node, "restore_command", path, standby.restore_command);
  r.readString(node, "archive_cleanup_command", path, standby.archive_cleanup_command);
  r.readString(node, "recovery_min_apply_delay", path, standby.recovery_min_apply_delay);
  // Patroni: a standby cluster needs a source, a host or a restore_command.
  if (standby.hosts.empty() && standby.restore_command.empty()) {
    r.error(node, path, "needs 'host' or 'restore_command' to replicate from");
  }
  out.standby_cluster = std::move(standby);
}

void readDynamic(Reader& r, const YAML::Node& node, const std::string& path, DynamicConfig& out) {
  if (!node.IsDefined() || node.IsNull()) return;
  r.checkKeys(node, path,
              {"ttl", "loop_wait", "retry_timeout", "maximum_lag_on_failover", "maximum_lag_on_syncnode",
               "primary_start_timeout", "master_start_timeout", "synchronous_mode", "synchronous_mode_strict", "synchronous_node_count",
               "failsafe_mode", "check_timeline", "postgresql", "standby_cluster", "slots"});
  r.readInt(node, "ttl", path, out.ttl);
  r.readInt(node, "loop_wait", path, out.loop_wait);
  r.readInt(node, "retry_timeout", path, out.retry_timeout);
  r.readInt64(node, "maximum_lag_on_failover", path, out.maximum_lag_on_failover);
  r.readInt64(node, "maximum_lag_on_syncnode", path, out.maximum_lag_on_syncnode);
  r.readInt(node, "master_start_timeout", path, out.primary_start_timeout);  // Patroni < 4 name
  r.readInt(node, "primary_start_timeout", path, out.primary_start_timeout);
  if (at(node, "synchronous_mode").IsDefined() && at(node, "synchronous_mode").IsScalar() &&
      at(node, "synchronous_mode").Scalar() == "quorum") {
    r.warn(at(node, "synchronous_mode"), path + ".synchronous_mode", "quorum mode is not supported yet; using 'on'");
    out.synchronous_mode = true;
  } else {
    r.readBool(node, "synchronous_mode", path, out.synchronous_mode);
  }
  r.readBool(node, "synchronous_mode_strict", path, out.synchronous_mode_strict);
  r.readInt(node, "synchronous_node_count", path, out.synchronous_node_count);
  r.readBool(node, "failsafe_mode", path, out.failsafe_mode);
  r.readBool(node, "check_timeline", path, out.check_timeline);
  // Kept in /config for Patroni's tools, but no rule acts on it yet.
  if (at(node, "check_timeline").IsDefined() && Reader::parseBool(at(node, "check_timeline").Scalar()).value_or(false)) {
    r.warn(at(node, "check_timeline"), path + ".check_timeline", "is not acted on yet (pgtandem behaves as if it were off)");
  }
  YAML::Node pg = r.section(node, "postgresql", path);
  if (pg.IsDefined() && !pg.IsNull()) {
    const std::string pg_path = path + ".postgresql";
    r.checkKeys(pg, pg_path, {"use_pg_rewind", "use_slots", "parameters"});
    r.readBool(pg, "use_pg_rewind", pg_path, out.use_pg_rewind);
    r.readBool(pg, "use_slots", pg_path, out.use_slots);
    r.readScalarMap(pg, "parameters", pg_path, out.parameters);
  }
  readStandbyCluster(r, at(node, "standby_cluster"), path + ".standby_cluster", out);
  YAML::Node slots = r.section(node, "slots", path);
  if (slots.IsDefined() && !slots.IsNull()) {
    for (const auto& entry : slots) {
      const std::string name = entry.first.Scalar();
      std::map<std::string, std::string> slot;
      if (entry.second.IsMap()) {
        for (const auto& field : entry.second) {
          if (field.second.IsScalar()) slot[field.first.Scalar()] = field.second.Scalar();
        }
      }
      if (slot.count("type") && slot["type"] != "physical" && slot["type"] != "logical") {
        r.error(at(entry.second, "type"), path + ".slots." + name + ".type", "must be 'physical' or 'logical'");
      }
      out.slots[name] = std::move(slot);
    }
  }
  if (auto timing = validateTiming(out.ttl, out.loop_wait, out.retry_timeout); !timing.ok()) {
    r.error(at(node, "ttl").IsDefined() ? at(node, "ttl") : node, path + ".ttl", timing.error().message);
  }
}

// initdb options in Patroni's format: a list of "flag" strings or
// {option: value} mappings.
void readInitdb(Reader& r, const YAML::Node& node, const std::string& path, std::vector<std::string>& out) {
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsSequence()) return r.error(node, path, "must be a list of options");
  for (const auto& item : node) {
    if (item.IsScalar()) {
      out.push_back("--" + item.Scalar());
    } else if (item.IsMap() && item.size() == 1) {
      const auto entry = *item.begin();
      out.push_back("--" + entry.first.Scalar() + "=" + entry.second.Scalar());
    } else {
      r.error(item, path, "entries must be 'option' or 'option: value'");
    }
  }
}

void readReplicaMethods(Reader& r, const YAML::Node& pg, const std::string& path, PostgresqlConfig& out) {
  std::vector<std::string> names;
  r.readList(pg, "create_replica_methods", path, names);
  for (const auto& name : names) {
    ReplicaMethod method{name, {}};
    YAML::Node options = at(pg, name);
    if (name != "basebackup" && (!options.IsDefined() || !options.IsMap() || !at(options, "command").IsDefined())) {
      r.error(at(pg, "create_replica_methods"), path + "." + name,
              "replica method '" + name + "' needs a mapping with a 'command'");
    }
    if (options.IsMap()) {
      for (const auto& field : options) {
        if (field.second.IsScalar()) method.options[field.first.Scalar()] = field.second.Scalar();
      }
    }
    out.create_replica_methods.push_back(std::move(method));
  }
  if (out.create_replica_methods.empty()) out.create_replica_methods.push_back({"basebackup", {}});
  // Every postgresql.<name> mapping with a command is a method a standby
  // cluster's create_replica_methods may name (Patroni looks them up there).
  for (const auto& entry : pg) {
    if (!entry.second.IsMap() || !at(entry.second, "command").IsDefined()) continue;
    ReplicaMethod method{entry.first.Scalar(), {}};
    for (const auto& field : entry.second) {
      if (field.second.IsScalar()) method.options[field.first.Scalar()] = field.second.Scalar();
    }
    out.method_definitions[method.name] = std::move(method);
  }
}

// postgresql.basebackup, as Patroni takes it: a list (as initdb's) or a
// mapping of option -> value. Each becomes a --option[=value] argument.
void readBasebackupOptions(Reader& r, const YAML::Node& node, const std::string& path, std::vector<std::string>& out) {
  if (!node.IsMap()) return readInitdb(r, node, path, out);
  for (const auto& entry : node) {
    if (!entry.second.IsScalar()) {
      r.error(entry.second, path + "." + entry.first.Scalar(), "must be a single value");
      continue;
    }
    out.push_back("--" + entry.first.Scalar() + "=" + entry.second.Scalar());
  }
}

void readPostgresql(Reader& r, const YAML::Node& node, PostgresqlConfig& out, std::set<std::string>& method_keys) {
  const std::string path = "postgresql";
  if (!node.IsDefined() || node.IsNull()) return;
  std::vector<std::string> names;
  r.readList(node, "create_replica_methods", path, names);
  for (const auto& name : names) method_keys.insert(name);
  r.readString(node, "listen", path, out.listen);
  r.readString(node, "connect_address", path, out.connect_address);
  r.readString(node, "data_dir", path, out.data_dir);
  r.readString(node, "bin_dir", path, out.bin_dir);
  YAML::Node auth = r.section(node, "authentication", path);
  if (auth.IsDefined() && !auth.IsNull()) {
    r.checkKeys(auth, path + ".authentication", {"superuser", "replication", "rewind"});
    readCredentials(r, auth, "superuser", path + ".authentication", out.superuser);
    readCredentials(r, auth, "replication", path + ".authentication", out.replication);
    readCredentials(r, auth, "rewind", path + ".authentication", out.rewind);
  }
  r.readScalarMap(node, "parameters", path, out.parameters);
  r.readScalarMap(node, "callbacks", path, out.callbacks);
  YAML::Node callbacks = at(node, "callbacks");
  if (callbacks.IsMap()) {
    r.checkKeys(callbacks, path + ".callbacks",
                {"on_start", "on_stop", "on_restart", "on_reload", "on_role_change", "pre_promote"});
  }
  r.readList(node, "pg_hba", path, out.pg_hba);
  r.readBool(node, "use_pg_rewind", path, out.use_pg_rewind);
  r.readBool(node, "remove_data_directory_on_rewind_failure", path, out.remove_data_directory_on_rewind_failure);
  readReplicaMethods(r, node, path, out);
  readBasebackupOptions(r, at(node, "basebackup"), path + ".basebackup", out.basebackup);
}

void applyEnvironment(Reader& r, const Environment& env, Config& c) {
  auto set = [&](const char* name, std::string& field) {
    if (auto it = env.find(name); it != env.end()) field = it->second;
  };
  set("PATRONI_SCOPE", c.scope);
  set("PATRONI_NAME", c.name);
  set("PATRONI_NAMESPACE", c.namespace_);
  set("PATRONI_LOG_LEVEL", c.log_level);
  set("PATRONI_RESTAPI_LISTEN", c.restapi.listen);
  set("PATRONI_RESTAPI_CONNECT_ADDRESS", c.restapi.connect_address);
  set("PATRONI_RESTAPI_USERNAME", c.restapi.authentication.username);
  set("PATRONI_RESTAPI_PASSWORD", c.restapi.authentication.password);
  set("PATRONI_RESTAPI_CERTFILE", c.restapi.certfile);
  set("PATRONI_RESTAPI_KEYFILE", c.restapi.keyfile);
  set("PATRONI_RESTAPI_CAFILE", c.restapi.cafile);
  set("PATRONI_RESTAPI_VERIFY_CLIENT", c.restapi.verify_client);
  for (const char* prefix : {"PATRONI_ETCD_", "PATRONI_ETCD3_"}) {
    const std::string p(prefix);
    for (const char* suffix : {"HOST", "HOSTS"}) {
      if (auto it = env.find(p + suffix); it != env.end()) c.etcd.hosts = Reader::splitComma(it->second);
    }
    if (auto it = env.find(p + "PROTOCOL"); it != env.end()) c.etcd.protocol = it->second;
    if (auto it = env.find(p + "USERNAME"); it != env.end()) c.etcd.username = it->second;
    if (auto it = env.find(p + "PASSWORD"); it != env.end()) c.etcd.password = it->second;
    if (auto it = env.find(p + "CACERT"); it != env.end()) c.etcd.cacert = it->second;
    if (auto it = env.find(p + "CERT"); it != env.end()) c.etcd.cert = it->second;
    if (auto it = env.find(p + "KEY"); it != env.end()) c.etcd.key = it->second;
  }
  set("PATRONI_POSTGRESQL_LISTEN", c.postgresql.listen);
  set("PATRONI_POSTGRESQL_CONNECT_ADDRESS", c.postgresql.connect_address);
  set("PATRONI_POSTGRESQL_DATA_DIR", c.postgresql.data_dir);
  set("PATRONI_POSTGRESQL_BIN_DIR", c.postgresql.bin_dir);
  set("PATRONI_SUPERUSER_USERNAME", c.postgresql.superuser.username);
  set("PATRONI_SUPERUSER_PASSWORD", c.postgresql.superuser.password);
  set("PATRONI_REPLICATION_USERNAME", c.postgresql.replication.username);
  set("PATRONI_REPLICATION_PASSWORD", c.postgresql.replication.password);
  set("PATRONI_REWIND_USERNAME", c.postgresql.rewind.username);
  set("PATRONI_REWIND_PASSWORD", c.postgresql.rewind.password);
  for (const char* name : {"PATRONI_CONSUL_HOST", "PATRONI_ZOOKEEPER_HOSTS", "PATRONI_KUBERNETES_LABELS",
                           "PATRONI_RAFT_SELF_ADDR", "PATRONI_EXHIBITOR_HOSTS"}) {
    if (env.count(name)) {
      r.warnings_.push_back({"environment", 0, name, "selects a DCS pgtandem does not support (it uses etcd v3); ignored"});
    }
  }
}

void validate(Reader& r, const YAML::Node& root, Config& c, ConfigPurpose purpose) {
  auto require = [&](const std::string& value, const YAML::Node& node, const std::string& key) {
    if (value.empty() && purpose == ConfigPurpose::kAgent) {
      r.errors_.push_back({r.file(), Reader::lineOf(node), key, "is required"});
    }
  };
  require(c.scope, at(root, "scope"), "scope");
  require(c.name, at(root, "name"), "name");
  require(c.restapi.listen, at(root, "restapi"), "restapi.listen");
  require(c.restapi.connect_address, at(root, "restapi"), "restapi.connect_address");
  require(c.postgresql.listen, at(root, "postgresql"), "postgresql.listen");
  require(c.postgresql.connect_address, at(root, "postgresql"), "postgresql.connect_address");
  require(c.postgresql.data_dir, at(root, "postgresql"), "postgresql.data_dir");
  require(c.postgresql.superuser.username, at(root, "postgresql"), "postgresql.authentication.superuser.username");
  require(c.postgresql.replication.username, at(root, "postgresql"), "postgresql.authentication.replication.username");
  if (c.etcd.hosts.empty() && purpose == ConfigPurpose::kAgent) {
    r.errors_.push_back({r.file(), 1, "etcd3.hosts", "is required: pgtandem keeps its state in etcd (v3 API)"});
  }
  auto hostPort = [&](const std::string& value, const YAML::Node& node, const std::string& key) {
    if (value.empty()) return;
    for (const auto& part : Reader::splitComma(value)) {
      if (!looksLikeHostPort(part)) {
        r.errors_.push_back({r.file(), Reader::lineOf(node), key, "must be host:port, got '" + part + "'"});
      }
    }
  };
  hostPort(c.restapi.listen, at(at(root, "restapi"), "listen"), "restapi.listen");
  hostPort(c.restapi.connect_address, at(at(root, "restapi"), "connect_address"), "restapi.connect_address");
  hostPort(c.postgresql.listen, at(at(root, "postgresql"), "listen"), "postgresql.listen");
  hostPort(c.postgresql.connect_address, at(at(root, "postgresql"), "connect_address"), "postgresql.connect_address");
  if (c.name.find('/') != std::string::npos) {
    r.errors_.push_back({r.file(), Reader::lineOf(at(root, "name")), "name", "must not contain '/'"});
  }
  if (!c.restapi.verify_client.empty() && c.restapi.verify_client != "none" && c.restapi.verify_client != "optional" &&
      c.restapi.verify_client != "required") {
    r.errors_.push_back({r.file(), Reader::lineOf(at(at(root, "restapi"), "verify_client")), "restapi.verify_client",
                         "must be none, optional or required"});
  }
  if (const auto& standby = c.bootstrap.dcs.standby_cluster) {
    const YAML::Node methods = at(at(at(at(root, "bootstrap"), "dcs"), "standby_cluster"), "create_replica_methods");
    for (const auto& name : standby->create_replica_methods) {
      if (name == "basebackup" || c.postgresql.method_definitions.count(name)) continue;
      r.errors_.push_back({r.file(), Reader::lineOf(methods), "bootstrap.dcs.standby_cluster.create_replica_methods",
                           "names '" + name + "', but postgresql." + name + " has no 'command'"});
    }
  }
  if (c.watchdog.mode != "off" && c.watchdog.mode != "automatic" && c.watchdog.mode != "required") {
    r.errors_.push_back({r.file(), Reader::lineOf(at(at(root, "watchdog"), "mode")), "watchdog.mode",
                         "must be off, automatic or required"});
  }
  if (c.watchdog.safety_margin < -1) {
    r.errors_.push_back({r.file(), Reader::lineOf(at(at(root, "watchdog"), "safety_margin")), "watchdog.safety_margin",
                         "must be -1 (ttl / 2) or a number of seconds"});
  }
}

}  // namespace

std::string ConfigIssue::toString() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  return out + ": " + key + ": " + message;
}

Status validateTiming(int ttl, int loop_wait, int retry_timeout) {
  // Lower than Patroni's minimums (ttl 20, retry_timeout 3) on purpose:
  // on a LAN a 5 s ttl is safe as long as the leader can still demote before
  // its lease expires, which is what loop_wait + 2*retry_timeout <= ttl says.
  if (ttl < 4) return makeError(ErrorCode::kConfig, "ttl must be at least 4 seconds, got " + std::to_string(ttl));
  if (loop_wait < 1) return makeError(ErrorCode::kConfig, "loop_wait must be at least 1 second");
  if (retry_timeout < 1) return makeError(ErrorCode::kConfig, "retry_timeout must be at least 1 second");
  if (loop_wait + 2 * retry_timeout > ttl) {
    return makeError(ErrorCode::kConfig,
                     "loop_wait + 2*retry_timeout must not exceed ttl (" + std::to_string(loop_wait) + " + 2*" +
                         std::to_string(retry_timeout) + " > " + std::to_string(ttl) +
                         "), or a leader could lose its lock before it notices and demotes");
  }
  return okStatus();
}

Environment processEnvironment() {
  Environment env;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string::npos && entry.rfind("PATRONI_", 0) == 0) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return env;
}

Result<LoadedConfig> parseConfig(const std::string& yaml_text, const std::string& file, const Environment& env,
                                 ConfigPurpose purpose) {
  auto loaded = loadYamlMapping(yaml_text, file);
  if (!loaded.ok()) return loaded.error();
  YAML::Node root = *loaded;

  Reader r(file, &kUnsupportedKeys);
  Config c;
  c.source_file = file;
  std::set<std::string> method_keys;
  try {
    r.readString(root, "scope", "", c.scope);
    r.readString(root, "namespace", "", c.namespace_);
    r.readString(root, "name", "", c.name);
    YAML::Node log = at(root, "log");
    if (log.IsMap()) r.readString(log, "level", "log", c.log_level);

    YAML::Node restapi = r.section(root, "restapi", "");
    if (restapi.IsDefined() && !restapi.IsNull()) {
      r.checkKeys(restapi, "restapi",
                  {"listen", "connect_address", "authentication", "certfile", "keyfile", "keyfile_password", "cafile",
                   "verify_client", "allowlist", "allowlist_include_members"});
      r.readString(restapi, "listen", "restapi", c.restapi.listen);
      r.readString(restapi, "connect_address", "restapi", c.restapi.connect_address);
      readCredentials(r, restapi, "authentication", "restapi", c.restapi.authentication);
      r.readString(restapi, "certfile", "restapi", c.restapi.certfile);
      r.readString(restapi, "keyfile", "restapi", c.restapi.keyfile);
      r.readString(restapi, "keyfile_password", "restapi", c.restapi.keyfile_password);
      r.readString(restapi, "cafile", "restapi", c.restapi.cafile);
      r.readString(restapi, "verify_client", "restapi", c.restapi.verify_client);
      r.readList(restapi, "allowlist", "restapi", c.restapi.allowlist);
      r.readBool(restapi, "allowlist_include_members", "restapi", c.restapi.allowlist_include_members);
    }

    YAML::Node ctl = r.section(root, "ctl", "");
    if (ctl.IsMap()) {
      r.checkKeys(ctl, "ctl", {"authentication", "insecure", "cacert", "certfile", "keyfile", "keyfile_password"});
      readCredentials(r, ctl, "authentication", "ctl", c.ctl.authentication);
      r.readBool(ctl, "insecure", "ctl", c.ctl.insecure);
      r.readString(ctl, "cacert", "ctl", c.ctl.cacert);
      r.readString(ctl, "certfile", "ctl", c.ctl.certfile);
      r.readString(ctl, "keyfile", "ctl", c.ctl.keyfile);
      r.readString(ctl, "keyfile_password", "ctl", c.ctl.keyfile_password);
    }

    for (const char* section_name : {"etcd", "etcd3"}) {
      YAML::Node etcd = r.section(root, section_name, "");
      if (!etcd.IsDefined() || etcd.IsNull()) continue;
      readEtcd(r, etcd, section_name, c.etcd);
    }

    YAML::Node bootstrap = r.section(root, "bootstrap", "");
    if (bootstrap.IsDefined() && !bootstrap.IsNull()) {
      r.checkKeys(bootstrap, "bootstrap", {"dcs", "initdb", "pg_hba", "users", "post_bootstrap", "post_init"});
      r.readString(bootstrap, "post_init", "bootstrap", c.bootstrap.post_bootstrap);
      r.readString(bootstrap, "post_bootstrap", "bootstrap", c.bootstrap.post_bootstrap);
      YAML::Node dcs = r.section(bootstrap, "dcs", "bootstrap");
      readDynamic(r, dcs, "bootstrap.dcs", c.bootstrap.dcs);
      readInitdb(r, at(bootstrap, "initdb"), "bootstrap.initdb", c.bootstrap.initdb);
      r.readList(bootstrap, "pg_hba", "bootstrap", c.bootstrap.pg_hba);
      YAML::Node users = r.section(bootstrap, "users", "bootstrap");
      if (users.IsDefined() && !users.IsNull()) {
        for (const auto& entry : users) {
          BootstrapUser user;
          user.name = entry.first.Scalar();
          const std::string path = "bootstrap.users." + user.name;
          if (!entry.second.IsMap()) {
            r.error(entry.second, path, "must be a mapping with 'password' and 'options'");
            continue;
          }
          r.checkKeys(entry.second, path, {"password", "options"});
          r.readString(entry.second, "password", path, user.password);
          r.readList(entry.second, "options", path, user.options);
          c.bootstrap.users.push_back(std::move(user));
        }
      }
    }

    YAML::Node postgresql = r.section(root, "postgresql", "");
    readPostgresql(r, postgresql, c.postgresql, method_keys);
    if (postgresql.IsMap()) {
      // pgpass is known: pgtandem hands passwords to libpq directly and
      // needs no password file. Replica methods' mappings are known by the
      // names the file gives them.
      r.checkKeys(postgresql, "postgresql",
                  {"listen", "connect_address", "data_dir", "bin_dir", "pgpass", "authentication", "parameters",
                   "callbacks", "create_replica_methods", "basebackup", "pg_hba", "use_pg_rewind",
                   "remove_data_directory_on_rewind_failure"},
                  [&](const std::string& key) {
                    return method_keys.count(key) > 0 || c.postgresql.method_definitions.count(key) > 0;
                  });
    }

    YAML::Node tags = r.section(root, "tags", "");
    if (tags.IsMap()) {
      for (const auto& entry : tags) {
        const std::string key = entry.first.Scalar();
        if (!entry.second.IsScalar()) {
          r.error(entry.second, "tags." + key, "must be a single value");
          continue;
        }
        const std::string& v = entry.second.Scalar();
        const bool is_bool = Reader::parseBool(v).has_value() && v != "1" && v != "0";
        const bool is_int = Reader::parseInt(v).has_value();
        if (entry.second.Tag() == "!" || (!is_bool && !is_int)) {
          c.tags[key] = "\"" + v + "\"";
        } else if (is_bool) {
          c.tags[key] = *Reader::parseBool(v) ? "true" : "false";
        } else {
          c.tags[key] = v;
        }
      }
      if (at(tags, "nofailover").IsDefined() && at(tags, "failover_priority").IsDefined()) {
        r.warn(at(tags, "failover_priority"), "tags.failover_priority",
               "both nofailover and failover_priority are set; nofailover wins (as in Patroni)");
      }
    }

    YAML::Node watchdog = r.section(root, "watchdog", "");
    if (watchdog.IsMap()) {
      r.checkKeys(watchdog, "watchdog", {"mode", "device", "safety_margin"});
      r.readString(watchdog, "mode", "watchdog", c.watchdog.mode);
      // YAML reads "off" as a boolean-like scalar; Patroni treats it as mode off.
      if (Reader::parseBool(c.watchdog.mode) == false) c.watchdog.mode = "off";
      r.readString(watchdog, "device", "watchdog", c.watchdog.device);
      r.readInt(watchdog, "safety_margin", "watchdog", c.watchdog.safety_margin);
    }

    // Standby cluster settings at the top level (Patroni accepts them there
    // for a new standby cluster, then seeds bootstrap.dcs).
    if (at(root, "standby_cluster").IsDefined()) {
      readStandbyCluster(r, at(root, "standby_cluster"), "standby_cluster", c.bootstrap.dcs);
    }

    r.checkKeys(root, "",
                {"scope", "namespace", "name", "log", "restapi", "etcd", "etcd3", "bootstrap", "postgresql", "tags",
                 "watchdog", "standby_cluster", "ctl", "global"});
  } catch (const YAML::Exception& e) {
    return makeError(ErrorCode::kConfig, file + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }

  applyEnvironment(r, env, c);
  if (c.namespace_.empty()) c.namespace_ = "/service/";
  validate(r, root, c, purpose);

  PGT_TRY(r.errorsAsStatus());
  return LoadedConfig{std::move(c), std::move(r.warnings_)};
}

Result<LoadedConfig> loadConfigFile(const std::string& path, const Environment& env, ConfigPurpose purpose) {
  auto text = readConfigText(path, "configuration file");
  if (!text.ok()) return text.error();
  return parseConfig(*text, path, env, purpose);
}

}  // namespace pgtandem::config
