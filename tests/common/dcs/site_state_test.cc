#include "common/dcs/site_state.h"

#include <gtest/gtest.h>

#include "common/dcs/cluster.h"

namespace pgtandem::dcs {
namespace {

DemotionToken sampleToken() {
  DemotionToken t;
  t.system_identifier = "7300000000000000001";
  t.timeline = 2;
  t.redo_lsn = 0x3000028;
  t.redo_wal_file = "000000020000000000000003";
  t.from_site = "dc1";
  t.archived = true;
  return t;
}

TEST(SiteState, RoundTripsAndRefusesGarbage) {
  SiteState s;
  s.role = dcs::SiteRole::kFenced;
  s.epoch = 7;
  s.granted_epoch = 6;
  s.token = sampleToken();
  s.standby_cluster_json = R"({"host":"10.0.2.1","port":5432})";
  SiteOperation op;
  op.kind = "switchover";
  op.from_site = "dc1";
  op.to_site = "dc2";
  op.started_at = "2026-11-22T10:00:00Z";
  op.steps = {{"fence", "done", "2026-11-22T10:00:01Z", ""}};
  s.operation = op;
  op.finished_at = "2026-11-22T10:00:03Z";
  op.result = "done";
  s.history = {op};
  s.peer = PeerSite{"dc2", {"10.0.2.1:2379", "10.0.2.2:2379"}, "/service/", "pgdr"};
  auto back = parseSiteState(toJson(s));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, s);
  EXPECT_TRUE(back->operation->done("fence"));
  EXPECT_FALSE(back->operation->done("promote"));
  EXPECT_FALSE(back->writable());
  for (const char* garbage :
       {"{not json", "[]", R"({"epoch":1})", R"({"role":"leader"})", R"({"role":"primary","epoch":"x"})",
        R"({"role":"primary","token":5})", R"({"role":"primary","token":{"system_identifier":"1","timeline":0}})",
        R"({"role":"primary","operation":{"steps":[{}],"kind":"x"}})", R"({"role":"primary","history":{}})",
        R"({"role":"primary","standby_cluster":[1]})", R"({"role":"primary","peer":{"scope":"x","etcd":[]}})",
        R"({"role":"primary","peer":{"scope":"x","etcd":"h:1"}})"}) {
    EXPECT_FALSE(parseSiteState(garbage).ok()) << garbage;
  }
}

TEST(SiteState, IsPartOfTheClusterSnapshotAndGarbageIsSkipped) {
  ClusterPaths paths("/service/", "pg");
  MalformedValueLog log;
  RangeResult range;
  range.kvs.push_back(KeyValue{paths.site(), R"({"role":"fenced","epoch":4})", 1, 7, 1, 0});
  auto snapshot = parseCluster(range, paths, log);
  ASSERT_TRUE(snapshot.site);
  EXPECT_EQ(snapshot.site->role, dcs::SiteRole::kFenced);
  EXPECT_EQ(snapshot.site->epoch, 4);
  EXPECT_EQ(snapshot.site->mod_revision, 7);
  range.kvs[0].value = R"({"role":"leader"})";
  range.kvs[0].mod_revision = 8;
  EXPECT_FALSE(parseCluster(range, paths, log).site);
  EXPECT_EQ(log.reportedCount(), 1u);
}

TEST(SiteState, DemotionTokenTravelsInTheMemberKey) {
  MemberInfo m;
  m.name = "pg1";
  m.role = "standby_leader";
  m.demotion_token = sampleToken();
  auto back = parseMember("pg1", toJson(m));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->demotion_token, m.demotion_token);
  EXPECT_FALSE(parseMember("pg1", R"({"role":"replica","demotion_token":{"timeline":1}})").ok());
}

}  // namespace
}  // namespace pgtandem::dcs
