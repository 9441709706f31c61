// A DC switchover whose coordinator loses one DC half-way, on the fault lab
// (network namespaces): DC1 on three hosts (a 3-member etcd), DC2 on two
// hosts of another network (its own etcd), and dcctl on a host of a third
// network, as an operator's machine would be. A client writes throughout
// through a connection string that lists every member of both DCs
// (target_session_attrs=read-write), and both DCs are sampled every 100 ms
// for two writable primaries.
//
// - Cut from DC2 once DC1 is fenced: the coordinator cannot finish, rolls
//   back what it can reach (DC1 takes writes again while the cut lasts),
//   and the same command, run again after the link heals, finishes.
// - Cut from DC1 once DC2 is being promoted: DC2 takes the writes; DC1
//   stays fenced while nobody can tell it to follow, and the command run
//   again after the heal makes it follow.
// - The DC link lossy (5 % of packets dropped): the switchover finishes.
// Nothing acknowledged is lost, and no node is rewound or re-cloned.

#include "tests/coordinator/dc_switchover_fixture.h"

namespace pgtandem::testing {
namespace {

class SiteLab : public DcSwitchover {
 protected:
  SiteLab() { on_lab_ = true; }

  // Cuts dcctl (stopped meanwhile, so that it goes no further) from `dc`.
  void cutWhileStopped(ProcessHandle& dcctl, std::vector<AgentNode>& dc) {
    ASSERT_TRUE(dcctl.signal(SIGSTOP).ok());
    cutCoordinatorFrom(dc);
    ASSERT_TRUE(dcctl.signal(SIGCONT).ok());
  }

  // Adds dcctl's host, in a network of its own (once per test).
  std::vector<std::string> addCoordinatorHost() {
    auto host = lab_->addHost(3, "coord");
    EXPECT_TRUE(host.ok()) << (host.ok() ? "" : host.error().message);
    return lab_->execPrefix("coord");
  }

  // The coordinator's host and every host of `dc` cannot reach each other.
  void cutCoordinatorFrom(std::vector<AgentNode>& dc) {
    for (const auto& n : dc) ASSERT_TRUE(lab_->partition("coord", n.name).ok());
  }
  void healCoordinatorWith(std::vector<AgentNode>& dc) {
    for (const auto& n : dc) ASSERT_TRUE(lab_->heal("coord", n.name).ok());
  }

  // Samples for two writable primaries for `how_long`.
  void expectOneWriterFor(std::chrono::seconds how_long) {
    const auto until = std::chrono::steady_clock::now() + how_long;
    while (std::chrono::steady_clock::now() < until) {
      EXPECT_LE(writablePrimariesInBothDcs(), 1) << "two writable primaries";
      std::this_thread::sleep_for(100ms);
    }
  }

  // Both DCs and the writer; then dcctl's switchover to dc2 on its own
  // host, cut from `dc` once it printed `step`, until it exits.
  void switchoverCutAfter(const std::string& step, std::vector<AgentNode>& dc) {
    system_id_ = startBothDcs();
    ASSERT_FALSE(system_id_.empty());
    host_ = addCoordinatorHost();
    writer_ = std::make_unique<ContinuousWriter>(std::vector<std::string>{everyMember()});
    ASSERT_TRUE(eventually([&] { return writer_->acknowledged().size() > 20; }, 30s)) << "the writer does not write";
    offsets_ = logSizes();
    const std::string out = dir_ + "/switchover.out";
    auto run = switchoverUntil(step, out, host_);
    ASSERT_TRUE(run);
    cutWhileStopped(*run, dc);
    exit_code_ = waitCheckingOneWriter(*run, 300s);
    output_ = readFile(out);
    std::cout << "---- the switchover cut after " << step << " (exit " << exit_code_ << ") ----\n" << output_;
  }

  // Writes resume, on a primary of `dc`, while the coordinator is still cut.
  void expectWritesResumeIn(std::vector<AgentNode>& dc) {
    const std::size_t before = writer_->acknowledged().size();
    EXPECT_TRUE(eventually([&] { return writer_->acknowledged().size() > before + 20; }, 60s)) << "writes do not resume";
    bool primary = false;
    for (auto& n : dc) primary |= isPrimary(n);
    EXPECT_TRUE(primary) << "no primary where writes should resume";
    expectOneWriterFor(5s);
  }

