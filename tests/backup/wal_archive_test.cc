// The WAL archive's rules on a repository in memory: where files go, that a
// retried push is success and a different file under the same name is not,
// that another cluster's segments are refused, that damage is detected;
// and the stanza's info file with its checksum and copy; a local
// repository after a killed write.

#include "backup/wal_archive.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "backup/codec.h"
#include "backup/stanza.h"
#include "tests/fakes/fake_repository.h"
#include "tests/support/ports.h"

namespace pgtandem::backup {
namespace {

using testing::MemoryRepository;

constexpr const char* kSegment = "000000010000000000000005";

// A segment's bytes whose first page carries `system_id` in a long header.
std::string segmentOf(std::uint64_t system_id, char fill = 'x') {
  std::string bytes(8192, fill);
  const std::uint16_t magic = 0xD110, info = 0x0002;
  std::memcpy(bytes.data(), &magic, sizeof magic);
  std::memcpy(bytes.data() + 2, &info, sizeof info);
  std::memcpy(bytes.data() + 24, &system_id, sizeof system_id);
  return bytes;
}

class WalArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(createStanza(repo_, "main", {"7300000000000000001", 15, "2026-12-03T00:00:00Z"}).ok()); }
  MemoryRepository repo_;
};

TEST(WalNames, OnlyWhatPostgresqlArchives) {
  EXPECT_TRUE(isArchivableWalName(kSegment));
  EXPECT_TRUE(isArchivableWalName("000000010000000000000005.partial"));
  EXPECT_TRUE(isArchivableWalName("000000010000000000000005.00000028.backup"));
  EXPECT_TRUE(isArchivableWalName("00000002.history"));
  for (const char* bad : {"", "00000001000000000000000", "00000001000000000000000g", "../../etc/passwd",
                          "000000010000000000000005.partialx", "0000000X.history", "RECOVERYXLOG"}) {
    EXPECT_FALSE(isArchivableWalName(bad)) << bad;
  }
}

TEST_F(WalArchiveTest, PushedOnceCompressedUnderItsChecksumAndReadBack) {
  const std::string bytes = segmentOf(7300000000000000001ULL);
  auto pushed = pushWal(repo_, "main", kSegment, bytes);
  ASSERT_TRUE(pushed.ok()) << pushed.error().toString();
  EXPECT_FALSE(pushed->already_archived);
  const std::string stored = "main/wal/0000000100000000/" + std::string(kSegment) + "-" + sha256Hex(bytes) + ".zst";
  ASSERT_TRUE(repo_.files.count(stored)) << "not where the layout says";
  EXPECT_LT(repo_.files[stored].size(), bytes.size() / 10) << "not compressed";
  auto got = getWal(repo_, "main", kSegment);
  ASSERT_TRUE(got.ok()) << got.error().toString();
  EXPECT_EQ(*got, bytes);
  // History files sit directly under wal/.
  ASSERT_TRUE(pushWal(repo_, "main", "00000002.history", "1\t0/6000000\tno recovery target specified\n").ok());
  EXPECT_TRUE(getWal(repo_, "main", "00000002.history").ok());
  EXPECT_EQ(getWal(repo_, "main", "000000010000000000000006").error().code, ErrorCode::kNotFound);
}

TEST_F(WalArchiveTest, TheSameFileAgainIsSuccessAnotherUnderTheSameNameIsRefused) {
  const std::string bytes = segmentOf(7300000000000000001ULL);
  ASSERT_TRUE(pushWal(repo_, "main", kSegment, bytes).ok());
  const auto files_before = repo_.files;
  auto again = pushWal(repo_, "main", kSegment, bytes);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->already_archived);
  const std::string other = segmentOf(7300000000000000001ULL, 'y');
  auto conflict = pushWal(repo_, "main", kSegment, other);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, ErrorCode::kConflict);
  EXPECT_NE(conflict.error().message.find(sha256Hex(bytes)), std::string::npos) << conflict.error().message;
  EXPECT_NE(conflict.error().message.find(sha256Hex(other)), std::string::npos) << conflict.error().message;
  EXPECT_EQ(repo_.files, files_before) << "a refused push wrote something";
}

