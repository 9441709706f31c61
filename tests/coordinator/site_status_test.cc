#include "coordinator/site_status.h"

#include <gtest/gtest.h>

#include "common/dcs/memory_dcs.h"

namespace pgtandem::coordinator {
namespace {

// Two DCs in two in-memory DCSs, as their agents would have written them.
class SiteStatusTest : public ::testing::Test {
 protected:
  SiteStatusTest() {
    sites_.source_file = "sites.yml";
    sites_.sites.resize(2);
    sites_.sites[0].name = "dc1";
    sites_.sites[0].scope = "pg";
    sites_.sites[1].name = "dc2";
    sites_.sites[1].scope = "pgdr";
  }

  void put(const std::string& site, const std::string& key, const std::string& value) {
    ASSERT_TRUE(stores_[site]->connect()->put(key, value, 0).ok());
  }

  void writeDc(const std::string& site, const std::string& scope, const std::string& sysid, const std::string& config,
               const std::string& leader, const std::string& leader_json) {
    const std::string base = "/service/" + scope + "/";
    put(site, base + "initialize", sysid);
    put(site, base + "config", config);
    put(site, base + "leader", leader);
    put(site, base + "members/" + leader, leader_json);
  }

  DcsFactory factory() {
    return [this](const Site& site) -> Result<std::unique_ptr<dcs::Dcs>> {
      if (down_ == site.name) return makeError(ErrorCode::kUnavailable, "connection refused");
      return std::unique_ptr<dcs::Dcs>(stores_[site.name]->connect());
    };
  }

  SitesConfig sites_;
  SimulatedClock clock_;
  std::map<std::string, std::shared_ptr<dcs::MemoryStore>> stores_{{"dc1", dcs::MemoryStore::create(clock_)},
                                                                   {"dc2", dcs::MemoryStore::create(clock_)}};
  std::string down_;
};

TEST_F(SiteStatusTest, ShowsBothDcsAndTheirRoles) {
  writeDc("dc1", "pg", "7301", R"({"ttl":30})", "pg1", R"({"role":"primary","state":"running","timeline":3})");
  writeDc("dc2", "pgdr", "7301", R"({"standby_cluster":{"host":"10.0.1.10","port":5000}})", "dr1",
          R"({"role":"standby_leader","state":"running","timeline":3,"standby_lag":{"source":"stream","bytes":128,"seconds":0}})");
  put("dc1", "/service/pg/site", R"({"role":"primary","epoch":2})");
  const auto views = gatherSites(sites_, factory());
  ASSERT_EQ(views.size(), 2u);
  EXPECT_EQ(views[0].role, "primary");
  EXPECT_EQ(views[0].leader, "pg1");
  EXPECT_EQ(views[0].timeline, 3);
  EXPECT_EQ(views[0].state->epoch, 2);
  EXPECT_EQ(views[1].role, "standby");
  EXPECT_EQ(views[1].leader_role, "standby_leader");
  EXPECT_EQ(views[1].lag_bytes, 128);
  EXPECT_EQ(views[1].lag_source, "stream");
  EXPECT_EQ(views[1].system_identifier, "7301");
  EXPECT_TRUE(crossSiteProblems(views).empty());
  put("dc1", "/service/pg/site", R"({"role":"fenced","epoch":3})");
  EXPECT_EQ(gatherSites(sites_, factory())[0].role, "fenced") << "the site key's fence shows";
}

TEST_F(SiteStatusTest, ReportsWhatIsWrongAcrossTheDcs) {
  writeDc("dc1", "pg", "7301", R"({"ttl":30})", "pg1", R"({"role":"primary","state":"running"})");
  writeDc("dc2", "pgdr", "7302", R"({"ttl":30})", "dr1", R"({"role":"primary","state":"running"})");
  put("dc2", "/service/pgdr/site", "{garbage");
  auto problems = crossSiteProblems(gatherSites(sites_, factory()));
  auto has = [&](const std::string& text) {
    return std::any_of(problems.begin(), problems.end(), [&](const auto& p) { return p.find(text) != std::string::npos; });
  };
  EXPECT_TRUE(has("TWO WRITABLE DCs"));
  EXPECT_TRUE(has("different databases (system identifiers 7301 and 7302)"));
  EXPECT_TRUE(has("dc2: the site key holds garbage"));

  down_ = "dc2";
  const auto views = gatherSites(sites_, factory());
  EXPECT_FALSE(views[1].reachable);
  problems = crossSiteProblems(views);
  EXPECT_TRUE(has("dc2: its DCS cannot be read: connection refused"));
  EXPECT_FALSE(has("TWO WRITABLE"));
}

}  // namespace
}  // namespace pgtandem::coordinator
