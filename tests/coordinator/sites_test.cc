#include "coordinator/sites.h"

#include <gtest/gtest.h>

namespace pgtandem::coordinator {
namespace {

const char* kSites = R"(sites:
  dc1:
    etcd3:
      hosts: 10.0.1.1:2379,10.0.1.2:2379
    scope: pg
    entry_points:
      write: 10.0.1.10:5000
      read: 10.0.1.10:5001
    archive: /srv/archive/dc1
    standby_cluster:
      host: 10.0.2.10
      port: 5002
      primary_slot_name: dc1
    superuser: {username: admin, password: s3cret}
  dc2:
    etcd3:
      hosts: [10.0.2.1:2379]
    namespace: dr
    scope: pg
    archive: /srv/archive/dc2
switchover:
  maximum_lag_bytes: 1048576
coordinator:
  listen: 127.0.0.1:7000
)";

TEST(Sites, ParsesTwoDataCenters) {
  auto sites = parseSites(kSites, "sites.yml");
  ASSERT_TRUE(sites.ok()) << sites.error().message;
  ASSERT_EQ(sites->sites.size(), 2u);
  const Site& dc1 = sites->sites[0];
  EXPECT_EQ(dc1.name, "dc1");
  EXPECT_EQ(dc1.etcd.hosts, (std::vector<std::string>{"10.0.1.1:2379", "10.0.1.2:2379"}));
  EXPECT_EQ(dc1.namespace_, "/service/");
  EXPECT_EQ(dc1.entry_points.write, "10.0.1.10:5000");
  EXPECT_EQ(sites->site("dc2")->namespace_, "/dr/");
  EXPECT_EQ(sites->other("dc1")->name, "dc2");
  EXPECT_EQ(sites->site("dc3"), nullptr);
  EXPECT_EQ(dc1.standby_cluster_json, R"({"host":"10.0.2.10","port":5002,"primary_slot_name":"dc1"})");
  EXPECT_EQ(dc1.superuser.username, "admin");
  EXPECT_EQ(dc1.superuser.password, "s3cret");
  EXPECT_EQ(sites->site("dc2")->superuser.username, "postgres");
  EXPECT_EQ(sites->site("dc2")->standby_cluster_json, "");
  EXPECT_EQ(sites->switchover.maximum_lag_bytes, 1048576);
  EXPECT_EQ(sites->switchover.maximum_transaction_seconds, 15);
  EXPECT_EQ(sites->listen, "127.0.0.1:7000");
  EXPECT_TRUE(sites->warnings.empty());
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

struct BadSites {
  const char* what;
  std::string yaml;
  std::string expected;
};

class BadSitesTest : public ::testing::TestWithParam<BadSites> {};

TEST_P(BadSitesTest, NamesFileLineAndKey) {
  auto sites = parseSites(GetParam().yaml, "/etc/pgtandem/sites.yml");
  ASSERT_FALSE(sites.ok()) << GetParam().what;
  EXPECT_EQ(sites.error().code, ErrorCode::kConfig);
  EXPECT_NE(sites.error().message.find(GetParam().expected), std::string::npos)
      << GetParam().what << ": expected '" << GetParam().expected << "' in:\n" << sites.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadSitesTest,
    ::testing::Values(
        BadSites{"not YAML", replace(kSites, "scope: pg\n    entry", "scope: [pg\n    entry"), "/etc/pgtandem/sites.yml:"},
        BadSites{"one site", std::string("sites:\n  dc1:\n    etcd3: {hosts: a:1}\n    scope: pg\n"),
                 "/etc/pgtandem/sites.yml:2: sites: must name exactly two data centers, got 1"},
        BadSites{"no etcd", replace(kSites, "    etcd3:\n      hosts: [10.0.2.1:2379]\n", ""), "sites.dc2.etcd3.hosts: is required"},
        BadSites{"no scope", replace(kSites, "    namespace: dr\n    scope: pg\n", ""), "sites.dc2.scope: is required"},
        BadSites{"bad entry point", replace(kSites, "write: 10.0.1.10:5000", "write: 10.0.1.10"),
                 "/etc/pgtandem/sites.yml:7: sites.dc1.entry_points.write: must be host:port, got '10.0.1.10'"},
        BadSites{"same cluster twice",
                 replace(replace(kSites, "hosts: [10.0.2.1:2379]", "hosts: 10.0.1.1:2379,10.0.1.2:2379"), "    namespace: dr\n", ""),
                 "sites.dc2: is the same cluster as sites.dc1"},
        BadSites{"lag not a number", replace(kSites, "maximum_lag_bytes: 1048576", "maximum_lag_bytes: lots"),
                 "/etc/pgtandem/sites.yml:22: switchover.maximum_lag_bytes: must be an integer, got 'lots'"},
        BadSites{"bad listen", replace(kSites, "listen: 127.0.0.1:7000", "listen: 7000"), "coordinator.listen: must be host:port"},
        BadSites{"upgrade: a bad ssh port", std::string(kSites) + "upgrade:\n  ssh:\n    port: 70000\n",
                 "upgrade.ssh.port: must be a port number"},
        BadSites{"upgrade: an empty install command", std::string(kSites) + "upgrade:\n  install: ''\n",
                 "upgrade.install: must not be empty"},
        BadSites{"upgrade: a short timeout", std::string(kSites) + "upgrade:\n  install_timeout_seconds: 1\n",
                 "upgrade.install_timeout_seconds: must be at least 10"}));

TEST(Sites, TheUpgradeSectionAndItsCommands) {
  auto none = parseSites(kSites, "sites.yml");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->upgrade.configured);
  auto sites = parseSites(std::string(kSites) + "upgrade:\n  ssh: {user: admin, port: 2222, key_file: /k, known_hosts: /kh}\n"
                                                "  install: 'install-pg {version} && echo {version}'\n",
                          "sites.yml");
  ASSERT_TRUE(sites.ok()) << sites.error().message;
  const UpgradeSettings& u = sites->upgrade;
  EXPECT_TRUE(u.configured);
  EXPECT_EQ(u.ssh_user, "admin");
  EXPECT_EQ(u.ssh_port, 2222);
  EXPECT_EQ(u.ssh_key_file, "/k");
  EXPECT_EQ(u.ssh_known_hosts, "/kh");
  EXPECT_EQ(upgradeCommand(u.install, "15.20"), "install-pg 15.20 && echo 15.20");
  EXPECT_EQ(upgradeCommand(u.dry_run, "15.20"), "apt-get install -s -q postgresql-15='15.20-*'") << "the default dry run";
  EXPECT_EQ(upgradeCommand("no placeholder", "15.20"), "no placeholder");
}

TEST(Sites, UnknownKeysAreWarningsWithTheirLine) {
  auto sites = parseSites(replace(kSites, "    archive: /srv/archive/dc1\n", "    archive: /srv/archive/dc1\n    archvie: x\n"), "s.yml");
  ASSERT_TRUE(sites.ok()) << sites.error().message;
  ASSERT_EQ(sites->warnings.size(), 1u);
  EXPECT_EQ(sites->warnings[0].toString(), "s.yml:10: sites.dc1.archvie: is not a known setting; ignored (a typo?)");
}

TEST(Sites, MissingFileIsAClearError) {
  auto sites = loadSitesFile("/nonexistent/sites.yml");
  ASSERT_FALSE(sites.ok());
  EXPECT_EQ(sites.error().message, "/nonexistent/sites.yml: cannot open the sites file");
}

TEST(Sites, AnUnknownStandbyClusterKeyIsReportedWithItsLine) {
  std::string text = kSites;
  text.replace(text.find("      primary_slot_name: dc1"), 26, "      primary_slot: dc1");
  auto sites = parseSites(text, "sites.yml");
  ASSERT_TRUE(sites.ok()) << sites.error().message;
  ASSERT_EQ(sites->warnings.size(), 1u);
  EXPECT_NE(sites->warnings[0].toString().find("sites.yml:13"), std::string::npos) << sites->warnings[0].toString();
  EXPECT_NE(sites->warnings[0].toString().find("primary_slot"), std::string::npos);
}

}  // namespace
}  // namespace pgtandem::coordinator