  // After the heal: the same command finishes, dc2 took over, nothing lost.
  void expectTheRunAgainFinishes() {
    ASSERT_TRUE(switchoverRunAgainUntilDone(host_)) << "the switchover never finished";
    EXPECT_EQ(writablePrimariesInBothDcs(), 1);
    expectDc2TookOverCleanly(*writer_, offsets_);
    expectSameDatabaseEverywhere(system_id_);
  }

  std::string system_id_, output_;
  std::vector<std::string> host_;
  std::unique_ptr<ContinuousWriter> writer_;
  std::map<std::string, std::size_t> offsets_;
  int exit_code_ = -1;
};

TEST_F(SiteLab, CutFromTheStandbyDcDuringTheFenceRollsBackThenStartsAfreshAndFinishes) {
  switchoverCutAfter("checkpoint", dr_);
  if (HasFatalFailure()) return;
  EXPECT_NE(exit_code_, 0) << "a switchover that cannot reach dc2 reported success";
  EXPECT_NE(output_.find("dc1 is the primary DC again"), std::string::npos) << "no rollback";
  // Rolled back without dc2: dc1 takes writes again while the cut lasts.
  expectWritesResumeIn(nodes_);
  healCoordinatorWith(dr_);
  ASSERT_TRUE(eventually([&] { return everyMemberStreams(dr_); }, 120s)) << "dc2 does not stream again";
  expectTheRunAgainFinishes();
}

TEST_F(SiteLab, CutFromTheOldPrimaryDcDuringThePromotionStillPromotesThenFollows) {
  switchoverCutAfter("promote", nodes_);
  if (HasFatalFailure()) return;
  EXPECT_NE(exit_code_, 0) << "a switchover that cannot make dc1 follow reported success";
  EXPECT_NE(output_.find("dc2 is the primary DC, but"), std::string::npos);
  // dc2 took over without dc1; dc1 stays fenced until it is told to follow.
  expectWritesResumeIn(dr_);
  for (auto& n : nodes_) EXPECT_FALSE(isPrimary(n)) << n.name << " is writable while dc2 is the primary DC";
  healCoordinatorWith(nodes_);
  expectTheRunAgainFinishes();
}

// The DC link loses 5 % of its packets (both ways) throughout: DC2 streams
// through the loss, and a DC switchover over it finishes, with DC1 then
// streaming from DC2 through it. Nothing lost, nobody rewound.
TEST_F(SiteLab, OverALossyDcLinkTheSwitchoverFinishes) {
  system_id_ = startBothDcs();
  ASSERT_FALSE(system_id_.empty());
  ASSERT_TRUE(lab_->makeDcLinkLossy(5).ok());
  host_ = addCoordinatorHost();
  writer_ = std::make_unique<ContinuousWriter>(std::vector<std::string>{everyMember()});
  ASSERT_TRUE(eventually([&] { return writer_->acknowledged().size() > 20; }, 30s)) << "the writer does not write";
  ASSERT_TRUE(eventually([&] { return everyMemberStreams(dr_); }, 60s)) << "dc2 does not stream through the loss";
  offsets_ = logSizes();
  SpawnOptions spawn;
  spawn.argv = host_;
  for (const std::string arg : {DCCTL_BIN, "site", "--sites", sites_.c_str(), "switchover", "--to", "dc2", "--force"}) {
    spawn.argv.push_back(arg);
  }
  spawn.output_file = dir_ + "/switchover.out";
  auto run = spawnProcess(spawn);
  ASSERT_TRUE(run.ok());
  const int code = waitCheckingOneWriter(**run, 300s);
  std::cout << "---- the switchover over a lossy link (exit " << code << ") ----\n" << readFile(spawn.output_file);
  ASSERT_EQ(code, 0);
  EXPECT_EQ(writablePrimariesInBothDcs(), 1);
  expectDc2TookOverCleanly(*writer_, offsets_);
  expectSameDatabaseEverywhere(system_id_);
  ASSERT_TRUE(lab_->healDcs().ok());
}

}  // namespace
}  // namespace pgtandem::testing
