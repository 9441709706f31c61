// PostgreSQL control against real PostgreSQL 15, run as the postgres user:
// initdb, start, adopt, stop; a pg_basebackup replica streams; it is promoted;
// the old primary, which diverged, is rewound with pg_rewind and follows.

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "common/pg/pg_session.h"
#include "common/pg/postgres.h"
#include "tests/support/ports.h"

namespace pgtandem::pg {
namespace {

using namespace std::chrono_literals;

class PgIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() == 0) GTEST_SKIP() << "must run as the postgres user (ctest uses setpriv)";
    dir_ = testing::makeTempDir("pg");
  }
  void TearDown() override {
    for (auto* pm : {primary_.get(), replica_.get()}) {
      if (pm) (void)pm->stop(StopMode::kImmediate, 30s);
    }
    if (!dir_.empty() && !HasFailure()) testing::removeTree(dir_);
  }

  ServerSettings settingsFor(int port) {
    ServerSettings s;
    s.port = port;
    s.unix_socket_directories = dir_;
    s.parameters = {{"wal_level", "replica"}, {"max_wal_senders", "10"}, {"max_replication_slots", "10"},
                    {"hot_standby", "on"}, {"wal_log_hints", "on"}, {"shared_buffers", "16MB"},
                    {"fsync", "off"}, {"wal_keep_size", "64MB"},
                    {"dynamic_shared_memory_type", "mmap"}};
    return s;
  }

  std::string connect(int port) {
    return conninfo({{"host", "127.0.0.1"}, {"port", std::to_string(port)}, {"user", "postgres"},
                     {"dbname", "postgres"}, {"connect_timeout", "5"}});
  }

  std::unique_ptr<PgSession> session(int port) {
    auto s = PgSession::connect(connect(port));
    EXPECT_TRUE(s.ok()) << s.error().toString();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // Polls `predicate` every 100 ms for up to `limit`.
  template <typename Predicate>
  bool eventually(Predicate predicate, std::chrono::milliseconds limit = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (predicate()) return true;
      std::this_thread::sleep_for(100ms);
    }
    return predicate();
  }

  bool rowVisible(int port, const std::string& value) {
    auto s = PgSession::connect(connect(port));
    if (!s.ok()) return false;
    auto rows = (*s)->query("SELECT count(*) FROM t WHERE v = '" + value + "'");
    return rows.ok() && rows->size() == 1 && (*rows)[0][0] == "1";
  }

  bool streaming(int port) {
    auto s = PgSession::connect(connect(port));
    if (!s.ok()) return false;
    auto state = (*s)->queryState();
    return state.ok() && state->in_recovery && state->wal_receiver_status == "streaming";
  }

  RecoverySettings followSettings(int primary_port, const std::string& name) {
    RecoverySettings r;
    r.standby = true;
    r.primary_conninfo = conninfo({{"host", "127.0.0.1"}, {"port", std::to_string(primary_port)},
                                   {"user", "postgres"}, {"application_name", name}});
    return r;
  }

  void allowLoopbackTrust(const std::string& data_dir) {
    std::ifstream in(data_dir + "/pg_hba.conf");
    std::stringstream old;
    old << in.rdbuf();
    std::ofstream out(data_dir + "/pg_hba.conf", std::ios::trunc);
    out << "host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n" << old.str();
  }

  PosixProcessRunner runner_;
  std::string dir_;
  std::unique_ptr<Postmaster> primary_, replica_;
};