TEST_F(WalArchiveTest, AnotherClustersSegmentIsRefused) {
  auto pushed = pushWal(repo_, "main", kSegment, segmentOf(42));
  ASSERT_FALSE(pushed.ok());
  EXPECT_EQ(pushed.error().code, ErrorCode::kConflict);
  EXPECT_NE(pushed.error().message.find("belongs to system 42"), std::string::npos) << pushed.error().message;
  EXPECT_FALSE(getWal(repo_, "main", kSegment).ok());
}

TEST_F(WalArchiveTest, BadInputIsRefusedAndWritesNothing) {
  const auto files_before = repo_.files;
  EXPECT_EQ(pushWal(repo_, "main", "../x", "x").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(pushWal(repo_, "nope", kSegment, segmentOf(1)).error().code, ErrorCode::kNotFound);
  EXPECT_NE(pushWal(repo_, "nope", kSegment, segmentOf(1)).error().message.find("stanza-create"), std::string::npos);
  EXPECT_EQ(pushWal(repo_, "bad/name", kSegment, segmentOf(1)).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(repo_.files, files_before);
}

TEST_F(WalArchiveTest, ADamagedFileIsNeverHandedToPostgresql) {
  const std::string bytes = segmentOf(7300000000000000001ULL);
  ASSERT_TRUE(pushWal(repo_, "main", kSegment, bytes).ok());
  for (auto& [path, stored] : repo_.files) {
    if (path.find(kSegment) != std::string::npos) stored[stored.size() / 2] ^= 0x5a;
  }
  auto got = getWal(repo_, "main", kSegment);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, ErrorCode::kParse);
}

// verify reads every file back and names damaged ones and the gaps in each
// timeline's run of segments (not the step from one timeline to the next).
TEST_F(WalArchiveTest, VerifyNamesDamagedFilesAndGaps) {
  for (const char* name : {"000000010000000000000001", "000000010000000000000002", "000000010000000000000003",
                           "000000010000000000000006", "000000020000000000000006", "000000020000000000000007"}) {
    ASSERT_TRUE(pushWal(repo_, "main", name, segmentOf(7300000000000000001ULL, name[23])).ok());
  }
  ASSERT_TRUE(pushWal(repo_, "main", "00000002.history", "1\t0/6000000\tno recovery target specified\n").ok());
  auto report = verifyWalArchive(repo_, "main");
  ASSERT_TRUE(report.ok()) << report.error().toString();
  EXPECT_EQ(report->files_checked, 7);
  EXPECT_TRUE(report->bad_files.empty());
  ASSERT_EQ(report->gaps.size(), 1u);
  EXPECT_EQ(report->gaps[0], "timeline 1: 000000010000000000000004 to 000000010000000000000005 missing");
  for (auto& [path, stored] : repo_.files) {
    if (path.find("000000020000000000000007") != std::string::npos) stored[stored.size() / 2] ^= 0x5a;
  }
  repo_.files["main/wal/0000000100000000/stray"] = "x";
  report = verifyWalArchive(repo_, "main");
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->bad_files.size(), 2u);
  EXPECT_NE(report->bad_files[0].find("stray: not a name"), std::string::npos) << report->bad_files[0];
  EXPECT_NE(report->bad_files[1].find("000000020000000000000007-"), std::string::npos) << report->bad_files[1];
  EXPECT_FALSE(report->clean());
  EXPECT_EQ(verifyWalArchive(repo_, "nope").error().code, ErrorCode::kNotFound);
}

TEST(Stanza, InfoHasAChecksumAndACopy) {
  MemoryRepository repo;
  const StanzaInfo info{"7300000000000000001", 15, "2026-12-03T00:00:00Z"};
  ASSERT_TRUE(createStanza(repo, "main", info).ok());
  EXPECT_EQ(*readStanza(repo, "main"), info);
  EXPECT_TRUE(createStanza(repo, "main", info).ok()) << "again for the same cluster";
  auto other = createStanza(repo, "main", {"99", 15, "x"});
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, ErrorCode::kConflict);
  // One damaged copy: the other is read.
  repo.files["main/stanza.info"][5] ^= 1;
  EXPECT_EQ(*readStanza(repo, "main"), info);
  repo.files["main/stanza.info.copy"] = "garbage";
  auto both_bad = readStanza(repo, "main");
  ASSERT_FALSE(both_bad.ok());
  EXPECT_EQ(both_bad.error().code, ErrorCode::kParse);
  EXPECT_EQ(readStanza(repo, "missing").error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(checkStanzaName("a b").ok());
}

