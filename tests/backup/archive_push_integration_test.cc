// archive-push against real services: the split-brain guard reading a real
// etcd (a fenced DC is refused, then allowed what it wrote before its
// demotion; an etcd that is down fails closed); a push killed with SIGKILL
// halfway through its file leaves nothing visible, and the retry succeeds,
// on a local and on an SFTP repository (a real sshd on loopback); and the
// SFTP errors: a wrong or unknown host key, an unreachable host. The WAL
// file comes through a FIFO, so that the kill lands mid-file every time.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "backup/repository.h"
#include "common/dcs/cluster.h"
#include "common/dcs/etcd_dcs.h"
#include "common/dcs/site_state.h"
#include "common/process/process.h"
#include "tests/support/etcd_process.h"
#include "tests/backup/run_dc_backup.h"
#include "tests/support/ports.h"
#include "tests/support/sshd.h"

namespace pgtandem {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr std::uint64_t kSystemId = 7300000000000000001ULL;

class ArchivePushIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::makeTempDir("archive-push");
    repo_ = dir_ + "/repo";
    fs::create_directories(repo_);
    fs::create_directories(dir_ + "/data/global");
    fs::create_directories(dir_ + "/pg_wal");
    std::string control(8192, '\0');
    std::memcpy(control.data(), &kSystemId, sizeof kSystemId);
    std::ofstream(dir_ + "/data/global/pg_control", std::ios::binary) << control;
    std::ofstream(dir_ + "/data/PG_VERSION") << "15\n";
    ASSERT_EQ(dcBackup({"stanza-create", "--repo", repo_, "--stanza", "main", "--pg-data", dir_ + "/data"}).first, 0);
  }
  void TearDown() override {
    if (!HasFailure()) testing::removeTree(dir_);
  }

  std::pair<int, std::string> dcBackup(const std::vector<std::string>& args) { return testing::runDcBackup(runner_, args); }
  std::string segmentBytes(char fill, std::size_t size = 16 * 1024 * 1024) {
    std::string bytes(size, fill);
    const std::uint16_t info = 0x0002;
    std::memcpy(bytes.data() + 2, &info, sizeof info);
    std::memcpy(bytes.data() + 24, &kSystemId, sizeof kSystemId);
    return bytes;
  }
  std::string segment(const std::string& name, char fill) {
    const std::string path = dir_ + "/pg_wal/" + name;
    std::ofstream(path, std::ios::binary) << segmentBytes(fill);
    return path;
  }
  // Every file under the stanza's WAL directory.
  std::vector<std::string> archived() {
    std::vector<std::string> names;
    if (!fs::exists(repo_ + "/main/wal")) return names;
    for (const auto& e : fs::recursive_directory_iterator(repo_ + "/main/wal")) {
      if (e.is_regular_file()) names.push_back(e.path().filename().string());
    }
    return names;
  }

  std::string readLog() { return readFile(dir_ + "/push.log"); }
  static std::string readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void killMidFileAndRetry(const std::vector<std::string>& where, const std::string& stored_dir);

  PosixProcessRunner runner_;
  std::string dir_, repo_;
};

