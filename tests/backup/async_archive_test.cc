// Asynchronous archive-push: the spool's queue, its limit (a full queue
// refuses the push and says so; it never drops a file), the worker's drain
// (a failed file stays queued, the others leave), its lock, and a file
// queued while the worker was leaving.

#include "backup/async_archive.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "backup/backup_config.h"
#include "backup/stanza.h"
#include "tests/support/ports.h"

namespace pgtandem::backup {
namespace {

namespace fs = std::filesystem;

class AsyncArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::makeTempDir("spool");
    spool_.dir = dir_ + "/spool";
    fs::create_directories(dir_ + "/pg_wal");
  }
  void TearDown() override {
    if (!HasFailure()) testing::removeTree(dir_);
  }
  std::string wal(const std::string& name, std::size_t size = 1000, char fill = 'w') {
    const std::string path = dir_ + "/pg_wal/" + name;
    std::ofstream(path, std::ios::binary) << std::string(size, fill);
    return path;
  }
  std::string metrics() {
    std::ifstream in(spool_.dir + "/archive.prom");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  std::string dir_;
  Spool spool_;
};

TEST_F(AsyncArchiveTest, AFullQueueRefusesThePushAndNeverDropsAFile) {
  spool_.queue_max_bytes = 2500;
  ASSERT_TRUE(queueWal(spool_, wal("000000010000000000000001")).ok());
  ASSERT_TRUE(queueWal(spool_, wal("000000010000000000000002")).ok());
  ASSERT_TRUE(queueWal(spool_, wal("000000010000000000000002")).ok()) << "the archiver's retry of a queued file";
  EXPECT_EQ(queueState(spool_).files, 2);
  EXPECT_NE(metrics().find("pgtandem_archive_queue_full 0"), std::string::npos);
  auto full = queueWal(spool_, wal("000000010000000000000003"));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(full.error().message.find("is full (2 files, 2000 bytes"), std::string::npos) << full.error().message;
  EXPECT_NE(full.error().message.find("PostgreSQL keeps it and retries"), std::string::npos);
  EXPECT_EQ(queueState(spool_).files, 2) << "nothing queued for a refused push";
  EXPECT_NE(metrics().find("pgtandem_archive_queue_full 1"), std::string::npos) << metrics();
  EXPECT_NE(metrics().find("pgtandem_archive_queue_bytes 2000"), std::string::npos) << metrics();
  EXPECT_FALSE(queueWal(spool_, wal("pg_control")).ok());
}

TEST_F(AsyncArchiveTest, TheWorkerPushesEverythingAndKeepsWhatFailed) {
  for (const char* name : {"000000010000000000000003", "000000010000000000000001", "00000002.history"}) {
    ASSERT_TRUE(queueWal(spool_, wal(name)).ok());
  }
  std::mutex mutex;
  std::vector<std::string> pushed;
  bool fail_one = true;
  auto push = [&](const std::string& path) -> Result<PushResult> {
    std::lock_guard lock(mutex);
    const std::string name = fs::path(path).filename().string();
    if (fail_one && name == "000000010000000000000003") return makeError(ErrorCode::kIo, "repository full");
    pushed.push_back(name);
    return PushResult{"x", false};
  };
  std::ostringstream log;
  EXPECT_EQ(drainQueue(spool_, 2, push, log), 1);
  EXPECT_EQ(std::set<std::string>(pushed.begin(), pushed.end()),
            (std::set<std::string>{"000000010000000000000001", "00000002.history"}));
  EXPECT_EQ(queueState(spool_).files, 1);
  EXPECT_NE(log.str().find("failed 000000010000000000000003: repository full"), std::string::npos) << log.str();

  // The worker retries until the queue is empty, then leaves once idle.
  SimulatedClock clock;
  int sleeps = 0;
  clock.on_sleep = [&] {
    if (++sleeps == 2) fail_one = false;
  };
  ASSERT_TRUE(runPushWorker(spool_, 2, push, clock, std::chrono::seconds(2), std::chrono::seconds(1), log).ok());
  EXPECT_EQ(queueState(spool_).files, 0);
  EXPECT_EQ(pushed.back(), "000000010000000000000003");
}

TEST_F(AsyncArchiveTest, ASecondWorkerLeavesAtOnceAndAFileQueuedAsTheWorkerLeavesIsPushed) {
  ASSERT_TRUE(queueWal(spool_, wal("000000010000000000000001")).ok());
  int pushes = 0;
  auto push = [&](const std::string&) -> Result<PushResult> {
    ++pushes;
    return PushResult{"x", false};
  };
  std::ostringstream log;
  SimulatedClock clock;
  {
    const int held = ::open((spool_.dir + "/worker.lock").c_str(), O_RDWR | O_CREAT, 0600);
    ASSERT_EQ(::flock(held, LOCK_EX), 0);
    ASSERT_TRUE(runPushWorker(spool_, 1, push, clock, std::chrono::seconds(2), std::chrono::seconds(1), log).ok());
    EXPECT_EQ(pushes, 0) << "a second worker pushed while the first held the lock";
    ::close(held);
  }
  // While the worker idles, a new file arrives: it is pushed before it leaves.
  int sleeps = 0;
  clock.on_sleep = [&] {
    if (++sleeps == 10) {
      ASSERT_TRUE(queueWal(spool_, wal("000000010000000000000002")).ok());
    }
  };
  ASSERT_TRUE(runPushWorker(spool_, 1, push, clock, std::chrono::seconds(2), std::chrono::seconds(1), log).ok());
  EXPECT_EQ(pushes, 2);
  EXPECT_EQ(queueState(spool_).files, 0);
}

TEST_F(AsyncArchiveTest, ArchiveGetIsServedFromSegmentsFetchedAheadAndCheckedFirst) {
  fs::create_directories(dir_ + "/repo");
  LocalRepository repo(dir_ + "/repo");
  ASSERT_TRUE(createStanza(repo, "main", {"7300000000000000001", 15, "2026-12-03T00:00:00Z"}).ok());
  for (int i = 1; i <= 4; ++i) {
    ASSERT_TRUE(pushWal(repo, "main", "00000001000000000000000" + std::to_string(i), std::string(5000, static_cast<char>(0x10 * i))).ok());  // no long page header
  }
  EXPECT_EQ(segmentsAfter("000000010000000000000009", 2, kDefaultWalSegmentSize),
            (std::vector<std::string>{"00000001000000000000000A", "00000001000000000000000B"}));
  EXPECT_TRUE(segmentsAfter("00000002.history", 2, kDefaultWalSegmentSize).empty());
  auto fetched = prefetchAfter(spool_, repo, "main", "000000010000000000000001", 2, kDefaultWalSegmentSize);
  ASSERT_TRUE(fetched.ok()) << fetched.error().toString();
  EXPECT_EQ(*fetched, 2);
  const std::string dest = dir_ + "/RECOVERYXLOG";
  ASSERT_TRUE(takePrefetched(spool_, "000000010000000000000002", dest).ok());
  std::ifstream in(dest, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), std::string(5000, static_cast<char>(0x20)));
  EXPECT_FALSE(fs::exists(spool_.dir + "/in/000000010000000000000002"));
  // Segment 5 is not archived yet: the prefetch stops there.
  fetched = prefetchAfter(spool_, repo, "main", "000000010000000000000002", 5, kDefaultWalSegmentSize);
  ASSERT_TRUE(fetched.ok());
  EXPECT_EQ(*fetched, 1);
  EXPECT_TRUE(fs::exists(spool_.dir + "/in/000000010000000000000004"));
  EXPECT_EQ(takePrefetched(spool_, "000000010000000000000005", dest).error().code, ErrorCode::kNotFound);
  // Replay skipped ahead: what is behind it is dropped.
  ASSERT_TRUE(takePrefetched(spool_, "000000010000000000000004", dest).ok());
  EXPECT_FALSE(fs::exists(spool_.dir + "/in/000000010000000000000003"));
}

TEST(BackupConfigSizes, ParseLikePostgresql) {
  EXPECT_EQ(parseByteSize("4GB"), 4ULL << 30);
  EXPECT_EQ(parseByteSize("512MB"), 512ULL << 20);
  EXPECT_EQ(parseByteSize("1048576"), 1048576ULL);
  EXPECT_FALSE(parseByteSize("lots"));
  EXPECT_FALSE(parseByteSize("4 GB"));
  EXPECT_FALSE(parseByteSize("-1"));
}

}  // namespace
}  // namespace pgtandem::backup
