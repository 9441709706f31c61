// Planned DC switchover on two real DCs (own etcd each, real PostgreSQL 15,
// real dc-agents), driven by `dcctl site switchover` while a client writes
// continuously through a connection string that lists every member of both
// DCs (target_session_attrs=read-write, as a client behind either DC's write
// entry point would). There and back: no acknowledged write lost, no member
// re-cloned or rewound, and the write gap measured and printed.

#include <atomic>
#include <mutex>
#include <thread>

#include "common/dcs/cluster.h"
#include "tests/standby/two_data_centers.h"

namespace pgtandem::testing {
namespace {

// Inserts 1, 2, 3, ... one row per statement, reconnecting when the
// connection breaks. Remembers which ids were acknowledged and the longest
// time between two acknowledged writes.
class ContinuousWriter {
 public:
  explicit ContinuousWriter(std::string conninfo) : conninfo_(std::move(conninfo)) {
    thread_ = std::thread([this] { run(); });
  }
  ~ContinuousWriter() { stop(); }

  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  // The longest gap between acknowledged writes since the last reset.
  std::chrono::milliseconds takeLongestGap() {
    std::lock_guard lock(mutex_);
    auto gap = longest_gap_;
    longest_gap_ = {};
    return gap;
  }
  std::vector<long> acknowledged() {
    std::lock_guard lock(mutex_);
    return acknowledged_;
  }
  long failures() const { return failures_; }

 private:
  void run() {
    std::unique_ptr<pg::PgSession> session;
    auto last_ok = std::chrono::steady_clock::now();
    long next = 1;
    // Bounded in count and time: at most 20 minutes of 10 ms rounds.
    for (int round = 0; round < 120000 && !stop_; ++round) {
      if (!session) {
        auto connected = pg::PgSession::connect(conninfo_);
        if (!connected.ok()) {
          ++failures_;
          std::this_thread::sleep_for(50ms);
          continue;
        }
        session = std::move(*connected);
      }
      if (session->execute("INSERT INTO w VALUES (" + std::to_string(next) + ")").ok()) {
        const auto now = std::chrono::steady_clock::now();
        std::lock_guard lock(mutex_);
        acknowledged_.push_back(next);
        longest_gap_ = std::max(longest_gap_, std::chrono::duration_cast<std::chrono::milliseconds>(now - last_ok));
        last_ok = now;
        ++next;
      } else {
        ++failures_;
        ++next;  // it may or may not have committed: never reuse the id
        session.reset();
      }
      std::this_thread::sleep_for(10ms);
    }
  }

