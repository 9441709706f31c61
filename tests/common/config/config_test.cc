// Loading Patroni's patroni.yml: a full file as Patroni's docs write it,
// environment overrides, and broken files whose messages must name the file,
// the line and the key.

#include <gtest/gtest.h>

#include "common/config/config.h"
#include "common/config/dynamic_json.h"

namespace pgtandem::config {
namespace {

// Shaped like Patroni's postgres0.yml example.
const char* kPatroniYaml = R"(scope: batman
namespace: /service/
name: postgresql0

restapi:
  listen: 127.0.0.1:8008
  connect_address: 127.0.0.1:8008
  authentication:
    username: admin
    password: secret

etcd3:
  hosts: 127.0.0.1:2379,127.0.0.2:2379

bootstrap:
  dcs:
    ttl: 30
    loop_wait: 10
    retry_timeout: 10
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        max_wal_senders: 10
    slots:
      dr_slot:
        type: physical
  initdb:
  - encoding: UTF8
  - data-checksums
  pg_hba:
  - host replication replicator 127.0.0.1/32 md5
  - host all all 0.0.0.0/0 md5
  users:
    admin:
      password: admin%
      options:
        - createrole
        - createdb

postgresql:
  listen: 127.0.0.1:5432
  connect_address: 127.0.0.1:5432
  data_dir: data/postgresql0
  bin_dir: /usr/lib/postgresql/15/bin
  pgpass: /tmp/pgpass0
  authentication:
    replication:
      username: replicator
      password: rep-pass
    superuser:
      username: postgres
      password: zalando
    rewind:
      username: rewind_user
      password: rewind_password
  parameters:
    unix_socket_directories: '..'
  callbacks:
    on_role_change: /usr/local/bin/role_change.sh
  create_replica_methods:
  - pgbackrest
  - basebackup
  pgbackrest:
    command: /usr/bin/pgbackrest --stanza=batman --delta restore
    keep_data: true
    no_params: true

watchdog:
  mode: automatic
  device: /dev/watchdog
  safety_margin: 5

tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
  nosync: false
  dc: east
)";

TEST(ConfigTest, LoadsPatronisExampleUnchanged) {
  auto loaded = parseConfig(kPatroniYaml, "patroni.yml", {});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_TRUE(loaded->warnings.empty()) << loaded->warnings[0].toString();
  const Config& c = loaded->config;
  EXPECT_EQ(c.scope, "batman");
  EXPECT_EQ(c.name, "postgresql0");
  EXPECT_EQ(c.restapi.authentication.username, "admin");
  EXPECT_EQ(c.etcd.hosts, (std::vector<std::string>{"127.0.0.1:2379", "127.0.0.2:2379"}));
  EXPECT_EQ(c.bootstrap.dcs.ttl, 30);
  EXPECT_TRUE(c.bootstrap.dcs.use_pg_rewind);
  EXPECT_EQ(c.bootstrap.dcs.parameters.at("max_wal_senders"), "10");
  EXPECT_EQ(c.bootstrap.dcs.slots.at("dr_slot").at("type"), "physical");
  EXPECT_EQ(c.bootstrap.initdb, (std::vector<std::string>{"--encoding=UTF8", "--data-checksums"}));
  EXPECT_EQ(c.bootstrap.pg_hba.size(), 2u);
  ASSERT_EQ(c.bootstrap.users.size(), 1u);
  EXPECT_EQ(c.bootstrap.users[0].name, "admin");
  EXPECT_EQ(c.bootstrap.users[0].options, (std::vector<std::string>{"createrole", "createdb"}));
  EXPECT_EQ(c.postgresql.replication.username, "replicator");
  EXPECT_EQ(c.postgresql.rewind.password, "rewind_password");
  EXPECT_EQ(c.postgresql.callbacks.at("on_role_change"), "/usr/local/bin/role_change.sh");
  ASSERT_EQ(c.postgresql.create_replica_methods.size(), 2u);
  EXPECT_EQ(c.postgresql.create_replica_methods[0].name, "pgbackrest");
  EXPECT_EQ(c.postgresql.create_replica_methods[0].options.at("keep_data"), "true");
  EXPECT_EQ(c.tags.at("nofailover"), "false");
  EXPECT_EQ(c.tags.at("dc"), "\"east\"");
  EXPECT_EQ(c.watchdog.mode, "automatic");
}

TEST(ConfigTest, EnvironmentOverridesTheFile) {
  Environment env{{"PATRONI_NAME", "from-env"},
                  {"PATRONI_ETCD3_HOSTS", "10.1.1.1:2379,10.1.1.2:2379"},
                  {"PATRONI_POSTGRESQL_DATA_DIR", "/srv/pg"},
                  {"PATRONI_REPLICATION_PASSWORD", "env-pass"},
                  {"PATRONI_RESTAPI_LISTEN", "0.0.0.0:9008"}};
  auto loaded = parseConfig(kPatroniYaml, "patroni.yml", env);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->config.name, "from-env");
  EXPECT_EQ(loaded->config.etcd.hosts.size(), 2u);
  EXPECT_EQ(loaded->config.etcd.hosts[0], "10.1.1.1:2379");
  EXPECT_EQ(loaded->config.postgresql.data_dir, "/srv/pg");
  EXPECT_EQ(loaded->config.postgresql.replication.password, "env-pass");
  EXPECT_EQ(loaded->config.restapi.listen, "0.0.0.0:9008");
}

