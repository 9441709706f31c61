// The split-brain guard of archive-push: the decision rows (a fenced DC
// cannot push past its demotion, a superseded primary cannot push at all,
// an unreadable site key fails closed), the owner record, a segment whose
// timeline history differs from the archive's, and the etcd gateway's
// answers.

#include "backup/site_guard.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "backup/codec.h"
#include "backup/site_source.h"
#include "backup/stanza.h"
#include "common/util/base64.h"
#include "tests/fakes/fake_site_source.h"
#include "tests/support/ports.h"

namespace pgtandem::backup {
namespace {

constexpr std::uint64_t kSystemId = 7300000000000000001ULL;

SiteReading siteWith(dcs::SiteRole role, std::int64_t epoch) {
  dcs::SiteState state;
  state.role = role;
  state.epoch = epoch;
  return SiteReading{true, "", state};
}

TEST(SiteGuardDecision, Rows) {
  const std::optional<ArchiveOwner> none;
  const std::optional<ArchiveOwner> dc1_at_3 = ArchiveOwner{"dc1", 3};
  const std::string segment = "000000020000000000000007";
  struct Row {
    std::optional<ArchiveOwner> owner;
    SiteReading site;
    std::string site_name, file, rule;
    bool push, record;
  };
  SiteReading fenced_with_token = siteWith(dcs::SiteRole::kFenced, 4);
  fenced_with_token.state->token = dcs::DemotionToken{"1", 2, 0x7000028, "000000020000000000000007", "", true};
  const std::vector<Row> rows = {
      {none, SiteReading{true, "", std::nullopt}, "dc1", segment, "guard.no_coordinator", true, false},
      {none, SiteReading{false, "connection refused", std::nullopt}, "dc1", segment, "guard.dcs_unreadable", false, false},
      {dc1_at_3, siteWith(dcs::SiteRole::kFenced, 4), "dc1", segment, "guard.fenced", false, false},
      {dc1_at_3, fenced_with_token, "dc1", segment, "guard.fenced_history", true, false},
      {dc1_at_3, fenced_with_token, "dc1", "000000010000000000000009", "guard.fenced_history", true, false},
      {dc1_at_3, fenced_with_token, "dc1", "00000002.history", "guard.fenced_history", true, false},
      {dc1_at_3, fenced_with_token, "dc1", "000000020000000000000008", "guard.fenced", false, false},
      {dc1_at_3, fenced_with_token, "dc1", "00000003.history", "guard.fenced", false, false},
      {dc1_at_3, fenced_with_token, "dc1", "000000030000000000000007", "guard.fenced", false, false},
      {dc1_at_3, siteWith(dcs::SiteRole::kStandby, 4), "dc2", segment, "guard.standby", true, false},
      {dc1_at_3, siteWith(dcs::SiteRole::kPrimary, 2), "dc2", segment, "guard.superseded", false, false},
      {dc1_at_3, siteWith(dcs::SiteRole::kPrimary, 2), "dc1", segment, "guard.superseded", false, false},
      {dc1_at_3, siteWith(dcs::SiteRole::kPrimary, 3), "dc2", segment, "guard.epoch_taken", false, false},
      {dc1_at_3, siteWith(dcs::SiteRole::kPrimary, 3), "dc1", segment, "guard.primary", true, false},
      {dc1_at_3, siteWith(dcs::SiteRole::kPrimary, 4), "dc2", segment, "guard.primary", true, true},
      {none, siteWith(dcs::SiteRole::kPrimary, 1), "dc1", segment, "guard.primary", true, true},
  };
  for (const auto& row : rows) {
    const PushDecision d = decideWalPush(row.owner, row.site, row.site_name, row.file);
    EXPECT_EQ(d.rule, row.rule) << row.site_name << " " << row.file << ": " << d.reason;
    EXPECT_EQ(d.push, row.push) << d.rule << " " << row.file;
    EXPECT_EQ(d.record_owner, row.record) << d.rule << " " << row.file;
    EXPECT_FALSE(d.reason.empty());
  }
}

class GuardedPushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::makeTempDir("guard");
    repo_ = std::make_unique<LocalRepository>(root_);
    ASSERT_TRUE(createStanza(*repo_, "main", {std::to_string(kSystemId), 15, "2026-12-03T00:00:00Z"}).ok());
    std::filesystem::create_directories(root_ + "/pg_wal");
  }
  void TearDown() override {
    if (!HasFailure()) testing::removeTree(root_);
  }
  std::string segment(const std::string& name, char fill) {
    std::string bytes(64 * 1024, fill);
    const std::uint16_t info = 0x0002;
    std::memcpy(bytes.data() + 2, &info, sizeof info);
    std::memcpy(bytes.data() + 24, &kSystemId, sizeof kSystemId);
    const std::string path = root_ + "/pg_wal/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  std::string root_;
  std::unique_ptr<LocalRepository> repo_;
  testing::FakeSiteSource site_;
};

TEST_F(GuardedPushTest, TheFirstPrimaryBecomesTheOwnerAndAFencedDcWritesNothing) {
  site_.reading = siteWith(dcs::SiteRole::kPrimary, 3);
  ASSERT_TRUE(guardedPush(*repo_, "main", segment("000000010000000000000001", 'a'), site_, "dc1").ok());
  auto owner = readArchiveOwner(*repo_, "main");
  ASSERT_TRUE(owner.ok() && *owner);
  EXPECT_EQ(**owner, (ArchiveOwner{"dc1", 3}));

  site_.reading = siteWith(dcs::SiteRole::kFenced, 4);
  auto refused = guardedPush(*repo_, "main", segment("000000010000000000000002", 'b'), site_, "dc1");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(refused.error().message.find("guard.fenced"), std::string::npos) << refused.error().message;
  EXPECT_EQ(getWal(*repo_, "main", "000000010000000000000002").error().code, ErrorCode::kNotFound);

  // DC2 promoted at epoch 4 takes the archive; DC1, still believing it is
  // primary at epoch 3 (its etcd cut off from the coordinator), cannot push.
  site_.reading = siteWith(dcs::SiteRole::kPrimary, 4);
  ASSERT_TRUE(guardedPush(*repo_, "main", segment("000000010000000000000003", 'c'), site_, "dc2").ok());
  EXPECT_EQ(**readArchiveOwner(*repo_, "main"), (ArchiveOwner{"dc2", 4}));
  site_.reading = siteWith(dcs::SiteRole::kPrimary, 3);
  auto superseded = guardedPush(*repo_, "main", segment("000000010000000000000004", 'd'), site_, "dc1");
  ASSERT_FALSE(superseded.ok());
  EXPECT_NE(superseded.error().message.find("guard.superseded"), std::string::npos) << superseded.error().message;

  // Unreadable: fail closed.
  site_.reading = SiteReading{false, "etcd has no quorum", std::nullopt};
  auto blind = guardedPush(*repo_, "main", segment("000000010000000000000005", 'e'), site_, "dc2");
  ASSERT_FALSE(blind.ok());
  EXPECT_NE(blind.error().message.find("etcd has no quorum"), std::string::npos) << blind.error().message;
  // A damaged owner record fails closed too.
  std::ofstream(root_ + "/main/archive.owner") << "{}";
  std::ofstream(root_ + "/main/archive.owner.copy") << "{}";
  site_.reading = siteWith(dcs::SiteRole::kPrimary, 4);
  EXPECT_FALSE(guardedPush(*repo_, "main", segment("000000010000000000000005", 'e'), site_, "dc2").ok());
}

TEST_F(GuardedPushTest, ASegmentWhoseTimelineHistoryDiffersFromTheArchivesIsRefused) {
  // DC1 promoted to timeline 2 and archived its history; DC2, promoted on
  // its own, also calls its fork timeline 2.
  std::ofstream(root_ + "/pg_wal/00000002.history") << "1\t0/5000000\tno recovery target specified\n";
  ASSERT_TRUE(pushWalFile(*repo_, "main", root_ + "/pg_wal/00000002.history").ok());
  ASSERT_TRUE(pushWalFile(*repo_, "main", segment("000000020000000000000005", 'a')).ok());
  std::ofstream(root_ + "/pg_wal/00000002.history") << "1\t0/6000000\tno recovery target specified\n";
  auto forked = pushWalFile(*repo_, "main", segment("000000020000000000000006", 'b'));
  ASSERT_FALSE(forked.ok());
  EXPECT_EQ(forked.error().code, ErrorCode::kConflict);
  EXPECT_NE(forked.error().message.find("forked from another history"), std::string::npos) << forked.error().message;
  EXPECT_EQ(getWal(*repo_, "main", "000000020000000000000006").error().code, ErrorCode::kNotFound);
  auto history = pushWalFile(*repo_, "main", root_ + "/pg_wal/00000002.history");
  ASSERT_FALSE(history.ok());
  EXPECT_NE(history.error().message.find("already archived with checksum"), std::string::npos);
}

TEST(EtcdGateway, AnswersDecode) {
  EXPECT_EQ(base64Decode(base64Encode("/service/main/site")).valueOr(""), "/service/main/site");
  for (const std::string s : {"", "a", "ab", "abc", "abcd"}) EXPECT_EQ(*base64Decode(base64Encode(s)), s);
  EXPECT_FALSE(base64Decode("abc").ok());
  EXPECT_FALSE(base64Decode("ab!d").ok());
  auto none = parseRangeAnswer(R"({"header":{"revision":"5"}})");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(*none);
  auto value = parseRangeAnswer(R"({"kvs":[{"key":"eA==","value":")" + base64Encode(R"({"role":"fenced"})") + R"("}],"count":"1"})");
  ASSERT_TRUE(value.ok() && *value);
  EXPECT_EQ(**value, R"({"role":"fenced"})");
  EXPECT_FALSE(parseRangeAnswer("<html>").ok());
  EXPECT_FALSE(parseRangeAnswer(R"({"kvs":[{"value":"***"}]})").ok());
}

TEST(EtcdGateway, NothingListeningIsUnreadable) {
  const int port = testing::freeLoopbackPort();
  auto site = etcdSiteSource({{"127.0.0.1:" + std::to_string(port)}, "/service/", "main"});
  const SiteReading reading = site->read();
  EXPECT_FALSE(reading.readable);
  EXPECT_NE(reading.problem.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << reading.problem;
}

}  // namespace
}  // namespace pgtandem::backup