TEST_F(PgIntegrationTest, InitdbStartAdoptStop) {
  PgPaths paths{"/usr/lib/postgresql/15/bin", dir_ + "/d1"};
  primary_ = std::make_unique<Postmaster>(paths, runner_);
  ASSERT_TRUE(primary_->initdb({"--data-checksums"}, "postgres", "").ok());
  allowLoopbackTrust(paths.data_dir);
  const int port = testing::freeLoopbackPort();
  ASSERT_TRUE(writeServerSettings(paths.data_dir, settingsFor(port)).ok());
  auto started = primary_->start(60s);
  ASSERT_TRUE(started.ok()) << started.error().toString();
  EXPECT_FALSE(primary_->adopted());
  const auto pid = primary_->pid();
  auto state = session(port)->queryState();
  ASSERT_TRUE(state.ok()) << state.error().toString();
  EXPECT_FALSE(state->in_recovery);
  EXPECT_EQ(state->timeline, 1);
  EXPECT_GE(state->server_version, 150000);
  ASSERT_TRUE(state->current_lsn.has_value());

  // A new agent finds the running postmaster and adopts it.
  auto again = std::make_unique<Postmaster>(paths, runner_);
  ASSERT_TRUE(again->start(10s).ok());
  EXPECT_TRUE(again->adopted());
  EXPECT_EQ(again->pid(), pid);

  // Stopping through the adopted handle; the original notices at once.
  ASSERT_TRUE(again->stop(StopMode::kFast, 60s).ok());
  EXPECT_TRUE(eventually([&] { return !primary_->running(); }, 5s));
  EXPECT_TRUE(again->stop(StopMode::kFast, 5s).ok()) << "stopping twice is fine";

  // A postmaster killed with SIGKILL is noticed through its pidfd.
  ASSERT_TRUE(primary_->start(60s).ok());
  ASSERT_TRUE(primary_->running());
  EXPECT_GE(primary_->pidfd(), 0);
  ASSERT_EQ(::kill(*primary_->pid(), SIGKILL), 0);
  EXPECT_TRUE(eventually([&] { return !primary_->running(); }, 5s));
  // Once it is gone there is nothing left to wait for: the agent's poll loop
  // must not keep waking on the dead postmaster's (still readable) pidfd.
  EXPECT_EQ(primary_->pidfd(), -1);
  auto crashed = std::make_unique<Postmaster>(paths, runner_);
  // Orphaned backends hold the shared memory for a moment after the
  // postmaster died; the agent simply retries, so does the test.
  EXPECT_TRUE(eventually([&] { return crashed->start(60s).ok(); }, 30s)) << "restart after a crash";
  EXPECT_FALSE(crashed->adopted());
  ASSERT_TRUE(crashed->stop(StopMode::kSmart, 60s).ok());
  auto control = readControlData(runner_, paths);
  ASSERT_TRUE(control.ok()) << control.error().toString();
  EXPECT_EQ(control->cluster_state, "shut down");
  EXPECT_TRUE(control->data_checksums);
}