// A push killed before its rename leaves only a temporary file: nobody sees
// it, and the push run again succeeds. Paths never leave the repository.
TEST(LocalRepositoryTest, AKilledWriteIsInvisibleAndTheRetrySucceeds) {
  const std::string root = pgtandem::testing::makeTempDir("repo");
  LocalRepository repo(root);
  ASSERT_TRUE(createStanza(repo, "main", {"7300000000000000001", 15, "2026-12-03T00:00:00Z"}).ok());
  const std::string bytes = segmentOf(7300000000000000001ULL);
  const std::string dir = root + "/main/wal/0000000100000000";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/" + std::string(kSegment) + "-" + sha256Hex(bytes) + ".zst.tmp") << "half a file";
  EXPECT_EQ(getWal(repo, "main", kSegment).error().code, ErrorCode::kNotFound);
  auto pushed = pushWal(repo, "main", kSegment, bytes);
  ASSERT_TRUE(pushed.ok()) << pushed.error().toString();
  EXPECT_FALSE(pushed->already_archived);
  EXPECT_EQ(*getWal(repo, "main", kSegment), bytes);
  EXPECT_EQ(repo.read("../etc/passwd").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(repo.write("/etc/x", "x").error().code, ErrorCode::kInvalidArgument);
  pgtandem::testing::removeTree(root);
}

TEST(LocalRepositoryTest, FilesArePushedAndFetchedInPiecesAndADamagedOneNeverReachesItsDestination) {
  const std::string root = pgtandem::testing::makeTempDir("repo");
  LocalRepository repo(root);
  ASSERT_TRUE(createStanza(repo, "main", {"7300000000000000001", 15, "2026-12-03T00:00:00Z"}).ok());
  std::string bytes = segmentOf(7300000000000000001ULL);
  for (int i = 0; i < 3 * 1024 * 1024; ++i) bytes += static_cast<char>(i * 31 % 251);  // several pieces
  const std::string source = root + "/" + kSegment;
  std::ofstream(source, std::ios::binary) << bytes;
  auto pushed = pushWalFile(repo, "main", source);
  ASSERT_TRUE(pushed.ok()) << pushed.error().toString();
  EXPECT_EQ(pushed->checksum, sha256Hex(bytes));
  EXPECT_TRUE(pushWalFile(repo, "main", source)->already_archived);
  const std::string dir = root + "/main/wal/0000000100000000";
  std::size_t stored = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().filename().string(), std::string(kSegment) + "-" + sha256Hex(bytes) + ".zst") << "left behind";
    ++stored;
  }
  EXPECT_EQ(stored, 1u);
  const std::string dest = root + "/RECOVERYXLOG";
  ASSERT_TRUE(getWalFile(repo, "main", kSegment, dest).ok());
  std::ifstream in(dest, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), bytes);
  EXPECT_EQ(getWalFile(repo, "main", "000000010000000000000009", dest + "2").error().code, ErrorCode::kNotFound);
  {
    std::fstream damaged(dir + "/" + std::string(kSegment) + "-" + sha256Hex(bytes) + ".zst",
                         std::ios::in | std::ios::out | std::ios::binary);
    damaged.seekp(4000);
    damaged.put('\x01');
  }
  EXPECT_FALSE(getWalFile(repo, "main", kSegment, dest + "3").ok());
  EXPECT_FALSE(std::filesystem::exists(dest + "3"));
  EXPECT_FALSE(std::filesystem::exists(dest + "3.dc-backup.tmp"));
  EXPECT_EQ(pushWalFile(repo, "main", root + "/000000010000000000000007").error().code, ErrorCode::kIo);
  pgtandem::testing::removeTree(root);
}

TEST(Codec, RoundTripsAndRejectsGarbage) {
  const std::string text(100000, 'a');
  EXPECT_EQ(*decompress(compress(text)), text);
  EXPECT_FALSE(decompress("not zstd").ok());
  EXPECT_EQ(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
}  // namespace pgtandem::backup
