#pragma once
// Two real DCs (tests/standby/two_data_centers.h) with what the site
// operation tests share: a client that writes continuously and remembers
// what was acknowledged, the system identifier, log offsets to tell a
// rewind or re-clone, and checks that nothing acknowledged was lost.

#include <atomic>
#include <filesystem>
#include <functional>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "common/dcs/cluster.h"
#include "tests/standby/two_data_centers.h"
#include "tests/support/continuous_writer.h"
#include "tests/support/ports.h"

namespace pgtandem::testing {

namespace fs = std::filesystem;


class DcSwitchover : public TwoDataCenters {
 protected:
  void TearDown() override {
    if (daemon_) {  // on every path, a failed assertion included
      (void)daemon_->signal(SIGKILL);
      (void)daemon_->waitExit(10s);
      daemon_.reset();
    }
    TwoDataCenters::TearDown();
  }

  // Every member of both DCs, for libpq to find the writable one.
  std::string everyMember() {
    std::string hosts, ports;
    for (const auto* group : {&nodes_, &dr_}) {
      for (const auto& n : *group) {
        hosts += (hosts.empty() ? "" : ",") + n.address;
        ports += (ports.empty() ? "" : ",") + std::to_string(n.pg_port);
      }
    }
    return "host=" + hosts + " port=" + ports +
           " user=postgres dbname=postgres connect_timeout=2 target_session_attrs=read-write";
  }

  std::optional<dcs::MemberInfo> memberKey(dcs::Dcs& client, const std::string& scope, const std::string& name) {
    auto got = client.get("/service/" + scope + "/members/" + name);
    if (!got.ok() || got->kvs.empty()) return std::nullopt;
    auto m = dcs::parseMember(name, got->kvs[0].value);
    if (!m.ok()) return std::nullopt;
    return *m;
  }

  std::string systemId(const AgentNode& node) {
    auto s = session(node);
    if (!s) return "";
    auto rows = s->query("SELECT system_identifier FROM pg_control_system()");
    return rows.ok() && !rows->empty() ? rows->front().at(0).value_or("") : "";
  }

  // Every node is the same database. A node restarted by the test may still
  // be replaying towards consistency, so each gets a bounded wait to answer.
  void expectSameDatabaseEverywhere(const std::string& system_id) {
    for (auto* n : everyNode()) {
      std::string seen;
      eventually([&] { return !(seen = systemId(*n)).empty(); }, 60s);
      EXPECT_EQ(seen, system_id) << n->name << " is not the same database";
    }
  }

  std::vector<AgentNode*> everyNode() {
    std::vector<AgentNode*> all;
    for (auto& n : nodes_) all.push_back(&n);
    for (auto& n : dr_) all.push_back(&n);
    return all;
  }

  // What every agent logged since `offsets` were taken.
  std::map<std::string, std::size_t> logSizes() {
    std::map<std::string, std::size_t> sizes;
    for (auto* n : everyNode()) sizes[n->name] = readFile(n->log_file).size();
    return sizes;
  }
  void expectNoCloneNorRewindSince(const std::map<std::string, std::size_t>& offsets) {
    expectNoCloneNorRewindSince(offsets, everyNode());
  }
  void expectNoCloneNorRewindSince(const std::map<std::string, std::size_t>& offsets, const std::vector<AgentNode*>& nodes) {
    for (auto* n : nodes) {
      const std::string log = readFile(n->log_file).substr(std::min(offsets.at(n->name), readFile(n->log_file).size()));
      for (const char* word : {"clone", "pg_basebackup", "rewind"}) {
        EXPECT_EQ(log.find(word), std::string::npos) << n->name << " logged '" << word << "':\n" << tailLines(log, 30);
      }
    }
  }