TEST(ConfigTest, EnvironmentCanSupplyRequiredKeys) {
  Environment env{{"PATRONI_SCOPE", "s"},
                  {"PATRONI_NAME", "n"},
                  {"PATRONI_RESTAPI_LISTEN", "127.0.0.1:8008"},
                  {"PATRONI_RESTAPI_CONNECT_ADDRESS", "127.0.0.1:8008"},
                  {"PATRONI_ETCD3_HOST", "127.0.0.1:2379"},
                  {"PATRONI_POSTGRESQL_LISTEN", "127.0.0.1:5432"},
                  {"PATRONI_POSTGRESQL_CONNECT_ADDRESS", "127.0.0.1:5432"},
                  {"PATRONI_POSTGRESQL_DATA_DIR", "/srv/pg"},
                  {"PATRONI_SUPERUSER_USERNAME", "postgres"},
                  {"PATRONI_REPLICATION_USERNAME", "replicator"}};
  auto loaded = parseConfig("", "empty.yml", env);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->config.scope, "s");
}

struct BrokenCase {
  const char* what;
  std::string yaml;
  std::vector<std::string> expected_in_message;  // each must appear
};

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

class BrokenConfigTest : public ::testing::TestWithParam<BrokenCase> {};

TEST_P(BrokenConfigTest, FailsWithFileLineAndKey) {
  auto loaded = parseConfig(GetParam().yaml, "/etc/patroni.yml", {});
  ASSERT_FALSE(loaded.ok()) << GetParam().what;
  EXPECT_EQ(loaded.error().code, ErrorCode::kConfig);
  for (const auto& expected : GetParam().expected_in_message) {
    EXPECT_NE(loaded.error().message.find(expected), std::string::npos)
        << GetParam().what << ": expected '" << expected << "' in:\n" << loaded.error().message;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BrokenConfigTest,
    ::testing::Values(
        BrokenCase{"bad YAML", replace(kPatroniYaml, "  ttl: 30", "  ttl: [30"), {"/etc/patroni.yml:", "not valid YAML"}},
        BrokenCase{"ttl not a number", replace(kPatroniYaml, "ttl: 30", "ttl: thirty"),
                   {"/etc/patroni.yml:17: bootstrap.dcs.ttl: must be an integer, got 'thirty'"}},
        BrokenCase{"bool of wrong type", replace(kPatroniYaml, "use_pg_rewind: true", "use_pg_rewind: maybe"),
                   {"/etc/patroni.yml:22: bootstrap.dcs.postgresql.use_pg_rewind: must be true or false"}},
        BrokenCase{"section of wrong type", replace(kPatroniYaml, "restapi:\n  listen: 127.0.0.1:8008",
                                                    "restapi: 8008\nx:\n  listen: 127.0.0.1:8008"),
                   {"restapi: must be a mapping", "restapi.listen: is required"}},
        BrokenCase{"missing scope and data_dir",
                   replace(replace(kPatroniYaml, "scope: batman\n", ""), "  data_dir: data/postgresql0\n", ""),
                   {"scope: is required", "postgresql.data_dir: is required"}},
        BrokenCase{"no etcd", replace(kPatroniYaml, "etcd3:\n  hosts: 127.0.0.1:2379,127.0.0.2:2379", ""),
                   {"etcd3.hosts: is required"}},
        BrokenCase{"timing rule", replace(kPatroniYaml, "retry_timeout: 10", "retry_timeout: 11"),
                   {"bootstrap.dcs.ttl", "loop_wait + 2*retry_timeout must not exceed ttl (10 + 2*11 > 30)"}},
        BrokenCase{"ttl too small", replace(kPatroniYaml, "ttl: 30", "ttl: 2"), {"ttl must be at least 4"}},
        BrokenCase{"bad listen", replace(kPatroniYaml, "listen: 127.0.0.1:5432", "listen: 127.0.0.1"),
                   {"/etc/patroni.yml:45: postgresql.listen: must be host:port"}},
        BrokenCase{"custom replica method without command",
                   replace(kPatroniYaml, "    command: /usr/bin/pgbackrest --stanza=batman --delta restore\n", ""),
                   {"postgresql.pgbackrest", "needs a mapping with a 'command'"}},
        BrokenCase{"standby cluster without source",
                   replace(kPatroniYaml, "    slots:\n", "    standby_cluster:\n      port: 5432\n    slots:\n"),
                   {"bootstrap.dcs.standby_cluster: needs 'host' or 'restore_command'"}},
        BrokenCase{"standby cluster names an undefined replica method",
                   replace(kPatroniYaml, "    slots:\n",
                           "    standby_cluster:\n      restore_command: cp %f %p\n      create_replica_methods: [from_backup]\n    slots:\n"),
                   {"bootstrap.dcs.standby_cluster.create_replica_methods: names 'from_backup', but postgresql.from_backup has no 'command'"}}));

// A method only a standby cluster uses is defined under postgresql like any
// other, and is neither a warning nor an error.
TEST(ConfigTest, StandbyClusterReplicaMethodsAreLookedUpUnderPostgresql) {
  std::string yaml = replace(kPatroniYaml, "    slots:\n",
                             "    standby_cluster:\n      restore_command: cp /a/%f %p\n"
                             "      recovery_min_apply_delay: 300000\n"
                             "      create_replica_methods: [from_backup, basebackup]\n    slots:\n");
  yaml = replace(yaml, "  pgbackrest:\n", "  from_backup:\n    command: /usr/local/bin/restore.sh\n    no_params: true\n  pgbackrest:\n");
  auto loaded = parseConfig(yaml, "p.yml", {});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_TRUE(loaded->warnings.empty()) << loaded->warnings.front().toString();
  const auto& c = loaded->config;
  ASSERT_TRUE(c.postgresql.method_definitions.count("from_backup"));
  EXPECT_EQ(c.postgresql.method_definitions.at("from_backup").options.at("command"), "/usr/local/bin/restore.sh");
  EXPECT_EQ(c.bootstrap.dcs.standby_cluster->create_replica_methods, (std::vector<std::string>{"from_backup", "basebackup"}));
  EXPECT_EQ(c.bootstrap.dcs.standby_cluster->recovery_min_apply_delay, "300000");
  // Also through /config, where the delay may be a number of milliseconds.
  auto dynamic = parseDynamicJson(R"({"standby_cluster":{"restore_command":"cp %f %p","recovery_min_apply_delay":60000,)"
                                  R"("archive_cleanup_command":"pg_archivecleanup /a %r"}})", {});
  ASSERT_TRUE(dynamic.ok()) << dynamic.error().message;
  EXPECT_EQ(dynamic->config.standby_cluster->recovery_min_apply_delay, "60000");
  EXPECT_EQ(dynamic->config.standby_cluster->archive_cleanup_command, "pg_archivecleanup /a %r");
}

TEST(ConfigTest, UnknownAndUnsupportedKeysAreWarnings) {
  std::string yaml = replace(kPatroniYaml, "watchdog:\n", "kubernetes:\n  labels: {}\nwatchdgo: 1\nwatchdog:\n");
  yaml = replace(yaml, "  bin_dir:", "  data_dri: x\n  bin_dir:");
  auto loaded = parseConfig(yaml, "p.yml", {});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  std::vector<std::string> messages;
  for (const auto& w : loaded->warnings) messages.push_back(w.toString());
  ASSERT_EQ(messages.size(), 3u);
  auto has = [&](const std::string& text) {
    return std::any_of(messages.begin(), messages.end(), [&](const auto& m) { return m.find(text) != std::string::npos; });
  };
  EXPECT_TRUE(has("p.yml:48: postgresql.data_dri: is not a known setting")) << messages[0];
  EXPECT_TRUE(has("kubernetes: is a Patroni setting that pgtandem does not support yet"));
  EXPECT_TRUE(has("watchdgo: is not a known setting"));
}


TEST(ConfigTest, MaximumLagOnSyncnodeIsReadFromPatroniYmlAndFromConfig) {
  auto off = parseConfig(kPatroniYaml, "p.yml", {});
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_EQ(off->config.bootstrap.dcs.maximum_lag_on_syncnode, -1) << "Patroni's default: off";
  const std::string yaml = replace(kPatroniYaml, "    maximum_lag_on_failover: 1048576\n",
                                   "    maximum_lag_on_failover: 1048576\n    maximum_lag_on_syncnode: 8388608\n");
  auto loaded = parseConfig(yaml, "p.yml", {});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->config.bootstrap.dcs.maximum_lag_on_syncnode, 8388608);
  EXPECT_TRUE(loaded->warnings.empty()) << loaded->warnings.front().toString();
  auto dynamic = parseDynamicJson(R"({"maximum_lag_on_syncnode":1048576})", {});
  ASSERT_TRUE(dynamic.ok()) << dynamic.error().message;
  EXPECT_EQ(dynamic->config.maximum_lag_on_syncnode, 1048576);
  EXPECT_EQ(parseDynamicJson(toJson(dynamic->config), {})->config.maximum_lag_on_syncnode, 1048576);
  EXPECT_FALSE(parseDynamicJson(R"({"maximum_lag_on_syncnode":"lots"})", {}).ok());
  auto bad = parseConfig(replace(yaml, "maximum_lag_on_syncnode: 8388608", "maximum_lag_on_syncnode: lots"), "p.yml", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("maximum_lag_on_syncnode"), std::string::npos) << bad.error().message;
}

