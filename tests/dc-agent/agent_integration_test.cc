// dc-agent against real etcd and real PostgreSQL 15 on loopback: three
// agents (run as the postgres user) bootstrap a cluster, replicate, survive
// kill -9 of the leader's agent and postmaster (the old leader rejoins by
// pg_rewind), switch over to a named member, restart an agent without
// restarting PostgreSQL, and stop gracefully without losing a commit.

#include <pwd.h>

#include <filesystem>
#include <regex>

#include "tests/dc-agent/agent_cluster.h"

namespace pgtandem::testing {
namespace {

using namespace std::chrono_literals;

TEST_F(AgentCluster, BootstrapFailoverRejoinSwitchoverRestartStop) {
  for (auto& n : nodes_) startAgent(n);
  ASSERT_TRUE(eventually([&] { return healthy(3); }, 120s)) << "no healthy three-node cluster";
  const std::string first = *leader();
  ASSERT_TRUE(session(byName(first))->execute("CREATE TABLE t (v text); INSERT INTO t VALUES ('one')").ok());
  for (auto& n : nodes_) EXPECT_TRUE(eventually([&] { return hasRow(n, "one"); }, 30s)) << n.name;
  // The leader keeps a slot per member, in use, and the permanent slot.
  EXPECT_TRUE(eventually(
      [&] {
        auto st = state(byName(first));
        if (!st) return false;
        std::set<std::string> active, all;
        for (const auto& slot : st->slots) {
          all.insert(slot.name);
          if (slot.active) active.insert(slot.name);
        }
        return all.count("dr_standby") && active.size() == 2 && !active.count(first);
      },
      30s))
      << "replication slots on the leader";
  auto init = dcs_->get("/service/itest/initialize");
  ASSERT_EQ(init->kvs.size(), 1u);
  EXPECT_EQ(init->kvs[0].value.size(), 19u) << "the system identifier";

  // kill -9 of the leader's agent and postmaster.
  AgentNode& old = byName(first);
  ASSERT_TRUE(postmasterPid(old));
  killNode(old);
  const auto killed_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return newPrimaryOtherThan(first); }, 60s))
      << "no new leader after kill -9";
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed_at);
  std::cout << "failover after kill -9 took " << took.count() << " ms (ttl 8 s)\n";
  EXPECT_LT(took, 8s + 10s) << "a new leader within ttl plus a few seconds";
  const std::string second = *leader();
  ASSERT_TRUE(session(byName(second))->execute("INSERT INTO t VALUES ('two')").ok());
  EXPECT_TRUE(eventually(
      [&] {
        std::ifstream log(dir_ + "/callbacks.log");
        std::stringstream text;
        text << log.rdbuf();
        return text.str().find(second + " on_role_change primary itest") != std::string::npos &&
               text.str().find(first + " on_start primary itest") != std::string::npos;
      },
      10s))
      << "callbacks were not run";

  // /history records the switch; deleted, the leader writes it again from
  // PostgreSQL's timeline history file.
  auto history = [&]() -> std::vector<dcs::HistoryEntry> {
    auto got = dcs_->get("/service/itest/history");
    if (!got.ok() || got->kvs.empty()) return {};
    auto parsed = dcs::parseHistory(got->kvs[0].value);
    return parsed.ok() ? *parsed : std::vector<dcs::HistoryEntry>{};
  };
  ASSERT_TRUE(eventually([&] { return history().size() == 1; }, 10s)) << "the promotion is not in /history";
  const dcs::HistoryEntry recorded = history()[0];
  ASSERT_TRUE(dcs_->erasePrefix("/service/itest/history").ok());
  ASSERT_TRUE(eventually([&] { return history().size() == 1; }, 15s)) << "/history was not written again";
  EXPECT_EQ(history()[0].timeline, 1);
  EXPECT_EQ(history()[0].lsn, recorded.lsn) << "the switch point from the history file is the one recorded";
  EXPECT_EQ(history()[0].new_leader, second);

  // The old leader comes back: it rewinds and follows.
  startAgent(old);
  ASSERT_TRUE(eventually([&] { return healthy(3); }, 120s)) << "the old leader did not rejoin";
  EXPECT_TRUE(eventually([&] { return hasRow(old, "two"); }, 30s));
  EXPECT_EQ(writablePrimaries(), 1);

  // Switchover to a named member through /failover (once every member key
  // shows it running: a member still rewinding is no candidate).
  ASSERT_TRUE(eventually([&] { return memberKeysRunning(); }, 60s));
  std::string target;
  for (auto& n : nodes_) {
    if (n.name != second) target = n.name;
  }
  ASSERT_TRUE(dcs_->put("/service/itest/failover", R"({"leader":")" + second + R"(","member":")" + target + R"("})", 0).ok());
  ASSERT_TRUE(eventually([&] { return leader() == target && isPrimary(byName(target)); }, 60s)) << "no switchover";
  ASSERT_TRUE(eventually([&] { return healthy(3); }, 120s)) << "the old leader did not follow after the switchover";
  EXPECT_TRUE(dcs_->get("/service/itest/failover")->kvs.empty());
  ASSERT_TRUE(session(byName(target))->execute("INSERT INTO t VALUES ('three')").ok());

  // PostgreSQL crashes on the leader while its agent lives: restarted in
  // place, the same member keeps the lock.
  {
    const auto crashed = postmasterPid(byName(target));
    ASSERT_TRUE(crashed);
    ASSERT_EQ(::kill(*crashed, SIGKILL), 0);
    ASSERT_TRUE(eventually(
        [&] {
          const auto now = postmasterPid(byName(target));
          return now && *now != *crashed && isPrimary(byName(target));
        },
        60s))
        << "the leader's PostgreSQL was not restarted";
    EXPECT_EQ(leader(), target);
    EXPECT_TRUE(hasRow(byName(target), "three"));
  }

  // Pause: no automatic action, even when the leader's PostgreSQL dies.
  {
    auto config = dcs_->get("/service/itest/config");
    ASSERT_EQ(config->kvs.size(), 1u);
    std::string paused = config->kvs[0].value;
    paused.insert(1, R"("pause":true,)");
    ASSERT_TRUE(dcs_->put("/service/itest/config", paused, 0).ok());
    std::this_thread::sleep_for(3s);
    const auto down = postmasterPid(byName(target));
    ASSERT_TRUE(down);
    ASSERT_EQ(::kill(*down, SIGKILL), 0);
    std::this_thread::sleep_for(12s);  // longer than ttl
    EXPECT_EQ(leader(), target) << "the paused leader keeps its lock";
    EXPECT_FALSE(postmasterPid(byName(target))) << "no automatic restart in pause";
    EXPECT_EQ(writablePrimaries(), 0) << "no automatic promotion in pause";
    // Resume: the leader restarts its PostgreSQL.
    ASSERT_TRUE(dcs_->put("/service/itest/config", config->kvs[0].value, 0).ok());
    ASSERT_TRUE(eventually([&] { return isPrimary(byName(target)) && healthy(3); }, 60s)) << "no recovery after resume";
  }

  // Agent restart without a PostgreSQL restart: the postmaster is adopted.
  AgentNode& replica = byName(second);
  const auto replica_postmaster = postmasterPid(replica);
  ASSERT_TRUE(replica_postmaster);
  (void)replica.process->signal(SIGKILL);
  (void)replica.process->waitExit(10s);
  replica.process.reset();
  startAgent(replica);
  std::this_thread::sleep_for(5s);
  EXPECT_EQ(postmasterPid(replica), replica_postmaster) << "the agent restarted PostgreSQL";
  EXPECT_TRUE(eventually([&] { return healthy(3); }, 60s));

  // Graceful stop of the leader: the lock is handed over without losing a commit.
  ASSERT_TRUE(session(byName(target))->execute("INSERT INTO t VALUES ('before-stop')").ok());
  stopAgent(byName(target), SIGTERM);
  EXPECT_FALSE(postmasterPid(byName(target))) << "a graceful stop stops PostgreSQL";
  {
    std::ifstream log(byName(target).log_file);
    std::stringstream text;
    text << log.rdbuf();
    EXPECT_NE(text.str().find("has received the shutdown checkpoint; releasing the lock"), std::string::npos)
        << "the lock was released before a replica confirmed the shutdown checkpoint";
  }
  ASSERT_TRUE(eventually([&] { return newPrimaryOtherThan(target); }, 30s));
  EXPECT_TRUE(hasRow(byName(*leader()), "before-stop")) << "a commit acknowledged before the stop was lost";
  EXPECT_EQ(writablePrimaries(), 1);
}

