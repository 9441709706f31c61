// The fault lab's network on its own: hosts in two DCs reach each other
// through the router; a partition, a one-way cut, a user's blocked port and
// a DC link cut or made lossy drop exactly what they say, and healing restores it; nothing
// is left behind.

#include "tests/support/netns_lab.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <thread>

#include "common/process/process.h"
#include "tests/support/etcd_process.h"

namespace pgtandem::testing {
namespace {

constexpr int kPort = 7000;

sockaddr_in addressOf(const std::string& ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

class NetnsLabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = NetnsLab::unavailableReason(); !why.empty()) GTEST_FAIL() << why;
    lab_ = std::make_unique<NetnsLab>();
    for (const auto& [dc, name] : std::vector<std::pair<int, std::string>>{{1, "a"}, {1, "b"}, {2, "c"}}) {
      auto added = lab_->addHost(dc, name);
      ASSERT_TRUE(added.ok()) << added.error().message;
    }
    // A listener on a's address, made inside a's namespace.
    listener_ = lab_->socketIn("a", AF_INET, SOCK_STREAM);
    ASSERT_GE(listener_, 0);
    const int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    const sockaddr_in at = addressOf(lab_->host("a").address, kPort);
    ASSERT_EQ(::bind(listener_, reinterpret_cast<const sockaddr*>(&at), sizeof at), 0);
    ASSERT_EQ(::listen(listener_, 16), 0);
  }
  void TearDown() override {
    if (listener_ >= 0) ::close(listener_);
  }

  // A TCP connection from `from` to a's listener within 500 ms.
  bool reachesA(const std::string& from) {
    const int fd = lab_->socketIn(from, AF_INET, SOCK_STREAM);
    if (fd < 0) return false;
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    const sockaddr_in to = addressOf(lab_->host("a").address, kPort);
    bool connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0;
    if (!connected && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 500) == 1) {
        int error = 0;
        socklen_t len = sizeof error;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
        connected = error == 0;
      }
    }
    ::close(fd);
    // Drain the accepted connection, if any.
    pollfd p{listener_, POLLIN, 0};
    while (::poll(&p, 1, 0) == 1) {
      const int accepted = ::accept(listener_, nullptr, nullptr);
      if (accepted < 0) break;
      ::close(accepted);
    }
    return connected;
  }

  std::unique_ptr<NetnsLab> lab_;
  int listener_ = -1;
};

