#pragma once
// PostgreSQL 15 clusters for dc-backup's integration tests (run as the
// postgres user): initdb, settings, a local repository, dc-backup itself.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <thread>

#include "common/pg/pg_session.h"
#include "common/pg/postgres.h"
#include "tests/backup/run_dc_backup.h"
#include "tests/support/ports.h"

namespace pgtandem::pg {

using namespace std::chrono_literals;

class BackupPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() == 0) GTEST_SKIP() << "must run as the postgres user (ctest uses setpriv)";
    dir_ = testing::makeTempDir("backup");
    repo_ = dir_ + "/repo";
    std::filesystem::create_directories(repo_);
  }
  void TearDown() override {
    for (auto* pm : {primary_.get(), standby_.get(), other_.get(), restored_.get()}) {
      if (pm) (void)pm->stop(StopMode::kImmediate, 30s);
    }
    if (!dir_.empty() && !HasFailure()) testing::removeTree(dir_);
  }

  // dc-backup with `args`: its exit code and what it printed.
  std::pair<int, std::string> dcBackup(const std::vector<std::string>& args) { return testing::runDcBackup(runner_, args); }
  std::string archiveFlags() { return "--repo " + repo_ + " --stanza main"; }

  std::unique_ptr<Postmaster> initdb(const std::string& name, PgPaths& paths) {
    paths = PgPaths{"/usr/lib/postgresql/15/bin", dir_ + "/" + name};
    auto pm = std::make_unique<Postmaster>(paths, runner_);
    EXPECT_TRUE(pm->initdb({}, "postgres", "").ok());
    return pm;
  }

  ServerSettings settingsFor(int port) {
    ServerSettings s;
    s.port = port;
    s.unix_socket_directories = dir_;
    s.parameters = {{"wal_level", "replica"}, {"hot_standby", "on"}, {"shared_buffers", "16MB"}, {"fsync", "off"},
                    {"dynamic_shared_memory_type", "mmap"}, {"wal_retrieve_retry_interval", "200ms"}};
    return s;
  }

  // A primary whose archive_command is dc-backup archive-push `push_flags`
  // into a stanza made for it, started on `port`.
  void startArchivingPrimary(PgPaths& paths, int port, const std::string& push_flags,
                             const std::map<std::string, std::string>& extra = {}) {
    primary_ = initdb("primary", paths);
    ASSERT_FALSE(HasFailure());
    auto created = dcBackup({"stanza-create", "--repo", repo_, "--stanza", "main", "--pg-data", paths.data_dir});
    ASSERT_EQ(created.first, 0) << created.second;
    auto settings = settingsFor(port);
    settings.parameters["archive_mode"] = "on";
    settings.parameters["archive_command"] = std::string(DC_BACKUP_BIN) + " archive-push " + push_flags + " %p";
    for (const auto& [name, value] : extra) settings.parameters[name] = value;
    ASSERT_TRUE(writeServerSettings(paths.data_dir, settings).ok());
    ASSERT_TRUE(primary_->start(60s).ok());
  }

  // The first column of the first row; "" for none and when the query
  // fails (so that `>=` on WAL names never passes on an error text).
  std::string scalar(int port, const std::string& sql) {
    auto s = PgSession::connect(connect(port));
    if (!s.ok()) return "";
    auto rows = (*s)->query(sql);
    if (!rows.ok()) return "";
    if (rows->empty() || rows->front().empty() || !rows->front()[0]) return "";
    return *rows->front()[0];
  }

  std::string connect(int port) {
    return conninfo({{"host", dir_}, {"port", std::to_string(port)}, {"user", "postgres"}, {"dbname", "postgres"}});
  }

  bool hasRow(int port, const std::string& value) {
    auto s = PgSession::connect(connect(port));
    if (!s.ok()) return false;
    auto rows = (*s)->query("SELECT count(*) FROM t WHERE v = '" + value + "'");
    return rows.ok() && rows->size() == 1 && (*rows)[0][0] == "1";
  }

  template <typename Predicate>
  bool eventually(Predicate predicate, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (predicate()) return true;
      std::this_thread::sleep_for(100ms);
    }
    return predicate();
  }

  PosixProcessRunner runner_;
  std::string dir_, repo_;
  std::unique_ptr<Postmaster> primary_, standby_, other_, restored_;
};

}  // namespace pgtandem::pg