  std::string conninfo_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<long> failures_{0};
  std::mutex mutex_;
  std::vector<long> acknowledged_;
  std::chrono::milliseconds longest_gap_{0};
};

class DcSwitchover : public TwoDataCenters {
 protected:
  // Every member of both DCs, for libpq to find the writable one.
  std::string everyMember() {
    std::string hosts, ports;
    for (const auto* group : {&nodes_, &dr_}) {
      for (const auto& n : *group) {
        hosts += (hosts.empty() ? "" : ",") + std::string("127.0.0.1");
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
    for (auto* n : everyNode()) {
      const std::string log = readFile(n->log_file).substr(std::min(offsets.at(n->name), readFile(n->log_file).size()));
      for (const char* word : {"clone", "pg_basebackup", "rewind"}) {
        EXPECT_EQ(log.find(word), std::string::npos) << n->name << " logged '" << word << "':\n" << tailLines(log, 30);
      }
    }
  }

  bool everyMemberStreams(std::vector<AgentNode>& group) {
    for (auto& n : group) {
      if (!isStreaming(n)) return false;
    }
    return true;
  }
};

TEST_F(DcSwitchover, ThereAndBackWithoutLosingAWriteOrRecloning) {
  for (auto& n : nodes_) startAgent(n);
  ASSERT_TRUE(eventually([&] { return healthy(3); }, 120s)) << "DC1 did not become healthy";
  AgentNode& dc1_leader = byName(*leader());
  ASSERT_TRUE(session(dc1_leader)->execute("CREATE TABLE t (v text); INSERT INTO t VALUES ('before')").ok());
  ASSERT_TRUE(session(dc1_leader)->execute("CREATE TABLE w (id bigint PRIMARY KEY)").ok());
  addStandbyDc(dc1_leader.pg_port);
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_TRUE(startStandbyDcAndWaitFor("before")) << "DC2 did not follow DC1";
  const std::string sites = writeSitesFile();
  const std::string system_id = systemId(dc1_leader);
  ASSERT_FALSE(system_id.empty());
  // The standby leader publishes its lag (the switchover's pre-check needs it).
  ASSERT_TRUE(eventually(
      [&] {
        auto m = drLeader() ? memberKey(*dcs2_, "itestdr", *drLeader()) : std::nullopt;
        return m && m->standby_lag_bytes;
      },
      30s));

  // Bad input changes nothing.
  {
    auto unknown = dcctl({"site", "--sites", sites, "switchover", "--to", "dc9", "--force"});
    EXPECT_EQ(unknown.first, 1);
    EXPECT_NE(unknown.second.find("unknown site 'dc9'"), std::string::npos) << unknown.second;
    auto already = dcctl({"site", "--sites", sites, "switchover", "--to", "dc1", "--force"});
    EXPECT_EQ(already.first, 1);
    EXPECT_NE(already.second.find("dc1"), std::string::npos) << already.second;
    const std::string strict = dir_ + "/strict-sites.yml";
    std::ofstream(strict) << readFile(sites) << "switchover:\n  maximum_lag_bytes: -1\n";
    auto bad_file = dcctl({"site", "--sites", strict, "switchover", "--to", "dc2", "--force"});
    EXPECT_EQ(bad_file.first, 2);
    EXPECT_NE(bad_file.second.find("strict-sites.yml:"), std::string::npos) << bad_file.second;
    EXPECT_TRUE(isPrimary(dc1_leader)) << "bad input must change nothing";
    EXPECT_TRUE(dcs2_->get("/service/itestdr/site")->kvs.empty());
  }

  ContinuousWriter writer(everyMember());
  ASSERT_TRUE(eventually([&] { return writer.acknowledged().size() > 20; }, 30s)) << "the writer does not write";
  (void)writer.takeLongestGap();

  for (const std::string target : {"dc2", "dc1"}) {
    const auto offsets = logSizes();
    auto& new_dc = target == "dc2" ? dr_ : nodes_;
    auto& old_dc = target == "dc2" ? nodes_ : dr_;
    auto done = dcctl({"site", "--sites", sites, "switchover", "--to", target, "--force"}, 300s);
    ASSERT_EQ(done.first, 0) << done.second;
    std::cout << "---- dcctl site switchover --to " << target << " ----\n" << done.second;
    EXPECT_NE(done.second.find("switchover done"), std::string::npos) << done.second;
    // Exactly one writable DC: the new one; the old one streams from it.
    int primaries = 0;
    for (auto* n : everyNode()) primaries += isPrimary(*n) ? 1 : 0;
    EXPECT_EQ(primaries, 1);
    bool new_has_primary = false;
    for (auto& n : new_dc) new_has_primary |= isPrimary(n);
    EXPECT_TRUE(new_has_primary) << target << " has no primary";
    EXPECT_TRUE(eventually([&] { return everyMemberStreams(old_dc); }, 120s)) << "the old DC does not stream again";
    const std::size_t before = writer.acknowledged().size();
    ASSERT_TRUE(eventually([&] { return writer.acknowledged().size() > before + 20; }, 60s)) << "writes did not resume";
    const auto gap = writer.takeLongestGap();
    std::cout << "[ measured ] DC switchover to " << target << ": longest write gap seen by the client " << gap.count()
              << " ms\n";
    expectNoCloneNorRewindSince(offsets);
    for (auto* n : everyNode()) {
      EXPECT_EQ(systemId(*n), system_id) << n->name << " is not the same database";
    }
  }
  writer.stop();

  // Every acknowledged write is on the final primary (DC1's) and on DC2.
  const auto acknowledged = writer.acknowledged();
  AgentNode* final_primary = nullptr;
  for (auto& n : nodes_) {
    if (isPrimary(n)) final_primary = &n;
  }
  ASSERT_TRUE(final_primary);
  auto rows = session(*final_primary)->query("SELECT id FROM w");
  ASSERT_TRUE(rows.ok());
  std::set<long> present;
  for (const auto& row : *rows) present.insert(std::stol(row.at(0).value_or("0")));
  std::size_t lost = 0;
  for (long id : acknowledged) lost += present.count(id) ? 0 : 1;
  EXPECT_EQ(lost, 0u) << "acknowledged writes lost, of " << acknowledged.size();
  std::cout << "[ measured ] " << acknowledged.size() << " acknowledged writes, " << writer.failures()
            << " refused during the switchovers, 0 lost\n";

  // The history holds both operations, in both DCs.
  auto site = dcs::parseSiteState(dcs2_->get("/service/itestdr/site")->kvs.at(0).value);
  ASSERT_TRUE(site.ok());
  EXPECT_EQ(site->role, "standby");
  ASSERT_EQ(site->history.size(), 2u);
  EXPECT_EQ(site->history[0].result, "done");
  EXPECT_FALSE(site->operation);
}

}  // namespace
}  // namespace pgtandem::testing
