// archive-push against real services: the split-brain guard reading a real
// etcd (a fenced DC is refused, then allowed what it wrote before its
// demotion; an etcd that is down fails closed), and a push killed with
// SIGKILL halfway through its file leaves nothing visible, and the retry
// succeeds. The WAL file comes through a FIFO, so that the kill lands
// mid-file every time.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/dcs/cluster.h"
#include "common/dcs/etcd_dcs.h"
#include "common/dcs/site_state.h"
#include "common/process/process.h"
#include "tests/support/etcd_process.h"
#include "tests/backup/run_dc_backup.h"
#include "tests/support/ports.h"

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

TEST_F(ArchivePushIntegrationTest, KilledMidFileLeavesNothingVisibleAndTheRetrySucceeds) {
  const std::string name = "000000010000000000000004";
  const std::string fifo = dir_ + "/fifo/" + name;
  fs::create_directories(dir_ + "/fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  SpawnOptions push;
  push.argv = {DC_BACKUP_BIN, "archive-push", "--repo", repo_, "--stanza", "main", fifo};
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
      if (fs::exists(repo_ + "/main/wal/0000000100000000")) {
        for (const auto& e : fs::directory_iterator(repo_ + "/main/wal/0000000100000000")) {
          temporary = temporary || e.path().extension() == ".tmp";
        }
      }
      if (!temporary) std::this_thread::sleep_for(20ms);
    }
    EXPECT_TRUE(temporary) << "the push never began writing";
    ASSERT_TRUE((*process)->signal(SIGKILL).ok());
    (void)(*process)->waitExit(10s);
    ::close(fd);
  }
  // Nothing under a final name; get says "not archived"; verify is clean.
  for (const auto& file : archived()) EXPECT_EQ(fs::path(file).extension(), ".tmp") << file;
  EXPECT_EQ(dcBackup({"archive-get", "--repo", repo_, "--stanza", "main", name, dir_ + "/got"}).first, 1);
  EXPECT_FALSE(fs::exists(dir_ + "/got"));
  auto verified = dcBackup({"verify", "--repo", repo_, "--stanza", "main"});
  EXPECT_EQ(verified.first, 0) << verified.second;
  // The archiver's retry, with the whole file.
  const std::string whole = dir_ + "/pg_wal/" + name;
  std::ofstream(whole, std::ios::binary) << bytes;
  auto retried = dcBackup({"archive-push", "--repo", repo_, "--stanza", "main", whole});
  EXPECT_EQ(retried.first, 0) << retried.second;
  EXPECT_EQ(dcBackup({"archive-get", "--repo", repo_, "--stanza", "main", name, dir_ + "/got"}).first, 0);
  std::ifstream got(dir_ + "/got", std::ios::binary);
  EXPECT_TRUE(std::string(std::istreambuf_iterator<char>(got), {}) == bytes);
}

}  // namespace
}  // namespace pgtandem