  // DC1 with tables t and w, DC2 following it with its lag published, a
  // sites file; returns the database's system identifier. DC2's
  // standby_cluster block (indented six spaces) is `standby_block` when
  // given, else DC1's leader itself.
  std::string startBothDcs(const std::function<std::string()>& standby_block = {}) {
    // DC1 archives its WAL, so that the demotion token's WAL file can be
    // seen pushed to the archive.
    archive_ = dir_ + "/archive-dc1";
    for (auto& n : nodes_) std::ofstream(n.config_file) << withArchive(configFor(n), archive_);
    for (auto& n : nodes_) startAgent(n);
    if (!eventually([&] { return healthy(3); }, 120s)) {
      ADD_FAILURE() << "DC1 did not become healthy";
      return "";
    }
    AgentNode& dc1_leader = byName(*leader());
    EXPECT_TRUE(session(dc1_leader)->execute("CREATE TABLE t (v text); INSERT INTO t VALUES ('before')").ok());
    EXPECT_TRUE(session(dc1_leader)->execute("CREATE TABLE w (id bigint PRIMARY KEY)").ok());
    if (standby_block) {
      addStandbyDcWith(standby_block());
    } else if (lab_) {
      addStandbyDcOnLab();
    } else {
      addStandbyDc(dc1_leader.pg_port);
    }
    if (HasFatalFailure()) return "";
    if (archive_dc2_) {
      for (auto& n : dr_) {
        const std::string yaml = withArchive(readFile(n.config_file), dir_ + "/archive-dc2");
        std::ofstream(n.config_file) << yaml;
      }
    }
    if (!startStandbyDcAndWaitFor("before")) {
      ADD_FAILURE() << "DC2 did not follow DC1";
      return "";
    }
    sites_ = writeSitesFile();
    // The standby leader publishes its lag (the switchover's pre-check needs it).
    EXPECT_TRUE(eventually(
        [&] {
          auto m = drLeader() ? memberKey(*dcs2_, "itestdr", *drLeader()) : std::nullopt;
          return m && m->standby_lag_bytes;
        },
        30s));
    return systemId(dc1_leader);
  }

  // A node's configuration that archives its WAL to `archive` (created).
  std::string withArchive(const std::string& yaml, const std::string& archive) {
    fs::create_directories(archive);
    fs::permissions(archive, fs::perms::all);
    return std::regex_replace(yaml, std::regex("  parameters:\n    unix_socket_directories:"),
                              "  parameters:\n    archive_mode: 'on'\n    archive_command: 'test ! -f " + archive +
                                  "/%f && cp %p " + archive + "/%f'\n    unix_socket_directories:");
  }

  int writablePrimariesInBothDcs() {
    int primaries = 0;
    for (auto* n : everyNode()) primaries += isPrimary(*n) ? 1 : 0;
    return primaries;
  }

  // Row `id` of table w is on `node`.
  bool hasId(const AgentNode& node, long id) {
    auto s = session(node);
    if (!s) return false;
    auto rows = s->query("SELECT 1 FROM w WHERE id = " + std::to_string(id));
    return rows.ok() && !rows->empty();
  }

  // The ids in table w on the writable primary of `group` (none, and a
  // failure, when it has no primary).
  std::set<long> idsOnThePrimaryOf(std::vector<AgentNode>& group) {
    std::set<long> present;
    AgentNode* primary = nullptr;
    for (auto& n : group) {
      if (isPrimary(n)) primary = &n;
    }
    EXPECT_TRUE(primary) << "no writable primary";
    if (!primary) return present;
    auto rows = session(*primary)->query("SELECT id FROM w");
    EXPECT_TRUE(rows.ok());
    if (rows.ok()) {
      for (const auto& row : *rows) present.insert(std::stol(row.at(0).value_or("0")));
    }
    return present;
  }

  // Every write acknowledged from the `from`th on is on the primary of `group`.
  void expectNothingLost(ContinuousWriter& writer, std::vector<AgentNode>& group, std::size_t from = 0) {
    const auto acknowledged = writer.acknowledged();
    const std::set<long> present = idsOnThePrimaryOf(group);
    std::size_t lost = 0;
    for (std::size_t i = from; i < acknowledged.size(); ++i) lost += present.count(acknowledged[i]) ? 0 : 1;
    EXPECT_EQ(lost, 0u) << "acknowledged writes lost, of " << acknowledged.size() - from;
    std::cout << "[ measured ] " << acknowledged.size() << " acknowledged writes, " << writer.failures()
              << " refused during the switchovers, " << lost << " lost\n";
  }