TEST_F(PgIntegrationTest, CloneStreamPromoteRewindFollow) {
  const int p1 = testing::freeLoopbackPort();
  const int p2 = testing::freeLoopbackPort();
  PgPaths primary_paths{"/usr/lib/postgresql/15/bin", dir_ + "/n1"};
  PgPaths replica_paths{"/usr/lib/postgresql/15/bin", dir_ + "/n2"};
  primary_ = std::make_unique<Postmaster>(primary_paths, runner_);
  ASSERT_TRUE(primary_->initdb({"--data-checksums"}, "postgres", "").ok());
  allowLoopbackTrust(primary_paths.data_dir);
  ASSERT_TRUE(writeServerSettings(primary_paths.data_dir, settingsFor(p1)).ok());
  ASSERT_TRUE(primary_->start(60s).ok());
  ASSERT_TRUE(session(p1)->execute("CREATE TABLE t (v text); INSERT INTO t VALUES ('before-clone')").ok());

  // Clone and stream.
  auto clone = runBasebackup(runner_, replica_paths, connect(p1), replica_paths.data_dir, 120s);
  ASSERT_TRUE(clone.ok());
  ASSERT_EQ(clone->exit_code, 0) << clone->output;
  ASSERT_TRUE(writeServerSettings(replica_paths.data_dir, settingsFor(p2)).ok());
  auto change = writeRecoverySettings(replica_paths.data_dir, followSettings(p1, "n2"));
  ASSERT_TRUE(change.ok());
  replica_ = std::make_unique<Postmaster>(replica_paths, runner_);
  auto started = replica_->start(60s);
  ASSERT_TRUE(started.ok()) << started.error().toString();
  ASSERT_TRUE(eventually([&] { return streaming(p2); })) << "the clone does not stream";
  ASSERT_TRUE(session(p1)->execute("INSERT INTO t VALUES ('streamed')").ok());
  EXPECT_TRUE(eventually([&] { return rowVisible(p2, "streamed"); }));
  auto primary_state = session(p1)->queryState();
  ASSERT_TRUE(primary_state.ok());
  ASSERT_EQ(primary_state->replication.size(), 1u);
  EXPECT_EQ(primary_state->replication[0].application_name, "n2");

  // Re-pointing recovery settings without touching standby.signal is a reload.
  auto renamed = followSettings(p1, "n2-renamed");
  auto reload = writeRecoverySettings(replica_paths.data_dir, renamed);
  ASSERT_TRUE(reload.ok());
  EXPECT_EQ(*reload, ConfigChange::kReload);
  ASSERT_TRUE(replica_->reload().ok());
  EXPECT_TRUE(eventually([&] {
    auto s = session(p1)->queryState();
    return s.ok() && s->replication.size() == 1 && s->replication[0].application_name == "n2-renamed";
  })) << "primary_conninfo change was not picked up by a reload";

  // Promote the replica; the old primary keeps writing and diverges.
  ASSERT_TRUE(replica_->promote(60s).ok());
  auto promoted = session(p2)->queryState();
  ASSERT_TRUE(promoted.ok());
  EXPECT_FALSE(promoted->in_recovery);
  EXPECT_EQ(promoted->timeline, 2);
  ASSERT_TRUE(session(p1)->execute("INSERT INTO t VALUES ('diverged')").ok());
  ASSERT_TRUE(session(p2)->execute("INSERT INTO t VALUES ('after-promote'); CHECKPOINT").ok());
  ASSERT_TRUE(primary_->stop(StopMode::kFast, 60s).ok());

  auto old_control = readControlData(runner_, primary_paths);
  auto new_control = readControlData(runner_, replica_paths);
  ASSERT_TRUE(old_control.ok() && new_control.ok());
  EXPECT_EQ(old_control->system_identifier, new_control->system_identifier);
  EXPECT_EQ(old_control->cluster_state, "shut down");

  // Rewind the old primary and make it follow the new one.
  auto rewind = runRewind(runner_, primary_paths, connect(p2), 120s);
  ASSERT_TRUE(rewind.ok());
  ASSERT_EQ(rewind->exit_code, 0) << rewind->output;
  // pg_rewind copied the source's configuration files: write ours again.
  ASSERT_TRUE(writeServerSettings(primary_paths.data_dir, settingsFor(p1)).ok());
  ASSERT_TRUE(writeRecoverySettings(primary_paths.data_dir, followSettings(p2, "n1")).ok());
  auto restarted = primary_->start(60s);
  ASSERT_TRUE(restarted.ok()) << restarted.error().toString();
  ASSERT_TRUE(eventually([&] { return streaming(p1); })) << "the rewound node does not stream";
  ASSERT_TRUE(session(p2)->execute("INSERT INTO t VALUES ('after-rewind')").ok());
  EXPECT_TRUE(eventually([&] { return rowVisible(p1, "after-rewind"); }));
  EXPECT_TRUE(rowVisible(p1, "after-promote"));
  EXPECT_FALSE(rowVisible(p1, "diverged")) << "the diverged write must be gone after the rewind";
  auto follower = session(p1)->queryState();
  ASSERT_TRUE(follower.ok());
  EXPECT_EQ(follower->timeline, 2);
}

}  // namespace
}  // namespace pgtandem::pg