// Writes continuously through whichever member leads; kills the leader three
// times; every acknowledged row must survive.
TEST_F(SyncAgentCluster, RepeatedLeaderKillsLoseNoAcknowledgedRow) {
  for (auto& n : nodes_) startAgent(n);
  ASSERT_TRUE(eventually([&] { return healthy(3); }, 120s));
  ASSERT_TRUE(session(byName(*leader()))->execute("CREATE TABLE w (id int primary key)").ok());

  std::atomic<bool> stop{false};
  std::mutex acked_mutex;
  std::vector<int> acked;
  std::thread writer([&] {
    std::unique_ptr<pg::PgSession> s;
    std::string connected_to;
    for (int id = 1; !stop; ++id) {
      const auto l = leader();
      if (!l) {
        std::this_thread::sleep_for(50ms);
        continue;
      }
      if (!s || connected_to != *l) {
        s = session(byName(*l));
        connected_to = *l;
        if (!s) continue;
      }
      // A commit counts only when PostgreSQL acknowledged it.
      if (s->execute("INSERT INTO w VALUES (" + std::to_string(id) + ")").ok()) {
        std::lock_guard lock(acked_mutex);
        acked.push_back(id);
      } else {
        s.reset();
        std::this_thread::sleep_for(50ms);
      }
    }
  });

  // Stops and joins the writer however the test ends (an ASSERT returns early).
  struct StopWriter {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~StopWriter() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
  } stop_writer{stop, writer};
  auto syncStandbyReady = [&] {
    auto got = dcs_->get("/service/itest/sync");
    if (!got.ok() || got->kvs.empty()) return false;
    auto sync = dcs::parseSync(got->kvs[0].value);
    return sync.ok() && sync->leader == leader() && !sync->sync_standby.empty();
  };
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(eventually([&] { return healthy(3) && syncStandbyReady(); }, 120s)) << "round " << round;
    std::this_thread::sleep_for(2s);
    const std::string victim = *leader();
    killLeader(victim);
    ASSERT_TRUE(eventually([&] { return newPrimaryOtherThan(victim); }, 60s))
        << "no new leader in round " << round;
    startAgent(byName(victim));
  }
  ASSERT_TRUE(eventually([&] { return healthy(3); }, 120s));
  std::this_thread::sleep_for(1s);
  stop = true;
  writer.join();

  auto rows = session(byName(*leader()))->query("SELECT id FROM w");
  ASSERT_TRUE(rows.ok());
  std::set<int> present;
  for (const auto& row : *rows) present.insert(std::stoi(*row[0]));
  std::lock_guard lock(acked_mutex);
  ASSERT_GT(acked.size(), 100u) << "the writer barely wrote";
  std::size_t lost = 0;
  for (int id : acked) lost += present.count(id) ? 0 : 1;
  std::cout << acked.size() << " acknowledged rows, " << lost << " lost\n";
  EXPECT_EQ(lost, 0u) << "acknowledged commits were lost in synchronous mode";
}