TEST_F(ArchivePushIntegrationTest, AFencedDcIsRefusedByItsOwnEtcdAndADownEtcdFailsClosed) {
  auto etcd = testing::EtcdProcess::startSingle({});
  ASSERT_TRUE(etcd && testing::waitForEtcd(etcd->url(), 20));
  auto client = dcs::EtcdDcs::create({{etcd->url()}, false, "", "", "", "", "", 3000ms});
  ASSERT_TRUE(client.ok()) << client.error().toString();
  const std::string key = dcs::siteKey(dcs::ClusterPaths("/service/", "main"));
  const std::string config = dir_ + "/dc-backup.yml";
  std::ofstream(config) << "repo: " << repo_ << "\nstanza: main\nsite:\n  name: dc1\n  etcd: [" << etcd->endpoint()
                        << "]\n  scope: main\n";

  dcs::SiteState state;
  state.role = dcs::SiteRole::kPrimary;
  state.epoch = 2;
  ASSERT_TRUE((*client)->put(key, dcs::toJson(state), 0).ok());
  auto pushed = dcBackup({"archive-push", "--config", config, segment("000000010000000000000001", 'a')});
  EXPECT_EQ(pushed.first, 0) << pushed.second;

  // The coordinator fenced DC1 after a clean demotion in segment 2.
  state.role = dcs::SiteRole::kFenced;
  state.epoch = 3;
  state.token = dcs::DemotionToken{std::to_string(kSystemId), 1, 0x2000028, "000000010000000000000002", "", false};
  ASSERT_TRUE((*client)->put(key, dcs::toJson(state), 0).ok());
  auto before_demotion = dcBackup({"archive-push", "--config", config, segment("000000010000000000000002", 'b')});
  EXPECT_EQ(before_demotion.first, 0) << before_demotion.second;
  const auto count = archived().size();
  auto refused = dcBackup({"archive-push", "--config", config, segment("000000010000000000000003", 'c')});
  EXPECT_EQ(refused.first, 1);
  EXPECT_NE(refused.second.find("refused by guard.fenced"), std::string::npos) << refused.second;
  EXPECT_EQ(archived().size(), count) << "a refused push wrote something";

  // Garbage in the key, then etcd gone: refused, nothing written.
  ASSERT_TRUE((*client)->put(key, "{\"role\": 7}", 0).ok());
  auto garbage = dcBackup({"archive-push", "--config", config, segment("000000010000000000000003", 'c')});
  EXPECT_EQ(garbage.first, 1);
  EXPECT_NE(garbage.second.find("guard.dcs_unreadable"), std::string::npos) << garbage.second;
  etcd->kill();
  auto blind = dcBackup({"archive-push", "--config", config, segment("000000010000000000000003", 'c')});
  EXPECT_EQ(blind.first, 1);
  EXPECT_NE(blind.second.find("guard.dcs_unreadable"), std::string::npos) << blind.second;
  EXPECT_EQ(archived().size(), count);
  // Without the guard configured the same push goes through.
  EXPECT_EQ(dcBackup({"archive-push", "--repo", repo_, "--stanza", "main", dir_ + "/pg_wal/000000010000000000000003"}).first, 0);
}

