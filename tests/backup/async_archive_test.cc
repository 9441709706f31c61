// Asynchronous archive-push: the worker pushes what PostgreSQL marked ready
// (a failed file stays pending, the others are answered), the archiver's
// call takes its file's answer (never one about a recycled file of the same
// name), waits and restarts a dead worker, the backlog's limit (reported,
// nothing dropped), the worker's lock, and a file marked ready as the worker
// was leaving.

#include "backup/async_archive.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
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
    fs::create_directories(dir_ + "/pg_wal/archive_status");
    fs::create_directories(spool_.dir);
  }
  void TearDown() override {
    if (!HasFailure()) testing::removeTree(dir_);
  }
  std::string wal(const std::string& name, std::size_t size = 1000, char fill = 'w') {
    const std::string path = dir_ + "/pg_wal/" + name;
    std::ofstream(path, std::ios::binary) << std::string(size, fill);
    return path;
  }
  std::string pgWal() const { return dir_ + "/pg_wal"; }
  // A WAL file PostgreSQL wrote and marked ready for the archiver.
  void ready(const std::string& name) {
    wal(name);
    std::ofstream(pgWal() + "/archive_status/" + name + ".ready");
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

TEST_F(AsyncArchiveTest, TheWorkerPushesWhatIsReadyAndKeepsWhatFailed) {
  for (const char* name : {"000000010000000000000003", "000000010000000000000001", "00000002.history"}) ready(name);
  wal("000000010000000000000004");  // written, not yet marked ready: not the worker's
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
  EXPECT_EQ(pendingWal(spool_, pgWal()), (std::vector<std::string>{"00000002.history", "000000010000000000000001",
                                                                   "000000010000000000000003"}));
  std::ostringstream log;
  EXPECT_EQ(pushPending(spool_, pgWal(), pendingWal(spool_, pgWal()), 2, push, log), 1);
  EXPECT_EQ(std::set<std::string>(pushed.begin(), pushed.end()),
            (std::set<std::string>{"000000010000000000000001", "00000002.history"}));
  EXPECT_EQ(queueState(spool_, pgWal()).files, 1);
  EXPECT_NE(log.str().find("failed 000000010000000000000003: repository full"), std::string::npos) << log.str();

  // The archiver's calls: the pushed file is done, the failed one fails with
  // the worker's reason, once (its retry waits for a new answer).
  EXPECT_EQ(takeAsyncAnswer(spool_, pgWal() + "/000000010000000000000001").outcome, AsyncOutcome::kPushed);
  EXPECT_EQ(takeAsyncAnswer(spool_, pgWal() + "/000000010000000000000001").outcome, AsyncOutcome::kPushed)
      << "the archiver's retry of a pushed file";
  EXPECT_TRUE(pendingWal(spool_, pgWal()) == std::vector<std::string>{"000000010000000000000003"})
      << "a pushed file still marked ready is not pushed again";
  const AsyncAnswer failed = takeAsyncAnswer(spool_, pgWal() + "/000000010000000000000003");
  EXPECT_EQ(failed.outcome, AsyncOutcome::kFailed);
  EXPECT_EQ(failed.error, "repository full");
  EXPECT_EQ(takeAsyncAnswer(spool_, pgWal() + "/000000010000000000000003").outcome, AsyncOutcome::kPending);

  // The worker retries until nothing is pending, then leaves once idle.
  SimulatedClock clock;
  int sleeps = 0;
  clock.on_sleep = [&] {
    if (++sleeps == 2) fail_one = false;
  };
  ASSERT_TRUE(runPushWorker(spool_, pgWal(), 2, push, clock, std::chrono::seconds(2), std::chrono::seconds(1), log).ok());
  EXPECT_EQ(queueState(spool_, pgWal()).files, 0);
  EXPECT_EQ(pushed.back(), "000000010000000000000003");
  EXPECT_EQ(takeAsyncAnswer(spool_, pgWal() + "/000000010000000000000003").outcome, AsyncOutcome::kPushed);

  // Once PostgreSQL marked a file done, its answer goes.
  fs::rename(pgWal() + "/archive_status/000000010000000000000001.ready",
             pgWal() + "/archive_status/000000010000000000000001.done");
  clock.on_sleep = nullptr;
  ASSERT_TRUE(runPushWorker(spool_, pgWal(), 2, push, clock, std::chrono::seconds(2), std::chrono::seconds(1), log).ok());
  EXPECT_FALSE(fs::exists(spool_.dir + "/out/000000010000000000000001.ok"));
  EXPECT_TRUE(fs::exists(spool_.dir + "/out/000000010000000000000003.ok"));
}

TEST_F(AsyncArchiveTest, ARecycledSegmentOfTheSameNameIsNotTakenAsPushed) {
  ready("000000010000000000000001");
  auto push = [&](const std::string&) -> Result<PushResult> { return PushResult{"x", false}; };
  std::ostringstream log;
  ASSERT_EQ(pushPending(spool_, pgWal(), pendingWal(spool_, pgWal()), 1, push, log), 0);
  EXPECT_TRUE(pendingWal(spool_, pgWal()).empty());
  // The same name with other content (a new cluster in the same pg_wal, or
  // a file rewritten): the old answer does not count for it.
  ::usleep(20'000);
  wal("000000010000000000000001", 1000, 'n');
  EXPECT_EQ(pendingWal(spool_, pgWal()), (std::vector<std::string>{"000000010000000000000001"}));
  EXPECT_EQ(takeAsyncAnswer(spool_, pgWal() + "/000000010000000000000001").outcome, AsyncOutcome::kPending);
}

TEST_F(AsyncArchiveTest, TheBacklogOverItsLimitIsReportedAndNothingIsDropped) {
  spool_.queue_max_bytes = 2500;
  for (const char* name : {"000000010000000000000001", "000000010000000000000002", "000000010000000000000003"}) {
    ready(name);
  }
  std::atomic<bool> repository_up{false};
  auto push = [&](const std::string&) -> Result<PushResult> {
    if (!repository_up) return makeError(ErrorCode::kIo, "permission denied");
    return PushResult{"x", false};
  };
  SimulatedClock clock;
  int sleeps = 0;
  std::string while_down;
  clock.on_sleep = [&] {
    if (++sleeps == 3) {
      while_down = metrics();
      repository_up = true;
    }
  };
  std::ostringstream log;
  ASSERT_TRUE(runPushWorker(spool_, pgWal(), 2, push, clock, std::chrono::seconds(2), std::chrono::seconds(1), log).ok());
  EXPECT_NE(while_down.find("\npgtandem_archive_queue_full 1"), std::string::npos) << while_down;
  EXPECT_NE(while_down.find("\npgtandem_archive_queue_bytes 3000"), std::string::npos) << while_down;
  EXPECT_NE(while_down.find("\npgtandem_archive_push_failing 1"), std::string::npos) << while_down;
  EXPECT_EQ(while_down.find("\npgtandem_archive_last_push_failure_timestamp_seconds 0\n"), std::string::npos) << while_down;
  EXPECT_NE(log.str().find("passed archive_push_queue_max 2500: nothing is dropped"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("back under the limit"), std::string::npos) << log.str();
  EXPECT_NE(metrics().find("\npgtandem_archive_queue_full 0"), std::string::npos) << metrics();
  EXPECT_NE(metrics().find("\npgtandem_archive_push_failing 0"), std::string::npos) << metrics();
  for (const char* name : {"000000010000000000000001", "000000010000000000000002", "000000010000000000000003"}) {
    EXPECT_EQ(takeAsyncAnswer(spool_, pgWal() + "/" + name).outcome, AsyncOutcome::kPushed) << name;
  }
}

TEST_F(AsyncArchiveTest, TheCallWaitsForItsFileStartsAWorkerAndTimesOut) {
  ready("000000010000000000000001");
  SimulatedClock clock;
  int ensured = 0;
  auto pushed = awaitAsyncPush(spool_, pgWal() + "/000000010000000000000001", clock, std::chrono::seconds(3),
                               [&] { ++ensured; });
  ASSERT_FALSE(pushed.ok());
  EXPECT_EQ(pushed.error().code, ErrorCode::kTimeout);
  EXPECT_NE(pushed.error().message.find("worker.log"), std::string::npos) << pushed.error().message;
  EXPECT_EQ(ensured, 3) << "a worker that died is started again every second";
  // The worker's answer arrives while the call waits.
  auto push = [&](const std::string&) -> Result<PushResult> { return PushResult{"x", false}; };
  std::ostringstream log;
  clock.on_sleep = [&] { (void)pushPending(spool_, pgWal(), pendingWal(spool_, pgWal()), 1, push, log); };
  EXPECT_TRUE(awaitAsyncPush(spool_, pgWal() + "/000000010000000000000001", clock, std::chrono::seconds(3), [] {}).ok());
}

TEST_F(AsyncArchiveTest, ASecondWorkerLeavesAtOnceAndAFileMarkedReadyAsTheWorkerLeavesIsPushed) {
  ready("000000010000000000000001");
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
    EXPECT_TRUE(pushWorkerRunning(spool_));
    ASSERT_TRUE(runPushWorker(spool_, pgWal(), 1, push, clock, std::chrono::seconds(2), std::chrono::seconds(1), log).ok());
    EXPECT_EQ(pushes, 0) << "a second worker pushed while the first held the lock";
    ::close(held);
  }
  EXPECT_FALSE(pushWorkerRunning(spool_));
  // While the worker idles, a new file is marked ready: it is pushed before it leaves.
  int sleeps = 0;
  clock.on_sleep = [&] {
    if (++sleeps == 10) ready("000000010000000000000002");
  };
  ASSERT_TRUE(runPushWorker(spool_, pgWal(), 1, push, clock, std::chrono::seconds(2), std::chrono::seconds(1), log).ok());
  EXPECT_EQ(pushes, 2);
  EXPECT_EQ(queueState(spool_, pgWal()).files, 0);
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
