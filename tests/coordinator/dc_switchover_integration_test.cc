// Planned DC switchover on two real DCs (own etcd each, real PostgreSQL 15,
// real dc-agents), driven by `dcctl site switchover` while a client writes
// continuously: through each DC's HAProxy write entry point (Patroni's
// /primary check), or through a connection string listing every member of
// both DCs (target_session_attrs=read-write). There and back: no
// acknowledged write lost, no member re-cloned or rewound, and the write gap
// measured and printed.

#include "tests/coordinator/dc_switchover_fixture.h"
#include "tests/support/tcp_proxy.h"

namespace pgtandem::testing {
namespace {

// A bound on the write gap of a planned DC switchover, far above what it
// takes here (0.5-2 s): a gap near it means a step waited out a timeout.
// How fast it is, is measured in bench/ (bench/run.sh dc-switchover).
constexpr std::chrono::milliseconds kSwitchoverGapBound{10'000};

TEST_F(DcSwitchover, ThereAndBackWithoutLosingAWriteOrRecloning) {
  const std::string system_id = startBothDcs();
  ASSERT_FALSE(system_id.empty());
  const std::string& sites = sites_;
  AgentNode& dc1_leader = byName(*leader());

  // Bad input changes nothing.
  {
    auto unknown = dcctl({"site", "--sites", sites, "switchover", "--to", "dc9", "--force"});
    EXPECT_EQ(unknown.first, 1);
    EXPECT_NE(unknown.second.find("unknown site 'dc9'"), std::string::npos) << unknown.second;
    auto already = dcctl({"site", "--sites", sites, "switchover", "--to", "dc1", "--force"});
    EXPECT_EQ(already.first, 1);
    EXPECT_NE(already.second.find("dc1 is already the primary DC"), std::string::npos) << already.second;
    const std::string strict = dir_ + "/strict-sites.yml";
    std::ofstream(strict) << readFile(sites) << "switchover:\n  maximum_lag_bytes: -1\n";
    auto bad_file = dcctl({"site", "--sites", strict, "switchover", "--to", "dc2", "--force"});
    EXPECT_EQ(bad_file.first, 2);
    EXPECT_NE(bad_file.second.find("strict-sites.yml:"), std::string::npos) << bad_file.second;
    EXPECT_TRUE(isPrimary(dc1_leader)) << "bad input must change nothing";
    EXPECT_TRUE(dcs2_->get("/service/itestdr/site")->kvs.empty());
  }

  // The rolling upgrade's plan from both DCs as they are (issue 19): the
  // standby DC first, each leader last after handing its role over. Bad
  // targets are refused with the reason.
  {
    // Every member running and publishing its version, DC2 streaming: a
    // just-started member may take a few loops.
    std::pair<int, std::string> plan;
    eventually([&] { return (plan = dcctl({"upgrade", "--sites", sites, "plan", "--to", "15.99"})).first == 0; }, 60s);
    EXPECT_EQ(plan.first, 0) << plan.second;
    std::cout << plan.second;
    for (const char* expected : {"Rolling upgrade to 15.99", "  1. upgrade dc2/", "hand_over dc2/", "hand_over dc1/"}) {
      EXPECT_NE(plan.second.find(expected), std::string::npos) << expected << " not in:\n" << plan.second;
    }
    EXPECT_LT(plan.second.find("dc2/"), plan.second.find("dc1/")) << "the standby DC first:\n" << plan.second;
    auto major = dcctl({"upgrade", "--sites", sites, "plan", "--to", "16.1"});
    EXPECT_EQ(major.first, 1);
    EXPECT_NE(major.second.find("pg_upgrade"), std::string::npos) << major.second;
    auto banana = dcctl({"upgrade", "--sites", sites, "plan", "--to", "banana"});
    EXPECT_EQ(banana.first, 2) << banana.second;
  }

  // The first switchover runs in the dc-coordinator daemon, the second in
  // dcctl itself once the daemon is gone: one code path, two hosts.
  const int coordinator_port = freeLoopbackPort();
  const std::string with_daemon = dir_ + "/sites-with-daemon.yml";
  std::ofstream(with_daemon) << readFile(sites) << "coordinator:\n  listen: 127.0.0.1:" << coordinator_port << "\n";
  SpawnOptions daemon_spawn;
  daemon_spawn.argv = {DC_COORDINATOR_BIN, "--sites", with_daemon};
  daemon_spawn.output_file = dir_ + "/dc-coordinator.log";
  auto daemon = spawnProcess(daemon_spawn);
  ASSERT_TRUE(daemon.ok());
  daemon_ = std::move(*daemon);

  // Each DC's write entry point: an HAProxy over its members' /primary.
  const int dc1_write = startHaproxyFor(nodes_, "haproxy-dc1"), dc2_write = startHaproxyFor(dr_, "haproxy-dc2");
  ASSERT_TRUE(dc1_write && dc2_write);
  auto entryPoint = [](int port) {
    return "host=127.0.0.1 port=" + std::to_string(port) + " user=postgres dbname=postgres connect_timeout=2";
  };
  ContinuousWriter writer({entryPoint(dc1_write), entryPoint(dc2_write)});
  ASSERT_TRUE(eventually([&] { return writer.acknowledged().size() > 20; }, 30s)) << "the writer does not write";
  (void)writer.takeLongestGap();

  for (const std::string target : {"dc2", "dc1"}) {
    if (target == "dc1") {
      ASSERT_TRUE(daemon_->signal(SIGTERM).ok());
      ASSERT_TRUE(daemon_->waitExit(30s).ok()) << "dc-coordinator did not stop on SIGTERM";
      daemon_.reset();
    }
    const auto offsets = logSizes();
    auto& new_dc = target == "dc2" ? dr_ : nodes_;
    auto& old_dc = target == "dc2" ? nodes_ : dr_;
    auto done = dcctl({"site", "--sites", with_daemon, "switchover", "--to", target, "--force"}, 300s);
    ASSERT_EQ(done.first, 0) << done.second << "\n---- dc-coordinator log ----\n" << readFile(dir_ + "/dc-coordinator.log");
    std::cout << "---- dcctl site switchover --to " << target << " ----\n" << done.second;
    EXPECT_NE(done.second.find(target == "dc2" ? "(run by the coordinator at 127.0.0.1:" : "(no coordinator answers at"),
              std::string::npos)
        << done.second;
    EXPECT_NE(done.second.find("switchover done"), std::string::npos) << done.second;
    if (target == "dc2") {
      // DC1's shutdown checkpoint's WAL file went to DC1's archive.
      auto site = dcs::parseSiteState(dcs2_->get("/service/itestdr/site")->kvs.at(0).value);
      ASSERT_TRUE(site.ok() && site->token);
      EXPECT_TRUE(site->token->archived);
      EXPECT_TRUE(fs::exists(archive_ + "/" + site->token->redo_wal_file)) << site->token->redo_wal_file;
    }
    // Exactly one writable DC: the new one; the old one streams from it.
    EXPECT_EQ(writablePrimariesInBothDcs(), 1);
    bool new_has_primary = false;
    for (auto& n : new_dc) new_has_primary |= isPrimary(n);
    EXPECT_TRUE(new_has_primary) << target << " has no primary";
    EXPECT_TRUE(eventually([&] { return everyMemberStreams(old_dc); }, 120s)) << "the old DC does not stream again";
    const std::size_t before = writer.acknowledged().size();
    ASSERT_TRUE(eventually([&] { return writer.acknowledged().size() > before + 20; }, 60s))
        << "writes did not resume: " << writer.lastError() << "\n---- haproxy-dc1 ----\n"
        << readFile(dir_ + "/haproxy-dc1.log") << "\n---- haproxy-dc2 ----\n" << readFile(dir_ + "/haproxy-dc2.log");
    const auto gap = writer.takeLongestGap();
    std::cout << "[ measured ] DC switchover to " << target
              << ": longest write gap seen by a client of both DCs' HAProxy write entry points " << gap.count() << " ms\n";
    EXPECT_LT(gap, kSwitchoverGapBound) << "clients waited longer than a planned switchover may make them";
    expectNoCloneNorRewindSince(offsets);
    expectSameDatabaseEverywhere(system_id);
  }
  writer.stop();

  expectNothingLost(writer, nodes_);

  // The history holds both operations, in both DCs.
  auto site = dcs::parseSiteState(dcs2_->get("/service/itestdr/site")->kvs.at(0).value);
  ASSERT_TRUE(site.ok());
  EXPECT_EQ(site->role, dcs::SiteRole::kStandby);
  ASSERT_EQ(site->history.size(), 2u);
  EXPECT_EQ(site->history[0].result, "done");
  EXPECT_FALSE(site->operation);
}

// The DC link with 10 ms of latency each way (a delaying proxy: this kernel
// has no sch_netem): each DC's standby leader streams from the other DC
// through it, and the coordinator, on DC1's side, reaches DC2's etcd
// through it. There and back, with a client on a connection string that
// lists both DCs' members: nothing lost, nobody rewound or re-cloned, and
// the write gap printed.
TEST_F(DcSwitchover, ThereAndBackOverAWanLinkWithTenMillisecondsEachWay) {
  constexpr auto kOneWay = 10ms;
  std::unique_ptr<TcpProxy> to_dc1, to_dc2, dc2_etcd;
  // Each DC's archive backs its stream: behind the link, the coordinator
  // cannot tell that the stream is the demoted primary's.
  archive_dc2_ = true;
  auto restoreFrom = [&](const std::string& dc) { return "cp " + dir_ + "/archive-" + dc + "/%f %p"; };
  const std::string system_id = startBothDcs([&] {
    to_dc1 = std::make_unique<TcpProxy>(byName(*leader()).pg_port);
    to_dc1->setDelay(kOneWay);
    return "      host: 127.0.0.1\n      port: " + std::to_string(to_dc1->port()) +
           "\n      primary_slot_name: dr_standby\n      restore_command: '" + restoreFrom("dc1") + "'\n";
  });
  ASSERT_FALSE(system_id.empty());
  to_dc2 = std::make_unique<TcpProxy>(dr(*drLeader()).pg_port);
  dc2_etcd = std::make_unique<TcpProxy>(etcd2_->clientPort());
  for (auto* proxy : {to_dc2.get(), dc2_etcd.get()}) {
    ASSERT_NE(proxy->port(), 0);
    proxy->setDelay(kOneWay);
  }
  // Each DC's standby_cluster block points at the other DC through the link.
  sites_ = dir_ + "/sites-wan.yml";
  auto block = [&](const TcpProxy& to, const std::string& archive_of) {
    return "{host: 127.0.0.1, port: " + std::to_string(to.port()) +
           ", primary_slot_name: dr_standby, restore_command: \"" + restoreFrom(archive_of) + "\"}";
  };
  std::ofstream(sites_) << "sites:\n  dc1:\n    etcd3: {hosts: '" << dc1EtcdHosts() << "'}\n    scope: itest\n"
                        << "    standby_cluster: " << block(*to_dc2, "dc2") << "\n"
                        << "  dc2:\n    etcd3: {hosts: " << dc2_etcd->endpoint() << "}\n    scope: itestdr\n"
                        << "    standby_cluster: " << block(*to_dc1, "dc1") << "\n";

  ContinuousWriter writer({everyMember()});
  ASSERT_TRUE(eventually([&] { return writer.acknowledged().size() > 20; }, 30s)) << "the writer does not write";
  (void)writer.takeLongestGap();
  for (const std::string target : {"dc2", "dc1"}) {
    const auto offsets = logSizes();
    auto& new_dc = target == "dc2" ? dr_ : nodes_;
    auto& old_dc = target == "dc2" ? nodes_ : dr_;
    auto done = dcctl({"site", "--sites", sites_, "switchover", "--to", target, "--force"}, 300s);
    ASSERT_EQ(done.first, 0) << done.second;
    std::cout << "---- dcctl site switchover --to " << target << " ----\n" << done.second;
    EXPECT_EQ(writablePrimariesInBothDcs(), 1);
    bool new_has_primary = false;
    for (auto& n : new_dc) new_has_primary |= isPrimary(n);
    EXPECT_TRUE(new_has_primary) << target << " has no primary";
    EXPECT_TRUE(eventually([&] { return everyMemberStreams(old_dc); }, 120s)) << "the old DC does not stream over the link";
    const std::size_t before = writer.acknowledged().size();
    ASSERT_TRUE(eventually([&] { return writer.acknowledged().size() > before + 20; }, 60s))
        << "writes did not resume: " << writer.lastError();
    const auto gap = writer.takeLongestGap();
    std::cout << "[ measured ] DC switchover to " << target << " over a link with " << kOneWay.count()
              << " ms each way: longest write gap seen by a multi-host client " << gap.count() << " ms\n";
    EXPECT_LT(gap, kSwitchoverGapBound) << "clients waited longer than a planned switchover may make them";
    expectNoCloneNorRewindSince(offsets);
    expectSameDatabaseEverywhere(system_id);
  }
  writer.stop();
  expectNothingLost(writer, nodes_);
}

// The coordinator is killed (SIGKILL) right after it journals each step in
// turn, and the same command is run again: it resumes from the journal and
// ends with exactly one writable DC, nothing lost, nobody re-cloned.
TEST_F(DcSwitchover, KilledAfterEachStepAndRunAgain) {
  const std::string system_id = startBothDcs();
  ASSERT_FALSE(system_id.empty());
  ContinuousWriter writer({everyMember()});
  ASSERT_TRUE(eventually([&] { return writer.acknowledged().size() > 20; }, 30s)) << "the writer does not write";
  const auto offsets = logSizes();
  std::string target = "dc2";
  for (const std::string step : {"precheck", "checkpoint", "fence", "token", "catch_up", "promote"}) {
    SCOPED_TRACE("killed after " + step + ", switching over to " + target);
    SpawnOptions spawn;
    spawn.argv = {DCCTL_BIN, "site", "--sites", sites_, "switchover", "--to", target, "--force"};
    const std::string out = dir_ + "/killed-after-" + step + ".out";
    spawn.output_file = out;
    auto ran = spawnProcess(spawn);
    ASSERT_TRUE(ran.ok());
    // Polled every 2 ms (at most 120 s), so the kill lands in the next step.
    bool reached = false;
    for (int i = 0; i < 60000 && !reached; ++i) {
      reached = readFile(out).find("] " + step + ":") != std::string::npos;
      if (!reached) std::this_thread::sleep_for(2ms);
    }
    ASSERT_TRUE((*ran)->signal(SIGKILL).ok());
    (void)(*ran)->waitExit(10s);
    ASSERT_TRUE(reached) << readFile(out);
    // After the last step the whole switchover may finish before the signal
    // lands: then there is nothing to resume, and running it again says so.
    const bool finished = readFile(out).find("switchover done") != std::string::npos;
    // Never two writable DCs, whatever the moment of death.
    for (int i = 0; i < 10; ++i) {
      ASSERT_LE(writablePrimariesInBothDcs(), 1);
      std::this_thread::sleep_for(200ms);
    }
    auto again = dcctl({"site", "--sites", sites_, "switchover", "--to", target, "--force"}, 300s);
    if (finished) {
      EXPECT_NE(again.second.find(target + " is already the primary DC"), std::string::npos) << again.second;
    } else {
      ASSERT_EQ(again.first, 0) << again.second;
      EXPECT_NE(again.second.find("resuming"), std::string::npos) << again.second << "\n---- the killed run ----\n"
                                                                  << readFile(out);
    }
    EXPECT_EQ(writablePrimariesInBothDcs(), 1);
    auto& new_dc = target == "dc2" ? dr_ : nodes_;
    auto& old_dc = target == "dc2" ? nodes_ : dr_;
    bool new_has_primary = false;
    for (auto& n : new_dc) new_has_primary |= isPrimary(n);
    EXPECT_TRUE(new_has_primary) << target << " has no primary:\n" << again.second;
    EXPECT_TRUE(eventually([&] { return everyMemberStreams(old_dc); }, 120s)) << "the old DC does not stream again";
    const std::size_t before = writer.acknowledged().size();
    ASSERT_TRUE(eventually([&] { return writer.acknowledged().size() > before + 10; }, 60s)) << "writes did not resume";
    target = target == "dc2" ? "dc1" : "dc2";
  }
  writer.stop();
  expectNothingLost(writer, target == "dc2" ? nodes_ : dr_);  // `target` is the next one: the primary is the other
  expectNoCloneNorRewindSince(offsets);
  expectSameDatabaseEverywhere(system_id);
}

// Disaster: every DC1 process dies (etcd, agents, PostgreSQL). `site promote
// dc2` makes DC2 writable and the client goes on writing there. When DC1
// comes back its agents see DC2's newer epoch and never take a write;
// `site rejoin dc1` turns it into a standby cluster of DC2 again.
TEST_F(DcSwitchover, DisasterPromotionThenTheOldDcRejoinsAsAStandby) {
  const std::string system_id = startBothDcs();
  ASSERT_FALSE(system_id.empty());
  auto init = dcctl({"site", "--sites", sites_, "init"});
  ASSERT_EQ(init.first, 0) << init.second;
  EXPECT_NE(init.second.find("dc1: primary at epoch 1 (created)"), std::string::npos) << init.second;
  ContinuousWriter writer({everyMember()});
  ASSERT_TRUE(eventually([&] { return writer.acknowledged().size() > 20; }, 30s)) << "the writer does not write";
  // Give every DC1 agent a loop to confirm epoch 1 with DC2.
  std::this_thread::sleep_for(3s);

  for (auto& n : nodes_) killNode(n);
  etcd_->kill();
  const std::size_t before_disaster = writer.acknowledged().size();
  const auto promote_started = std::chrono::steady_clock::now();
  auto promoted = dcctl({"site", "--sites", sites_, "promote", "dc2", "--force"}, 120s);
  ASSERT_EQ(promoted.first, 0) << promoted.second;
  std::cout << "---- dcctl site promote dc2 ----\n" << promoted.second;
  // The printed bound: writes acknowledged up to N s before the promotion
  // are all in DC2 (checked below, once DC2 takes writes).
  std::smatch bound;
  ASSERT_TRUE(std::regex_search(promoted.second, bound, std::regex("last heard from dc1 at most ([0-9]+) s before")))
      << "no loss bound printed: " << promoted.second;
  const auto safe_before = promote_started - std::chrono::seconds(std::stol(bound[1]));
  EXPECT_NE(promoted.second.find("dc1 was not reachable"), std::string::npos) << promoted.second;
  ASSERT_TRUE(eventually([&] { return writer.acknowledged().size() > before_disaster + 20; }, 60s))
      << "writes did not resume in DC2";

  // DC1 comes back: it must never accept a write.
  ASSERT_TRUE(etcd_->start());
  ASSERT_TRUE(waitForEtcd(etcd_->url(), 20));
  for (auto& n : nodes_) startAgent(n);
  for (int i = 0; i < 40; ++i) {
    for (auto& n : nodes_) ASSERT_FALSE(isPrimary(n)) << n.name << " took the primary role after DC2's promotion";
    std::this_thread::sleep_for(500ms);
  }
  EXPECT_EQ(api(nodes_[0], "GET", "/primary").status, 503);

  auto rejoined = dcctl({"site", "--sites", sites_, "rejoin", "dc1", "--force"}, 600s);
  ASSERT_EQ(rejoined.first, 0) << rejoined.second;
  std::cout << "---- dcctl site rejoin dc1 ----\n" << rejoined.second;
  for (auto& n : nodes_) {
    EXPECT_TRUE(std::regex_search(rejoined.second, std::regex(n.name + ": (rewound|re-cloned|followed)"))) << n.name;
  }
  EXPECT_TRUE(eventually([&] { return everyMemberStreams(nodes_); }, 120s)) << "DC1 does not stream from DC2";
  EXPECT_EQ(writablePrimariesInBothDcs(), 1);
  const std::size_t after = writer.acknowledged().size();
  ASSERT_TRUE(eventually([&] { return writer.acknowledged().size() > after + 20; }, 60s));
  writer.stop();
  // What DC2 acknowledged after its promotion is on DC2 and reaches DC1.
  const auto acknowledged = writer.acknowledged();
  const long last = acknowledged.back();
  for (auto& n : nodes_) {
    EXPECT_TRUE(eventually([&] { return hasId(n, last); }, 60s)) << n.name;
  }
  const std::set<long> present = idsOnThePrimaryOf(dr_);
  const auto acknowledged_at = writer.acknowledgedAt();
  std::size_t lost_after_promotion = 0, lost_before = 0, lost_outside_the_bound = 0;
  for (std::size_t i = 0; i < acknowledged.size(); ++i) {
    if (present.count(acknowledged[i])) continue;
    (i < before_disaster ? lost_before : lost_after_promotion) += 1;
    if (i < before_disaster && acknowledged_at[i] < safe_before) ++lost_outside_the_bound;
  }
  EXPECT_EQ(lost_after_promotion, 0u);
  EXPECT_EQ(lost_outside_the_bound, 0u) << "writes acknowledged before the printed bound were lost";
  std::cout << "[ measured ] disaster: " << lost_before << " acknowledged writes of DC1's last moments lost, "
            << lost_outside_the_bound << " of them outside the printed bound\n";
  expectSameDatabaseEverywhere(system_id);
}

}  // namespace
}  // namespace pgtandem::testing