// Pushes `name` through a FIFO and kills the push halfway; `stored_dir`
// is where the repository's files land on this host.
void ArchivePushIntegrationTest::killMidFileAndRetry(const std::vector<std::string>& where, const std::string& stored_dir) {
  const std::string name = "000000010000000000000004";
  const std::string fifo = dir_ + "/fifo/" + name;
  fs::create_directories(dir_ + "/fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  SpawnOptions push;
  push.argv = {DC_BACKUP_BIN, "archive-push"};
  push.argv.insert(push.argv.end(), where.begin(), where.end());
  push.argv.push_back(fifo);
  push.output_file = dir_ + "/push.log";
  auto process = spawnProcess(push);
  ASSERT_TRUE(process.ok());
  const std::string bytes = segmentBytes('k');
  {
    const int fd = ::open(fifo.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    std::size_t written = 0;
    while (written < bytes.size() / 2) {
      const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() / 2 - written);
      ASSERT_GT(n, 0);
      written += static_cast<std::size_t>(n);
    }
    // Half the file is in: the push is mid-file (its temporary file exists).
    bool temporary = false;
    for (int i = 0; i < 100 && !temporary; ++i) {
      if (fs::exists(stored_dir + "/main/wal/0000000100000000")) {
        for (const auto& e : fs::directory_iterator(stored_dir + "/main/wal/0000000100000000")) {
          temporary = temporary || e.path().extension() == ".tmp";
        }
      }
      if (!temporary) std::this_thread::sleep_for(20ms);
    }
    EXPECT_TRUE(temporary) << "the push never began writing: " << readLog();
    ASSERT_TRUE((*process)->signal(SIGKILL).ok());
    (void)(*process)->waitExit(10s);
    ::close(fd);
  }
  // Nothing under a final name; get says "not archived"; verify is clean.
  for (const auto& e : fs::recursive_directory_iterator(stored_dir + "/main/wal")) {
    if (e.is_regular_file() && e.path().filename().string().rfind(name, 0) == 0) {
      EXPECT_EQ(e.path().extension(), ".tmp") << e.path();
    }
  }
  auto args = [&](std::vector<std::string> verb) {
    verb.insert(verb.begin() + 1, where.begin(), where.end());
    return verb;
  };
  EXPECT_EQ(dcBackup(args({"archive-get", name, dir_ + "/got"})).first, 1);
  EXPECT_FALSE(fs::exists(dir_ + "/got"));
  auto verified = dcBackup(args({"verify"}));
  EXPECT_EQ(verified.first, 0) << verified.second;
  // The archiver's retry, with the whole file.
  const std::string whole = dir_ + "/pg_wal/" + name;
  std::ofstream(whole, std::ios::binary) << bytes;
  auto retried = dcBackup(args({"archive-push", whole}));
  EXPECT_EQ(retried.first, 0) << retried.second;
  EXPECT_EQ(dcBackup(args({"archive-get", name, dir_ + "/got"})).first, 0);
  std::ifstream got(dir_ + "/got", std::ios::binary);
  EXPECT_TRUE(std::string(std::istreambuf_iterator<char>(got), {}) == bytes);
}

TEST_F(ArchivePushIntegrationTest, KilledMidFileLeavesNothingVisibleAndTheRetrySucceeds) {
  killMidFileAndRetry({"--repo", repo_, "--stanza", "main"}, repo_);
}

// A real sshd on loopback, started by the test, with keys made for it.
class SftpRepositoryTest : public ArchivePushIntegrationTest {
 protected:
  void SetUp() override {
    ArchivePushIntegrationTest::SetUp();
    std::string why;
    if (!sshd_.prepare(dir_, why)) GTEST_SKIP() << why;
    startSshd();
    ASSERT_FALSE(HasFatalFailure());
    remote_ = dir_ + "/remote-repo";
    fs::create_directories(remote_);
    url_ = "sftp://root@127.0.0.1:" + std::to_string(sshd_.port()) + remote_;
  }
  void TearDown() override {
    stopSshd();
    ArchivePushIntegrationTest::TearDown();
  }
  void startSshd() { ASSERT_TRUE(sshd_.start()) << sshd_.log(); }
  void stopSshd() { sshd_.stop(); }
  std::string config(const std::string& known_hosts) {
    const std::string path = dir_ + "/sftp-" + fs::path(known_hosts).filename().string() + ".yml";
    std::ofstream(path) << "repo: " << url_ << "\nstanza: main\nsftp_key_file: " << dir_ << "/client_key\nsftp_known_hosts: "
                        << known_hosts << "\n";
    return path;
  }
  testing::Sshd sshd_;
  std::string remote_, url_;
};

TEST_F(SftpRepositoryTest, TheArchiveWorksOverSftpAndAKilledPushLeavesNothingVisible) {
  const std::string good = config(dir_ + "/known_hosts");
  auto created = dcBackup({"stanza-create", "--config", good, "--pg-data", dir_ + "/data"});
  ASSERT_EQ(created.first, 0) << created.second;
  EXPECT_TRUE(fs::exists(remote_ + "/main/stanza.info"));
  auto pushed = dcBackup({"archive-push", "--config", good, segment("000000010000000000000001", 'a')});
  ASSERT_EQ(pushed.first, 0) << pushed.second;
  EXPECT_EQ(dcBackup({"archive-get", "--config", good, "000000010000000000000001", dir_ + "/back"}).first, 0);
  EXPECT_EQ(readFile(dir_ + "/back"), segmentBytes('a'));
  killMidFileAndRetry({"--config", good}, remote_);

  // What expire does over SFTP: one file, then a whole tree.
  auto repo = backup::openRepository(url_, {dir_ + "/client_key", dir_ + "/known_hosts"});
  ASSERT_TRUE(repo.ok()) << repo.error().message;
  ASSERT_TRUE((*repo)->write("main/backup/20261204-100000F/pg_data/base/1.zst", "x").ok());
  ASSERT_TRUE((*repo)->write("main/backup/20261204-100000F/backup.manifest", "m").ok());
  ASSERT_TRUE((*repo)->remove("main/backup/20261204-100000F/backup.manifest").ok());
  EXPECT_TRUE((*repo)->remove("main/backup/20261204-100000F/backup.manifest").ok()) << "a file already gone";
  EXPECT_FALSE(fs::exists(remote_ + "/main/backup/20261204-100000F/backup.manifest"));
  ASSERT_TRUE((*repo)->removeTree("main/backup/20261204-100000F").ok());
  EXPECT_FALSE(fs::exists(remote_ + "/main/backup/20261204-100000F"));
  EXPECT_TRUE((*repo)->removeTree("main/backup/20261204-100000F").ok()) << "a tree already gone";
  EXPECT_TRUE(fs::exists(remote_ + "/main/stanza.info")) << "removeTree went past its directory";
}

// Asynchronous pushes to an SFTP host that is down fail at once with the
// reason (not after the call's 60 s wait), and succeed once it is back: the
// worker opens the repository again.
TEST_F(SftpRepositoryTest, AsyncPushesFailAtOnceWhileTheHostIsDownAndSucceedOnceItIsBack) {
  const std::string good = config(dir_ + "/known_hosts");
  ASSERT_EQ(dcBackup({"stanza-create", "--config", good, "--pg-data", dir_ + "/data"}).first, 0);
  const std::string async = dir_ + "/sftp-async.yml";
  std::ofstream(async) << readFile(good) << "archive_async: true\nspool_path: " << dir_ << "/spool\n";
  const std::string name = "000000010000000000000007";
  fs::create_directories(dir_ + "/pgdata/pg_wal/archive_status");
  std::ofstream(dir_ + "/pgdata/pg_wal/" + name, std::ios::binary) << segmentBytes('s');
  std::ofstream(dir_ + "/pgdata/pg_wal/archive_status/" + name + ".ready");
  stopSshd();
  const auto started = std::chrono::steady_clock::now();
  auto down = dcBackup({"archive-push", "--config", async, dir_ + "/pgdata/pg_wal/" + name});
  EXPECT_EQ(down.first, 1) << down.second;
  EXPECT_NE(down.second.find("cannot reach the SFTP repository host"), std::string::npos) << down.second;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 30s) << "the call waited for its timeout";
  startSshd();
  ASSERT_FALSE(HasFatalFailure());
  auto back = dcBackup({"archive-push", "--config", async, dir_ + "/pgdata/pg_wal/" + name});
  EXPECT_EQ(back.first, 0) << back.second << readFile(dir_ + "/spool/worker.log");
  bool arrived = false;
  for (const auto& e : fs::recursive_directory_iterator(remote_ + "/main/wal")) {
    arrived = arrived || e.path().filename().string().rfind(name + "-", 0) == 0;
  }
  EXPECT_TRUE(arrived);
  // The worker leaves once idle (it runs as a detached process of its own).
  std::ofstream(dir_ + "/pgdata/pg_wal/archive_status/" + name + ".done");
  fs::remove(dir_ + "/pgdata/pg_wal/archive_status/" + name + ".ready");
}

