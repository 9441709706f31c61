// What a re-read patroni.yml changes in a running agent
// (common/config/reload.h): live keys take their new value, the others keep
// the running one and are named.

#include <gtest/gtest.h>

#include <algorithm>

#include "common/config/reload.h"

namespace pgtandem::config {
namespace {

const char* kBase = R"(scope: batman
name: pg1
log:
  level: INFO
restapi:
  listen: 127.0.0.1:8008
  connect_address: 127.0.0.1:8008
etcd3:
  hosts: 127.0.0.1:2379
bootstrap:
  dcs:
    ttl: 30
postgresql:
  listen: 127.0.0.1:5432
  connect_address: 127.0.0.1:5432
  data_dir: /var/lib/postgresql/15/main
  parameters:
    work_mem: 4MB
  pg_hba:
  - host all all 10.0.0.0/8 scram-sha-256
  authentication:
    superuser:
      username: postgres
    replication:
      username: replicator
)";

Config parse(const std::string& yaml) {
  auto loaded = parseConfig(yaml, "patroni.yml", {});
  EXPECT_TRUE(loaded.ok()) << (loaded.ok() ? "" : loaded.error().message);
  return loaded.ok() ? loaded->config : Config{};
}

std::string edited(std::string yaml, const std::string& from, const std::string& to) {
  const auto at = yaml.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return at == std::string::npos ? yaml : yaml.replace(at, from.size(), to);
}

bool has(const std::vector<std::string>& keys, const std::string& key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

TEST(Reload, TheSameFileChangesNothing) {
  const Config running = parse(kBase);
  const ReloadPlan plan = planReload(running, parse(kBase));
  EXPECT_TRUE(plan.applied.empty());
  EXPECT_TRUE(plan.need_restart.empty());
  EXPECT_TRUE(plan.ignored.empty());
  EXPECT_FALSE(plan.restApiTlsChanged(running));
}

TEST(Reload, LiveKeysTakeTheirNewValue) {
  const Config running = parse(kBase);
  std::string yaml = edited(kBase, "  level: INFO", "  level: DEBUG\ntags:\n  nofailover: true");
  yaml = edited(yaml, "work_mem: 4MB", "work_mem: 8MB");
  yaml = edited(yaml, "10.0.0.0/8", "10.1.0.0/16");
  yaml = edited(yaml, "  connect_address: 127.0.0.1:8008\n",
                "  connect_address: 127.0.0.1:8008\n  authentication:\n    username: admin\n    password: s3cret\n");
  const ReloadPlan plan = planReload(running, parse(yaml));
  for (const char* key : {"log_level", "tags", "postgresql.parameters", "postgresql.pg_hba", "restapi.authentication"}) {
    EXPECT_TRUE(has(plan.applied, key)) << key;
  }
  EXPECT_TRUE(plan.need_restart.empty());
  EXPECT_EQ(plan.next.log_level, "DEBUG");
  EXPECT_EQ(plan.next.tags.at("nofailover"), "true");
  EXPECT_EQ(plan.next.postgresql.parameters.at("work_mem"), "8MB");
  EXPECT_EQ(plan.next.postgresql.pg_hba.at(0), "host all all 10.1.0.0/16 scram-sha-256");
  EXPECT_EQ(plan.next.restapi.authentication.username, "admin");
}

TEST(Reload, WhatNamesOrPlacesTheNodeWaitsForARestart) {
  const Config running = parse(kBase);
  std::string yaml = edited(kBase, "name: pg1", "name: pg9");
  yaml = edited(yaml, "listen: 127.0.0.1:8008", "listen: 127.0.0.1:8009");
  yaml = edited(yaml, "data_dir: /var/lib/postgresql/15/main", "data_dir: /srv/pg");
  yaml = edited(yaml, "ttl: 30", "ttl: 40");
  const ReloadPlan plan = planReload(running, parse(yaml));
  for (const char* key : {"name", "restapi.listen", "postgresql.data_dir"}) EXPECT_TRUE(has(plan.need_restart, key)) << key;
  EXPECT_TRUE(has(plan.ignored, "bootstrap"));
  EXPECT_TRUE(plan.applied.empty());
  EXPECT_EQ(plan.next.name, "pg1") << "keeps its running value";
  EXPECT_EQ(plan.next.restapi.listen, "127.0.0.1:8008");
  EXPECT_EQ(plan.next.postgresql.data_dir, "/var/lib/postgresql/15/main");
  EXPECT_EQ(plan.next.bootstrap.dcs.ttl, 30);
}

TEST(Reload, TlsChangesAreSeen) {
  const Config running = parse(kBase);
  const std::string yaml = edited(kBase, "  connect_address: 127.0.0.1:8008\n",
                                  "  connect_address: 127.0.0.1:8008\n  certfile: /etc/pgtandem/rest.pem\n");
  const ReloadPlan plan = planReload(running, parse(yaml));
  EXPECT_TRUE(plan.restApiTlsChanged(running));
  EXPECT_EQ(plan.next.restapi.certfile, "/etc/pgtandem/rest.pem");
}

}  // namespace
}  // namespace pgtandem::config