// A replica that received WAL the promoted synchronous standby never got
// (rows written with synchronous_commit = local while the standby's WAL
// receiver was frozen) is past the new timeline's fork point.
class ReplicaAheadOfTheSyncStandby : public SyncAgentCluster {
 protected:
  void TearDown() override {
    if (frozen_receiver_ > 0) ::kill(frozen_receiver_, SIGCONT);
    SyncAgentCluster::TearDown();
  }

  // Sets old_leader_, standby_ (the synchronous standby, frozen) and ahead_
  // (the replica that has 200 rows of table `ahead` the standby has not).
  void writePastTheSyncStandby() {
    for (auto& n : nodes_) startAgent(n);
    ASSERT_TRUE(eventually([&] { return healthy(3); }, 120s));
    old_leader_ = *leader();
    std::optional<dcs::SyncInfo> sync;
    ASSERT_TRUE(eventually(
        [&] {
          auto got = dcs_->get("/service/itest/sync");
          if (!got.ok() || got->kvs.empty()) return false;
          auto parsed = dcs::parseSync(got->kvs[0].value);
          if (!parsed.ok() || parsed->leader != old_leader_ || parsed->sync_standby.size() != 1) return false;
          sync = *parsed;
          return true;
        },
        120s));
    standby_ = &byName(sync->sync_standby.front());
    for (auto& n : nodes_) {
      if (n.name != old_leader_ && n.name != standby_->name) ahead_ = &n;
    }
    ASSERT_TRUE(ahead_);
    auto primary = session(byName(old_leader_));
    ASSERT_TRUE(primary && primary->execute("CREATE TABLE ahead (id int)").ok());
    ASSERT_TRUE(eventually([&] { return rowCount(*standby_, "ahead") == 0 && rowCount(*ahead_, "ahead") == 0; }, 30s));
    // Freeze the synchronous standby's WAL receiver; write past it locally.
    auto receiver = session(*standby_)->query("SELECT pid FROM pg_stat_wal_receiver");
    ASSERT_TRUE(receiver.ok() && !receiver->empty() && receiver->front()[0]);
    frozen_receiver_ = std::stoi(*receiver->front()[0]);
    ASSERT_EQ(::kill(frozen_receiver_, SIGSTOP), 0);
    ASSERT_TRUE(primary->execute("SET synchronous_commit = local").ok());
    ASSERT_TRUE(primary->execute("INSERT INTO ahead SELECT generate_series(1, 200)").ok());
    ASSERT_TRUE(eventually([&] { return rowCount(*ahead_, "ahead") == 200; }, 30s)) << "the replica did not receive the rows";
  }