TEST_F(SftpRepositoryTest, AWrongOrUnknownHostKeyOrAnUnreachableHostIsAClearErrorAndWritesNothing) {
  auto wrong = dcBackup({"stanza-create", "--config", config(dir_ + "/wrong_known_hosts"), "--pg-data", dir_ + "/data"});
  EXPECT_EQ(wrong.first, 1);
  EXPECT_NE(wrong.second.find("is not the one in"), std::string::npos) << wrong.second;
  auto unknown = dcBackup({"stanza-create", "--config", config(dir_ + "/empty_known_hosts"), "--pg-data", dir_ + "/data"});
  EXPECT_EQ(unknown.first, 1);
  EXPECT_NE(unknown.second.find("is not in"), std::string::npos) << unknown.second;
  EXPECT_NE(unknown.second.find("ssh-keyscan"), std::string::npos) << unknown.second;
  const std::string nowhere = "sftp://root@127.0.0.1:" + std::to_string(testing::freeLoopbackPort()) + remote_;
  auto unreachable = dcBackup({"archive-push", "--repo", nowhere, "--stanza", "main", segment("000000010000000000000001", 'a')});
  EXPECT_EQ(unreachable.first, 1);
  EXPECT_NE(unreachable.second.find("cannot reach the SFTP repository host"), std::string::npos) << unreachable.second;
  auto bad_url = dcBackup({"archive-push", "--repo", "sftp://host-without-path", "--stanza", "main", dir_ + "/x"});
  EXPECT_EQ(bad_url.first, 1);
  EXPECT_NE(bad_url.second.find("absolute/path"), std::string::npos) << bad_url.second;
  EXPECT_TRUE(fs::is_empty(remote_)) << "a refused connection wrote into the repository";
  EXPECT_EQ(sshd_.log().find("private"), std::string::npos);
  for (const auto* out : {&wrong.second, &unknown.second}) {
    EXPECT_EQ(out->find(readFile(dir_ + "/client_key").substr(40, 20)), std::string::npos) << "a secret in the output";
  }
}

}  // namespace
}  // namespace pgtandem
