// The DC's fencing state as an agent sees it (dc-agent/ha/site_check.h),
// row by row: fail closed on a garbled or vanished key, when to ask the
// other DC, what its key says of ours, and when our epoch may be used.

#include <gtest/gtest.h>

#include "dc-agent/ha/site_check.h"

#include <unistd.h>

#include <filesystem>

#include "dc-agent/ha/site_memory.h"

namespace pgtandem::agent {
namespace {

dcs::SiteState key(dcs::SiteRole role, std::int64_t epoch) {
  dcs::SiteState s;
  s.role = role;
  s.epoch = epoch;
  s.peer = dcs::PeerSite{"dc2", {"10.0.2.1:2379"}, "/service/", "pgdr"};
  return s;
}

dcs::ClusterSnapshot coordinated(std::int64_t epoch, std::optional<std::string> leader = std::nullopt) {
  dcs::ClusterSnapshot s;
  s.site = key(dcs::SiteRole::kPrimary, epoch);
  if (leader) s.leader = dcs::LeaderInfo{*leader, 1, 1};
  return s;
}

TEST(SiteCheck, FailsClosedOnAGarbledOrVanishedKey) {
  dcs::ClusterSnapshot plain;
  EXPECT_EQ(siteUnreadable(plain, false), "") << "no coordinator: a plain Patroni cluster";
  EXPECT_EQ(siteUnreadable(plain, true), "the site key disappeared");
  dcs::ClusterSnapshot garbled;
  garbled.site_error = "'role' must be primary, fenced or standby";
  EXPECT_EQ(siteUnreadable(garbled, false), "the site key cannot be parsed ('role' must be primary, fenced or standby)");
  EXPECT_EQ(siteUnreadable(coordinated(3), true), "");
}

TEST(SiteCheck, WhoAsksTheOtherDc) {
  EXPECT_TRUE(peerReadNeeded(coordinated(3), "pg1", false, std::nullopt)) << "nobody leads: could lead";
  EXPECT_TRUE(peerReadNeeded(coordinated(3, "pg1"), "pg1", false, 3)) << "the leader asks every loop";
  EXPECT_FALSE(peerReadNeeded(coordinated(3, "pg2"), "pg1", false, 3)) << "a replica confirms once per epoch";
  EXPECT_TRUE(peerReadNeeded(coordinated(4, "pg2"), "pg1", false, 3)) << "a new epoch is confirmed again";
  EXPECT_FALSE(peerReadNeeded(coordinated(3), "pg1", true, std::nullopt)) << "a standby cluster writes nothing";
  dcs::ClusterSnapshot fenced = coordinated(3);
  fenced.site->role = dcs::SiteRole::kFenced;
  EXPECT_FALSE(peerReadNeeded(fenced, "pg1", false, std::nullopt)) << "fenced already";
  dcs::ClusterSnapshot no_peer = coordinated(3);
  no_peer.site->peer.reset();
  EXPECT_FALSE(peerReadNeeded(no_peer, "pg1", false, std::nullopt));
}

struct PeerRow {
  const char* name;
  Result<std::optional<dcs::SiteState>> read;
  bool reachable, confirms, supersedes;
};

TEST(SiteCheck, WhatTheOtherDcsKeySaysOfOurs) {
  const std::int64_t ours = 4;
  const std::vector<PeerRow> rows = {
      {"unreachable: unknown", Result<std::optional<dcs::SiteState>>(makeError(ErrorCode::kUnavailable, "timeout")), false,
       false, false},
      {"no key there: ours stands", std::optional<dcs::SiteState>(), true, true, false},
      {"fenced at a newer epoch: ours stands", std::optional<dcs::SiteState>(key(dcs::SiteRole::kFenced, 5)), true, true, false},
      {"standby: ours stands", std::optional<dcs::SiteState>(key(dcs::SiteRole::kStandby, 4)), true, true, false},
      {"primary at an older epoch: ours stands", std::optional<dcs::SiteState>(key(dcs::SiteRole::kPrimary, 3)), true, true,
       false},
      {"primary at our epoch: both fence", std::optional<dcs::SiteState>(key(dcs::SiteRole::kPrimary, 4)), true, false, true},
      {"primary at a newer epoch: superseded", std::optional<dcs::SiteState>(key(dcs::SiteRole::kPrimary, 5)), true, false,
       true},
  };
  for (const PeerRow& row : rows) {
    const PeerJudgement j = judgePeer(ours, row.read);
    EXPECT_EQ(j.view.reachable, row.reachable) << row.name;
    EXPECT_EQ(j.confirms, row.confirms) << row.name;
    EXPECT_EQ(j.supersedes, row.supersedes) << row.name;
  }
}

TEST(SiteCheck, WhenOurEpochMayBeUsed) {
  EXPECT_TRUE(siteConfirmed(coordinated(3), false, std::nullopt)) << "no peer reader: nothing to confirm";
  EXPECT_FALSE(siteConfirmed(coordinated(3), true, std::nullopt)) << "never confirmed";
  EXPECT_FALSE(siteConfirmed(coordinated(3), true, 2)) << "confirmed an older epoch only";
  EXPECT_TRUE(siteConfirmed(coordinated(3), true, 3));
  dcs::ClusterSnapshot granted = coordinated(3);
  granted.site->granted_epoch = 3;
  EXPECT_TRUE(siteConfirmed(granted, true, std::nullopt)) << "a disaster promotion's grant";
  EXPECT_TRUE(siteConfirmed(dcs::ClusterSnapshot{}, true, std::nullopt)) << "no site key";
}

// One rule for "this DC takes no writes", for the decision and the REST API.
TEST(SiteCheck, DcFencedRowByRow) {
  const auto primary = key(dcs::SiteRole::kPrimary, 2), fenced = key(dcs::SiteRole::kFenced, 2),
             standby = key(dcs::SiteRole::kStandby, 2);
  struct Row {
    std::string name;
    std::optional<dcs::SiteState> site;
    std::string unreadable;
    bool superseded, standby_cluster, expected;
  };
  const std::vector<Row> rows = {
      {"no site key: not coordinated", std::nullopt, "", false, false, false},
      {"primary", primary, "", false, false, false},
      {"fenced", fenced, "", false, false, true},
      {"standby key, not yet a standby cluster", standby, "", false, false, true},
      {"superseded by the other DC", primary, "", true, false, true},
      {"unreadable: fail closed", std::nullopt, "the site key disappeared", false, false, true},
      {"a standby cluster is kept read-only by its own rules", fenced, "", true, true, false},
  };
  for (const auto& r : rows) EXPECT_EQ(dcFenced(r.site, r.unreadable, r.superseded, r.standby_cluster), r.expected) << r.name;
  EXPECT_TRUE(peerSupersedes(PeerSiteView{true, dcs::SiteRole::kPrimary, 2}, 2)) << "equal epochs: both fence";
  EXPECT_FALSE(peerSupersedes(PeerSiteView{true, dcs::SiteRole::kPrimary, 1}, 2));
  EXPECT_FALSE(peerSupersedes(PeerSiteView{false, dcs::SiteRole::kPrimary, 9}, 2)) << "unreachable: unknown";
  EXPECT_FALSE(peerSupersedes(PeerSiteView{true, dcs::SiteRole::kFenced, 9}, 2));
}

// The memory of a seen site key is a file in the data directory: kept once
// the directory exists, read by the next agent.
TEST(SiteMemory, AFileInTheDataDirectoryOutlivesTheAgent) {
  const std::string dir = std::filesystem::temp_directory_path() / ("pgt-site-memory-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const std::string dc1 = dcsIdentity({"10.0.1.2:2379", "10.0.1.1:2379"}, "/service/", "pg");
  EXPECT_EQ(dc1, "/service/pg at 10.0.1.1:2379 10.0.1.2:2379");
  auto memory = makeFileSiteMemory(dir, dc1);
  EXPECT_FALSE(memory->seen());
  EXPECT_FALSE(memory->remember().ok()) << "no data directory yet (before bootstrap or a clone)";
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(memory->remember().ok());
  EXPECT_TRUE(memory->seen());
  EXPECT_TRUE(makeFileSiteMemory(dir, dc1)->seen()) << "a restarted agent knows";
  const std::string dc2 = dcsIdentity({"10.0.2.1:2379"}, "/service/", "pg");
  EXPECT_FALSE(makeFileSiteMemory(dir, dc2)->seen()) << "a standby DC cloned from dc1 copied the file: not its own";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pgtandem::agent