  // The leader killed; the synchronous standby, without the rows, promoted.
  void failOverToTheSyncStandby() {
    killLeader(old_leader_);
    // Not SIGCONT: what the leader sent waits in the frozen receiver's socket.
    // Killed, it takes the standby's postmaster through a restart of recovery.
    ::kill(frozen_receiver_, SIGKILL);
    frozen_receiver_ = 0;
    ASSERT_TRUE(eventually([&] { return leader() == standby_->name && isPrimary(*standby_); }, 90s))
        << "the synchronous standby was not promoted";
    EXPECT_EQ(rowCount(*standby_, "ahead"), 0) << "the test needs the standby behind the other replica";
  }

  // The replica ahead is rewound onto the new timeline and streams from it;
  // the old leader comes back too.
  void expectEveryoneFollowsTheNewTimeline() {
    EXPECT_TRUE(eventually([&] { return isStreaming(*ahead_) && rowCount(*ahead_, "ahead") == 0; }, 120s))
        << "the replica ahead of the fork point does not follow the new primary";
    startAgent(byName(old_leader_));
    EXPECT_TRUE(eventually([&] { return healthy(3); }, 120s));
    EXPECT_EQ(writablePrimaries(), 1);
  }

  std::string old_leader_;
  AgentNode* standby_ = nullptr;
  AgentNode* ahead_ = nullptr;
  pid_t frozen_receiver_ = 0;
};

// Running through the failover, it stops streaming and is rewound
// (follower.diverged).
TEST_F(ReplicaAheadOfTheSyncStandby, ItIsRewoundAndFollows) {
  ASSERT_NO_FATAL_FAILURE(writePastTheSyncStandby());
  ASSERT_NO_FATAL_FAILURE(failOverToTheSyncStandby());
  expectEveryoneFollowsTheNewTimeline();
}

// Stopped cleanly with the new timeline's history file already in its
// pg_wal (as when its WAL receiver fetched it just before the stop), then
// started: PostgreSQL refuses to start on the new timeline ("requested
// timeline 2 does not contain minimum recovery point"). That failure marks
// it for a rewind (follower.rewind) instead of failing to start forever.
TEST_F(ReplicaAheadOfTheSyncStandby, StartedAfterTheFailoverItIsRewoundAndFollows) {
  ASSERT_NO_FATAL_FAILURE(writePastTheSyncStandby());
  const auto postmaster = postmasterPid(*ahead_);
  ASSERT_TRUE(postmaster);
  (void)ahead_->process->signal(SIGKILL);
  (void)ahead_->process->waitExit(10s);
  ahead_->process.reset();
  ::kill(*postmaster, SIGINT);  // a clean, fast shutdown
  ASSERT_TRUE(eventually([&] { return !postmasterPid(*ahead_); }, 30s));
  ASSERT_NO_FATAL_FAILURE(failOverToTheSyncStandby());
  const std::string history = "/pg_wal/00000002.history";
  std::error_code ec;
  std::filesystem::copy_file(standby_->data_dir + history, ahead_->data_dir + history, ec);
  ASSERT_FALSE(ec) << ec.message();
  const passwd* pw = ::getpwnam("postgres");
  ASSERT_TRUE(pw && ::chown((ahead_->data_dir + history).c_str(), pw->pw_uid, pw->pw_gid) == 0);
  startAgent(*ahead_);
  expectEveryoneFollowsTheNewTimeline();
  const std::string log = readFile(ahead_->log_file);
  EXPECT_NE(log.find("it must rewind before it can follow"), std::string::npos) << tailLines(log, 30);
  EXPECT_NE(log.find("[follower.rewind]"), std::string::npos) << tailLines(log, 30);
}