// Patroni settings pgtandem does not act on are named with their line, not
// accepted in silence: an operator relying on one must hear about it.
TEST(ConfigTest, PatroniSettingsNotActedOnAreWarnings) {
  std::string yaml = replace(kPatroniYaml, "  pgpass: /tmp/pgpass0\n",
                             "  pgpass: /tmp/pgpass0\n  config_dir: /etc/pg\n  basebackup:\n  - checkpoint: fast\n");
  yaml = replace(yaml, "      username: replicator\n", "      username: replicator\n      sslmode: verify-full\n");
  yaml = replace(yaml, "    maximum_lag_on_failover: 1048576\n",
                 "    maximum_lag_on_failover: 1048576\n    failsafe_mode: true\n    check_timeline: true\n    member_slots_ttl: 1h\n");
  yaml = replace(yaml, "  listen: 127.0.0.1:8008\n", "  listen: 127.0.0.1:8008\n  ciphers: HIGH\n");
  yaml = replace(yaml, "    on_role_change:", "    before_stop: /bin/true\n    on_role_change:");
  auto loaded = parseConfig(yaml, "p.yml", {});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  std::vector<std::string> messages;
  for (const auto& w : loaded->warnings) messages.push_back(w.toString());
  auto has = [&](const std::string& text) {
    return std::any_of(messages.begin(), messages.end(), [&](const auto& m) { return m.find(text) != std::string::npos; });
  };
  const std::string unsupported = ": is a Patroni setting that pgtandem does not support yet; ignored";
  EXPECT_TRUE(has("postgresql.config_dir" + unsupported));
  EXPECT_FALSE(has("postgresql.basebackup")) << "acted on now";
  EXPECT_EQ(loaded->config.postgresql.basebackup, std::vector<std::string>{"--checkpoint=fast"});
  EXPECT_TRUE(has("postgresql.authentication.replication.sslmode" + unsupported));
  EXPECT_TRUE(has("bootstrap.dcs.member_slots_ttl" + unsupported));
  EXPECT_TRUE(has("restapi.ciphers" + unsupported));
  EXPECT_TRUE(has("postgresql.callbacks.before_stop" + unsupported));
  EXPECT_TRUE(has("bootstrap.dcs.check_timeline: is not acted on yet"));
  EXPECT_FALSE(has("failsafe_mode")) << "acted on now (dc-agent/ha/failsafe.h)";
  EXPECT_TRUE(loaded->config.bootstrap.dcs.failsafe_mode);
  EXPECT_EQ(messages.size(), 6u) << ::testing::PrintToString(messages);

  // watchdog: required is honoured (dc-agent/ha/watchdog.h); a bad mode names its line.
  const std::string required = replace(kPatroniYaml, "  mode: automatic\n", "  mode: required\n");
  auto accepted = parseConfig(required, "p.yml", {});
  ASSERT_TRUE(accepted.ok()) << accepted.error().message;
  EXPECT_EQ(accepted->config.watchdog.mode, "required");
  auto bad = parseConfig(replace(kPatroniYaml, "  mode: automatic\n", "  mode: sometimes\n"), "p.yml", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("watchdog.mode: must be off, automatic or required"), std::string::npos)
      << bad.error().message;
}
// postgresql.basebackup in both of Patroni's forms; a bad entry names its line.
TEST(ConfigTest, BasebackupOptionsAsAListOrAMapping) {
  auto list = parseConfig(replace(kPatroniYaml, "  pgpass: /tmp/pgpass0\n",
                                  "  pgpass: /tmp/pgpass0\n  basebackup:\n  - verbose\n  - max-rate: 100M\n"),
                          "p.yml", {});
  ASSERT_TRUE(list.ok()) << list.error().message;
  EXPECT_EQ(list->config.postgresql.basebackup, (std::vector<std::string>{"--verbose", "--max-rate=100M"}));
  auto mapping = parseConfig(replace(kPatroniYaml, "  pgpass: /tmp/pgpass0\n",
                                     "  pgpass: /tmp/pgpass0\n  basebackup:\n    checkpoint: spread\n    waldir: /wal\n"),
                             "p.yml", {});
  ASSERT_TRUE(mapping.ok()) << mapping.error().message;
  EXPECT_EQ(mapping->config.postgresql.basebackup, (std::vector<std::string>{"--checkpoint=spread", "--waldir=/wal"}));
  auto bad = parseConfig(replace(kPatroniYaml, "  pgpass: /tmp/pgpass0\n",
                                 "  pgpass: /tmp/pgpass0\n  basebackup:\n    max-rate: [1, 2]\n"),
                         "p.yml", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("postgresql.basebackup.max-rate: must be a single value"), std::string::npos)
      << bad.error().message;
}

