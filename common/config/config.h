#pragma once
// Loads a Patroni patroni.yml unchanged, applies Patroni's PATRONI_*
// environment overrides, and validates it. Every problem names the file, the
// line and the key. Keys Patroni knows but pgtandem does not support yet, and
// keys nobody knows (typos), come back as warnings, once each.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/util/result.h"

namespace pgtandem::config {

struct Credentials {
  std::string username;
  std::string password;

  bool operator==(const Credentials&) const = default;
};

struct RestApiConfig {
  std::string listen;           // host:port
  std::string connect_address;  // host:port that others use
  Credentials authentication;   // Basic auth for unsafe endpoints; empty: none
  std::string certfile, keyfile, keyfile_password, cafile;
  std::string verify_client;    // none | optional | required
  std::vector<std::string> allowlist;
  bool allowlist_include_members = false;

  bool operator==(const RestApiConfig&) const = default;
};

// Patroni's `ctl` section: how the command line reaches the REST API.
struct CtlConfig {
  Credentials authentication;
  bool insecure = false;  // do not verify the REST API's certificate
  std::string cacert, certfile, keyfile, keyfile_password;

  bool operator==(const CtlConfig&) const = default;
};

struct EtcdConfig {
  std::vector<std::string> hosts;  // host:port
  std::string protocol = "http";
  std::string username, password;
  std::string cacert, cert, key;

  bool operator==(const EtcdConfig&) const = default;
};

struct StandbyClusterConfig {
  std::vector<std::string> hosts;  // "host" may be a comma-separated list
  std::optional<int> port;
  std::string primary_slot_name;
  std::vector<std::string> create_replica_methods;
  std::string restore_command;
  std::string archive_cleanup_command;
  std::string recovery_min_apply_delay;
};

// The dynamic configuration: seeded from bootstrap.dcs, then kept in the
// DCS /config key.
struct DynamicConfig {
  int ttl = 30;
  int loop_wait = 10;
  int retry_timeout = 10;
  std::int64_t maximum_lag_on_failover = 1048576;
  // A synchronous standby further behind than this (bytes) is swapped for a
  // healthy asynchronous one; <= 0: never (Patroni's default, -1).
  std::int64_t maximum_lag_on_syncnode = -1;
  int primary_start_timeout = 300;
  bool synchronous_mode = false;
  bool synchronous_mode_strict = false;
  int synchronous_node_count = 1;
  bool failsafe_mode = false;
  bool check_timeline = false;
  bool use_pg_rewind = false;  // postgresql.use_pg_rewind
  bool use_slots = true;       // postgresql.use_slots
  std::map<std::string, std::string> parameters;  // postgresql.parameters
  std::optional<StandbyClusterConfig> standby_cluster;
  std::map<std::string, std::map<std::string, std::string>> slots;  // permanent slots
};

struct ReplicaMethod {
  std::string name;                            // basebackup, or a custom one
  std::map<std::string, std::string> options;  // command, keep_data, no_params, ...

  bool operator==(const ReplicaMethod&) const = default;
};

struct PostgresqlConfig {
  // pg_basebackup's extra options (postgresql.basebackup), as arguments:
  // "--max-rate=100M", "--verbose". They come after pgtandem's own and win.
  std::vector<std::string> basebackup;
  std::string listen;
  std::string connect_address;
  std::string data_dir;
  std::string bin_dir;
  Credentials superuser, replication, rewind;
  std::map<std::string, std::string> parameters;
  std::map<std::string, std::string> callbacks;  // on_start, on_stop, ..., pre_promote
  std::vector<ReplicaMethod> create_replica_methods;
  // Every postgresql.<name> mapping with a command, by name: what
  // standby_cluster.create_replica_methods refers to.
  std::map<std::string, ReplicaMethod> method_definitions;
  std::vector<std::string> pg_hba;
  bool use_pg_rewind = false;
  bool remove_data_directory_on_rewind_failure = false;
};

// bootstrap.users (Patroni < 4): roles created after initdb.
struct BootstrapUser {
  std::string name;
  std::string password;
  std::vector<std::string> options;  // createrole, createdb, ...
};

struct BootstrapConfig {
  DynamicConfig dcs;
  std::vector<std::string> initdb;  // already as initdb arguments: --encoding=UTF8, --data-checksums
  std::vector<std::string> pg_hba;
  std::vector<BootstrapUser> users;
  std::string post_bootstrap;  // script run once after initdb (Patroni's post_bootstrap / post_init)
};

struct WatchdogConfig {
  std::string mode = "automatic";  // off | automatic | required
  std::string device = "/dev/watchdog";
  int safety_margin = 5;

  bool operator==(const WatchdogConfig&) const = default;
};

struct Config {
  std::string source_file;
  std::string scope;
  std::string namespace_ = "/service/";
  std::string name;
  std::string log_level = "INFO";
  RestApiConfig restapi;
  EtcdConfig etcd;
  BootstrapConfig bootstrap;
  PostgresqlConfig postgresql;
  std::map<std::string, std::string> tags;  // tag -> JSON text
  WatchdogConfig watchdog;
  CtlConfig ctl;
};

struct ConfigIssue {
  std::string file;
  int line = 0;  // 1-based; 0 when it does not come from a line (environment)
  std::string key;  // dotted path, e.g. bootstrap.dcs.ttl
  std::string message;

  std::string toString() const;
};

struct LoadedConfig {
  Config config;
  std::vector<ConfigIssue> warnings;
};

using Environment = std::map<std::string, std::string>;

// The process environment, for production callers.
Environment processEnvironment();

// Who reads the file: a dc-agent needs a whole node's configuration; dcctl
// only needs the DCS (and takes the rest from the command line).
enum class ConfigPurpose { kAgent, kClient };

// Parses YAML text. `file` is used in messages. On failure the error's
// message lists every problem found, one per line.
Result<LoadedConfig> parseConfig(const std::string& yaml_text, const std::string& file, const Environment& env,
                                 ConfigPurpose purpose = ConfigPurpose::kAgent);

// Reads and parses a file.
Result<LoadedConfig> loadConfigFile(const std::string& path, const Environment& env,
                                    ConfigPurpose purpose = ConfigPurpose::kAgent);

// Patroni's timing rule, also used when /config changes at run time.
Status validateTiming(int ttl, int loop_wait, int retry_timeout);

}  // namespace pgtandem::config