  // Waits for `process` (at most `limit`), asserting on every 100 ms sample
  // that no two primaries take writes. Returns its exit code, -1 on timeout.
  int waitCheckingOneWriter(ProcessHandle& process, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      auto code = process.waitExit(100ms);
      if (code.ok()) return *code;
      EXPECT_LE(writablePrimariesInBothDcs(), 1) << "two writable primaries";
    }
    (void)process.signal(SIGKILL);
    (void)process.waitExit(5s);
    return -1;
  }

  // Starts `dcctl site switchover --to dc2` (behind `prefix`: on a lab
  // host); returns it once its output says `step` is journaled (polled
  // every 2 ms, at most 120 s).
  std::unique_ptr<ProcessHandle> switchoverUntil(const std::string& step, const std::string& out,
                                                 const std::vector<std::string>& prefix = {}) {
    SpawnOptions spawn;
    spawn.argv = prefix;
    for (const std::string arg : {DCCTL_BIN, "site", "--sites", sites_.c_str(), "switchover", "--to", "dc2", "--force"}) {
      spawn.argv.push_back(arg);
    }
    spawn.output_file = out;
    auto ran = spawnProcess(spawn);
    if (!ran.ok()) return nullptr;
    for (int i = 0; i < 60000; ++i) {
      if (readFile(out).find("] " + step + ":") != std::string::npos) return std::move(*ran);
      if (!(*ran)->running()) break;
      std::this_thread::sleep_for(2ms);
    }
    ADD_FAILURE() << step << " was never journaled:\n" << readFile(out);
    (void)(*ran)->signal(SIGKILL);
    (void)(*ran)->waitExit(5s);
    return nullptr;
  }

  // Runs `dcctl site switchover --to dc2` again (at most 5 times) until it
  // finishes or says dc2 already is the primary DC; whether it did.
  bool switchoverRunAgainUntilDone(const std::vector<std::string>& prefix = {}) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      SpawnOptions spawn;
      spawn.argv = prefix;
      for (const std::string arg : {DCCTL_BIN, "site", "--sites", sites_.c_str(), "switchover", "--to", "dc2", "--force"}) {
        spawn.argv.push_back(arg);
      }
      const std::string again_out = dir_ + "/again-" + std::to_string(++reruns_) + ".out";
      spawn.output_file = again_out;
      auto again = spawnProcess(spawn);
      EXPECT_TRUE(again.ok());
      if (!again.ok()) return false;
      const int code = waitCheckingOneWriter(**again, 300s);
      std::cout << "---- run again (exit " << code << ") ----\n" << readFile(again_out);
      if (code == 0 || readFile(again_out).find("dc2 is already the primary DC") != std::string::npos) return true;
    }
    return false;
  }

  // After a switchover to dc2: dc1 streams from it, writes go on, nothing
  // acknowledged is lost, and dc1 followed with no rewind and no re-clone
  // (it stopped exactly at the token, where dc2's new timeline forks).
  void expectDc2TookOverCleanly(ContinuousWriter& writer, const std::map<std::string, std::size_t>& offsets) {
    EXPECT_TRUE(eventually([&] { return everyMemberStreams(nodes_); }, 120s)) << "dc1 does not stream from dc2";
    const std::size_t before = writer.acknowledged().size();
    ASSERT_TRUE(eventually([&] { return writer.acknowledged().size() > before + 20; }, 60s)) << "writes did not resume";
    writer.stop();
    expectNothingLost(writer, dr_);
    std::vector<AgentNode*> dc1;
    for (auto& n : nodes_) dc1.push_back(&n);
    expectNoCloneNorRewindSince(offsets, dc1);
  }
  int reruns_ = 0;
  std::string sites_;
  std::string archive_;
  bool archive_dc2_ = false;  // DC2 archives too, to archive-dc2 (once it is primary)
  std::unique_ptr<ProcessHandle> daemon_;

  bool everyMemberStreams(std::vector<AgentNode>& group) {
    for (auto& n : group) {
      if (!isStreaming(n)) return false;
    }
    return true;
  }
};

}  // namespace pgtandem::testing