TEST(ConfigTest, MissingFileIsAClearError) {
  auto loaded = loadConfigFile("/nonexistent/patroni.yml", {});
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().message, "/nonexistent/patroni.yml: cannot open the configuration file");
}

TEST(ConfigTest, TimingRuleAllowsShortTtlOnALan) {
  EXPECT_TRUE(validateTiming(5, 1, 2).ok());
  EXPECT_FALSE(validateTiming(5, 2, 2).ok());
  EXPECT_TRUE(validateTiming(30, 10, 10).ok());
}

TEST(DynamicJsonTest, StandbyClusterComesFromConfigOnly) {
  DynamicConfig defaults;
  defaults.standby_cluster = StandbyClusterConfig{{"seed"}, 5432, "", {}, "", "", ""};
  // Present: parsed (host as a string list or an array).
  auto parsed = parseDynamicJson(R"({"standby_cluster":{"host":"a,b","port":"5433","primary_slot_name":"dr","restore_command":"cp %f %p"}})", defaults);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  ASSERT_TRUE(parsed->config.standby_cluster);
  EXPECT_EQ(parsed->config.standby_cluster->hosts, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(parsed->config.standby_cluster->port, 5433);
  EXPECT_EQ(parsed->config.standby_cluster->primary_slot_name, "dr");
  EXPECT_EQ(parsed->config.standby_cluster->restore_command, "cp %f %p");
  auto round = parseDynamicJson(toJson(parsed->config), {});
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(round->config.standby_cluster->hosts, parsed->config.standby_cluster->hosts);
  EXPECT_TRUE(parseDynamicJson(R"({"standby_cluster":{"host":["x","y"]}})", {})->config.standby_cluster);
  // Absent or null in /config: not a standby cluster, whatever the seed said.
  EXPECT_FALSE(parseDynamicJson(R"({"ttl":30})", defaults)->config.standby_cluster);
  EXPECT_FALSE(parseDynamicJson(R"({"standby_cluster":null})", defaults)->config.standby_cluster);
  // Wrong types are errors that name the key.
  auto bad = parseDynamicJson(R"({"standby_cluster":{"host":5}})", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("standby_cluster.host"), std::string::npos);
  EXPECT_FALSE(parseDynamicJson(R"({"standby_cluster":"dc1"})", {}).ok());
}

}  // namespace
}  // namespace pgtandem::config