TEST_F(NetnsLabTest, HostsReachEachOtherAcrossTheRouter) {
  EXPECT_TRUE(reachesA("b")) << "same DC";
  EXPECT_TRUE(reachesA("c")) << "through the router";
  EXPECT_EQ(lab_->host("c").address, "10.77.2.1");
  PosixProcessRunner runner;
  auto argv = lab_->execPrefix("b");
  argv.insert(argv.end(), {"ip", "-o", "-4", "addr", "show", "dev", "eth0"});
  auto shown = runner.run(Command{argv, {}, std::chrono::milliseconds(10'000), ""});
  ASSERT_TRUE(shown.ok());
  EXPECT_NE(shown->output.find("10.77.1.2/24"), std::string::npos) << shown->output;
}

TEST_F(NetnsLabTest, APartitionDropsOnlyThatPairUntilHealed) {
  ASSERT_TRUE(lab_->partition("b", "a").ok());
  EXPECT_FALSE(reachesA("b"));
  EXPECT_TRUE(reachesA("c")) << "others are not affected";
  ASSERT_TRUE(lab_->heal("b", "a").ok());
  EXPECT_TRUE(reachesA("b"));
  // One way: b may not send to a (its SYN is dropped).
  ASSERT_TRUE(lab_->partition("b", "a", /*both_ways=*/false).ok());
  EXPECT_FALSE(reachesA("b"));
  ASSERT_TRUE(lab_->heal("b", "a").ok());
  EXPECT_TRUE(reachesA("b"));
}

TEST_F(NetnsLabTest, CuttingTheDcLinkSeparatesTheDcsOnly) {
  ASSERT_TRUE(lab_->cutDcs().ok());
  EXPECT_FALSE(reachesA("c"));
  EXPECT_TRUE(reachesA("b")) << "inside a DC nothing changes";
  ASSERT_TRUE(lab_->healDcs().ok());
  EXPECT_TRUE(reachesA("c"));
}

// Of 400 datagrams from c (DC2) to a (DC1), about half arrive through a
// link that loses 50 %: the bounds are 30 standard deviations wide.
TEST_F(NetnsLabTest, ALossyDcLinkDropsAboutThatShareOfPackets) {
  const int receiver = lab_->socketIn("a", AF_INET, SOCK_DGRAM);
  const int sender = lab_->socketIn("c", AF_INET, SOCK_DGRAM);
  ASSERT_GE(receiver, 0);
  ASSERT_GE(sender, 0);
  const sockaddr_in at = addressOf(lab_->host("a").address, kPort + 1);
  ASSERT_EQ(::bind(receiver, reinterpret_cast<const sockaddr*>(&at), sizeof at), 0);
  auto delivered = [&](int count) {
    for (int i = 0; i < count; ++i) {
      (void)::sendto(sender, "x", 1, 0, reinterpret_cast<const sockaddr*>(&at), sizeof at);
    }
    int got = 0;
    char byte;
    pollfd p{receiver, POLLIN, 0};
    while (::poll(&p, 1, 300) == 1 && ::recv(receiver, &byte, 1, 0) == 1) ++got;
    return got;
  };
  EXPECT_EQ(delivered(100), 100) << "a healthy link loses nothing";
  ASSERT_TRUE(lab_->makeDcLinkLossy(50).ok());
  const int half = delivered(400);
  EXPECT_GT(half, 80);
  EXPECT_LT(half, 320);
  EXPECT_TRUE(lab_->makeDcLinkLossy(101).error().message.find("0..100") != std::string::npos);
  ASSERT_TRUE(lab_->healDcs().ok());
  EXPECT_EQ(delivered(100), 100) << "healed";
  ::close(receiver);
  ::close(sender);
}

TEST_F(NetnsLabTest, BlockedConnectionsAreThoseOfOneUserToOnePort) {
  ASSERT_TRUE(lab_->blockConnections("b", kPort, "nobody").ok());
  EXPECT_TRUE(reachesA("b")) << "the test runs as root, not as nobody";
  ASSERT_TRUE(lab_->blockConnections("b", kPort, "root").ok());
  EXPECT_FALSE(reachesA("b"));
  EXPECT_TRUE(reachesA("c")) << "only b's own connections";
  ASSERT_TRUE(lab_->unblockConnections("b").ok());
  EXPECT_TRUE(reachesA("b"));
}

// A 3-member etcd across three hosts of one DC: losing one member keeps
// the quorum, losing two (here: one dead, the other two cut apart) loses it,
// and healing brings it back; clients run on the hosts (etcdctl).
TEST(NetnsLabEtcd, OneMemberLostIsNotQuorumLost) {
  if (const std::string why = NetnsLab::unavailableReason(); !why.empty()) GTEST_FAIL() << why;
  NetnsLab lab;
  std::vector<EtcdProcess::Placement> placements;
  for (const std::string name : {"e1", "e2", "e3"}) {
    auto added = lab.addHost(1, name);
    ASSERT_TRUE(added.ok()) << added.error().message;
    placements.push_back({added->address, lab.execPrefix(name)});
  }
  auto members = EtcdProcess::startClusterOn(placements);
  ASSERT_EQ(members.size(), 3u);
  PosixProcessRunner runner;
  // A write through `host`'s own member, bounded by etcdctl's timeouts.
  auto put = [&](const std::string& host) {
    auto argv = lab.execPrefix(host);
    argv.insert(argv.end(), {"/usr/bin/etcdctl", "--endpoints=http://" + lab.host(host).address + ":2379",
                             "--dial-timeout=1s", "--command-timeout=2s", "put", "k", host});
    auto ran = runner.run(Command{argv, {{"ETCDCTL_API", "3"}}, std::chrono::milliseconds(10'000), ""});
    return ran.ok() && ran->exit_code == 0;
  };
  auto eventuallyPut = [&](const std::string& host) {
    for (int i = 0; i < 40; ++i) {
      if (put(host)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return false;
  };
  ASSERT_TRUE(eventuallyPut("e1")) << "the cluster never formed; see " << members[0]->logFile();
  members[2]->kill();
  EXPECT_TRUE(eventuallyPut("e1")) << "two of three members must keep the quorum";
  EXPECT_TRUE(put("e2"));
  ASSERT_TRUE(lab.partition("e1", "e2").ok());
  EXPECT_FALSE(put("e1")) << "one member alone has no quorum";
  EXPECT_FALSE(put("e2"));
  ASSERT_TRUE(lab.heal("e1", "e2").ok());
  ASSERT_TRUE(members[2]->start());
  EXPECT_TRUE(eventuallyPut("e3")) << "healed, the third member serves writes again";
}

TEST(NetnsLab, LeavesNoNamespaceBehind) {
  if (const std::string why = NetnsLab::unavailableReason(); !why.empty()) GTEST_FAIL() << why;
  {
    NetnsLab lab;
    ASSERT_TRUE(lab.addHost(1, "x").ok());
  }
  PosixProcessRunner runner;
  auto listed = runner.run(Command{{"/usr/sbin/ip", "netns", "list"}, {}, std::chrono::milliseconds(10'000), ""});
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->output.find("pgt" + std::to_string(::getpid()) + "-"), std::string::npos) << listed->output;
}

}  // namespace
}  // namespace pgtandem::testing