// Without pg_rewind (use_pg_rewind: false) a former primary cannot rewind:
// it removes its data directory and is cloned again from the new leader.
TEST_F(NoRewindAgentCluster, FormerPrimaryIsReclonedWithoutRewind) {
  for (auto& n : nodes_) startAgent(n);
  ASSERT_TRUE(eventually([&] { return healthy(3); }, 120s));
  const std::string first = *leader();
  ASSERT_TRUE(session(byName(first))->execute("CREATE TABLE t (v text); INSERT INTO t VALUES ('one')").ok());
  killLeader(first);
  ASSERT_TRUE(eventually([&] { return newPrimaryOtherThan(first); }, 60s));
  ASSERT_TRUE(session(byName(*leader()))->execute("INSERT INTO t VALUES ('two')").ok());
  startAgent(byName(first));
  ASSERT_TRUE(eventually([&] { return healthy(3) && hasRow(byName(first), "two"); }, 180s)) << "the old leader did not come back";
  const std::string log = readFile(byName(first).log_file);
  EXPECT_NE(log.find("removing the data directory to re-clone"), std::string::npos) << log;
  EXPECT_NE(log.find("creating replica on a worker thread"), std::string::npos) << log;
  EXPECT_EQ(writablePrimaries(), 1);
}

// patroni.yml edited, then SIGHUP or POST /reload (as Ansible roles and
// runbooks do): tags, parameters and the REST API's credentials take
// effect without a restart; a broken file is refused with its line and
// changes nothing; a new name waits for a restart, and says so.
TEST_F(AgentCluster, ReloadRereadsPatroniYml) {
  AgentNode& node = nodes_[0];
  startAgent(node);
  ASSERT_TRUE(eventually([&] { return healthy(1); }, 120s)) << "no leader";
  auto showWorkMem = [&]() -> std::string {
    auto s = session(node);
    auto rows = s ? s->query("SHOW work_mem") : Result<pg::PgSession::Rows>(makeError(ErrorCode::kUnavailable, ""));
    return rows.ok() && !rows->empty() ? rows->front().at(0).value_or("") : "";
  };
  auto memberTags = [&]() -> std::string {
    auto got = dcs_->get("/service/itest/members/" + node.name);
    return got.ok() && !got->kvs.empty() ? got->kvs[0].value : "";
  };
  const std::string original = configFor(node);
  auto logSince = [&](std::size_t offset) { return readFile(node.log_file).substr(offset); };

  // SIGHUP: a tag and a parameter.
  std::size_t offset = readFile(node.log_file).size();
  std::string yaml = std::regex_replace(original, std::regex("\npostgresql:\n"), "\ntags:\n  nofailover: true\npostgresql:\n");
  yaml = std::regex_replace(yaml, std::regex("  parameters:\n    unix_socket_directories:"),
                            "  parameters:\n    work_mem: 7MB\n    unix_socket_directories:");
  std::ofstream(node.config_file) << yaml;
  ASSERT_TRUE(node.process->signal(SIGHUP).ok());
  EXPECT_TRUE(eventually([&] { return showWorkMem() == "7MB"; }, 30s))
      << "work_mem is " << showWorkMem() << "\n---- agent log ----\n" << tailLines(logSince(offset), 40);
  EXPECT_TRUE(eventually([&] { return memberTags().find(R"("nofailover":true)") != std::string::npos; }, 30s))
      << memberTags();
  EXPECT_NE(logSince(offset).find("tags, postgresql.parameters applied"), std::string::npos) << logSince(offset);

  // POST /reload with a broken file: refused, named, nothing changed.
  offset = readFile(node.log_file).size();
  const std::string reloaded_yaml = readFile(node.config_file);
  std::ofstream(node.config_file) << reloaded_yaml << "bootstrap: [unclosed\n";
  EXPECT_EQ(api(node, "POST", "/reload").status, 202);
  EXPECT_TRUE(eventually([&] { return logSince(offset).find("patroni.yml not reloaded, nothing changed") != std::string::npos; }, 30s))
      << logSince(offset);
  EXPECT_NE(logSince(offset).find(node.config_file), std::string::npos) << "the error names the file";
  EXPECT_EQ(showWorkMem(), "7MB");

  // A new name and new REST credentials: the name waits for a restart,
  // the credentials apply at once.
  offset = readFile(node.log_file).size();
  std::string renamed = std::regex_replace(reloaded_yaml, std::regex("name: " + node.name + "\n"), "name: renamed\n");
  renamed = std::regex_replace(renamed, std::regex("password: secret"), "password: changed");
  std::ofstream(node.config_file) << renamed;
  EXPECT_EQ(api(node, "POST", "/reload").status, 202);
  EXPECT_TRUE(eventually([&] { return logSince(offset).find("name changed: it takes effect when the agent restarts") != std::string::npos; }, 30s))
      << logSince(offset);
  EXPECT_TRUE(eventually([&] { return api(node, "POST", "/reload").status == 401; }, 30s)) << "the old password still works";
  http::CallOptions with_new;
  with_new.authorization = http::basicAuthorization("admin", "changed");
  auto answer = http::call("http://127.0.0.1:" + std::to_string(node.api_port), "POST", "/reload", "", with_new);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->status, 202);
  EXPECT_FALSE(memberTags().empty()) << "still published under its running name";
  std::ofstream(node.config_file) << original;  // TearDown stops it with the file it started with
}

}  // namespace
}  // namespace pgtandem::testing

namespace pgtandem::testing {
namespace {

namespace fs = std::filesystem;

// New binaries installed under a running server (a minor upgrade's package
// install): the agent sees the postgres binary change, and its member key
// and GET /patroni report a pending restart, as Patroni does;
// the binaries put back, the restart is no longer pending.
TEST_F(AgentCluster, NewBinariesUnderARunningServerMakeARestartPending) {
  AgentNode& node = nodes_[0];
  // bin_dir: links to Debian's binaries, so that the test can swap one.
  const std::string bin = dir_ + "/bin";
  fs::create_directories(bin);
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql/15/bin")) {
    fs::create_symlink(entry.path(), bin + "/" + entry.path().filename().string());
  }
  std::ofstream(node.config_file) << std::regex_replace(configFor(node), std::regex("bin_dir: /usr/lib/postgresql/15/bin"),
                                                        "bin_dir: " + bin);
  startAgent(node);
  ASSERT_TRUE(eventually([&] { return healthy(1); }, 120s)) << "no leader";
  auto memberKey = [&]() -> std::optional<dcs::MemberInfo> {
    auto got = dcs_->get("/service/itest/members/" + node.name);
    if (!got.ok() || got->kvs.empty()) return std::nullopt;
    auto parsed = dcs::parseMember(node.name, got->kvs[0].value);
    return parsed.ok() ? std::optional(*parsed) : std::nullopt;
  };
  ASSERT_TRUE(eventually([&] { return memberKey() && memberKey()->server_version; }, 30s));
  const int running = *memberKey()->server_version;
  EXPECT_GE(running, 150000);
  EXPECT_FALSE(memberKey()->pending_restart);

  // "Installed": a postgres that says 15.99, replacing the link the way a
  // package install replaces the file (a new inode).
  const std::string wrapper = bin + "/postgres.new";
  std::ofstream(wrapper) << "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'postgres (PostgreSQL) 15.99 (test)'; exit 0; fi\n"
                            "exec /usr/lib/postgresql/15/bin/postgres \"$@\"\n";
  fs::permissions(wrapper, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                               fs::perms::others_exec);
  fs::rename(wrapper, bin + "/postgres");
  EXPECT_TRUE(eventually([&] { return memberKey() && memberKey()->pending_restart; }, 30s))
      << "no pending restart after the binaries changed\n" << tailLines(readFile(node.log_file), 20);
  const http::Response patroni = api(node, "GET", "/patroni");
  EXPECT_NE(patroni.body.find("\"pending_restart\":true"), std::string::npos) << patroni.body;
  EXPECT_NE(patroni.body.find("\"server_version\""), std::string::npos) << patroni.body;

  // Put back: nothing pending.
  fs::remove(bin + "/postgres");
  fs::create_symlink("/usr/lib/postgresql/15/bin/postgres", bin + "/postgres");
  EXPECT_TRUE(eventually([&] { return memberKey() && !memberKey()->pending_restart; }, 30s));
}

}  // namespace
}  // namespace pgtandem::testing
