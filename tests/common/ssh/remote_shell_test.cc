// The libssh remote shell against a real sshd on loopback (started by the
// test, root's key authorized): exit codes and output come back; a wrong or
// unknown host key, a key that is not authorized, and a host that does not
// answer are clear errors and run nothing; a command past its timeout is
// stopped.

#include <gtest/gtest.h>

#include <filesystem>

#include "common/ssh/ssh.h"
#include "tests/support/ports.h"
#include "tests/support/sshd.h"

namespace pgtandem::ssh {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class RemoteShellTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::makeTempDir("ssh");
    std::string why;
    if (!sshd_.prepare(dir_, why)) GTEST_SKIP() << why;
    ASSERT_TRUE(sshd_.start()) << sshd_.log();
  }
  void TearDown() override {
    sshd_.stop();
    if (!dir_.empty() && !std::getenv("PGT_KEEP_TEST_DIRS")) fs::remove_all(dir_);
  }
  SshTarget target() const { return {"root", "127.0.0.1", sshd_.port()}; }
  std::unique_ptr<RemoteShell> shell(const std::string& known_hosts, const std::string& key = "") {
    return makeLibsshRemoteShell({key.empty() ? sshd_.clientKey() : key, known_hosts, 5});
  }

  std::string dir_;
  testing::Sshd sshd_;
};

TEST_F(RemoteShellTest, RunsACommandAndReturnsItsExitCodeAndOutput) {
  auto remote = shell(sshd_.knownHostsFile());
  auto ran = remote->run(target(), "echo out; echo err >&2; exit 3", 30s);
  ASSERT_TRUE(ran.ok()) << ran.error().message;
  EXPECT_EQ(ran->exit_code, 3);
  EXPECT_FALSE(ran->timed_out);
  EXPECT_NE(ran->output.find("out"), std::string::npos) << ran->output;
  EXPECT_NE(ran->output.find("err"), std::string::npos) << ran->output;
  auto big = remote->run(target(), "head -c 3000000 /dev/zero | tr '\\0' x; echo; exit 0", 30s);
  ASSERT_TRUE(big.ok()) << big.error().message;
  EXPECT_EQ(big->exit_code, 0);
  EXPECT_EQ(big->output.size(), 1u << 20) << "the output is capped, the command still read to its end";
  auto marker = dir_ + "/ran";
  auto wrote = remote->run(target(), "touch " + marker, 30s);
  ASSERT_TRUE(wrote.ok());
  EXPECT_TRUE(fs::exists(marker));
}

TEST_F(RemoteShellTest, AWrongOrUnknownHostKeyOrAKeyNotAuthorizedRunsNothing) {
  const std::string marker = dir_ + "/must-not-exist";
  auto wrong = shell(sshd_.wrongKnownHostsFile())->run(target(), "touch " + marker, 30s);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(wrong.error().message.find("is not the one in"), std::string::npos) << wrong.error().message;
  auto unknown = shell(sshd_.emptyKnownHostsFile())->run(target(), "touch " + marker, 30s);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("ssh-keyscan"), std::string::npos) << unknown.error().message;
  // A key of our own that the server does not know.
  ASSERT_EQ(std::system(("ssh-keygen -q -t ed25519 -N '' -f " + dir_ + "/stranger").c_str()), 0);
  auto stranger = shell(sshd_.knownHostsFile(), dir_ + "/stranger")->run(target(), "touch " + marker, 30s);
  ASSERT_FALSE(stranger.ok());
  EXPECT_EQ(stranger.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(stranger.error().message.find("key authentication to root@127.0.0.1"), std::string::npos)
      << stranger.error().message;
  auto missing = shell(sshd_.knownHostsFile(), dir_ + "/no-such-key")->run(target(), "true", 30s);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("cannot read the private key"), std::string::npos) << missing.error().message;
  EXPECT_FALSE(fs::exists(marker));
}

TEST_F(RemoteShellTest, AHostThatDoesNotAnswerIsAnErrorAndACommandPastItsTimeoutIsStopped) {
  auto nowhere = shell(sshd_.knownHostsFile())->run({"root", "127.0.0.1", testing::freeLoopbackPort()}, "true", 30s);
  ASSERT_FALSE(nowhere.ok());
  EXPECT_EQ(nowhere.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(nowhere.error().message.find("cannot reach the host"), std::string::npos) << nowhere.error().message;

  const std::string pid_file = dir_ + "/sleeper.pid";
  const auto started = std::chrono::steady_clock::now();
  auto slow = shell(sshd_.knownHostsFile())->run(target(), "echo $$ > " + pid_file + "; exec sleep 60", 2s);
  ASSERT_TRUE(slow.ok()) << slow.error().message;
  EXPECT_TRUE(slow->timed_out);
  EXPECT_EQ(slow->exit_code, -1);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 20s);
  // The remote command does not outlive its session (bounded wait).
  std::ifstream in(pid_file);
  pid_t pid = 0;
  in >> pid;
  ASSERT_GT(pid, 0);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = ::kill(pid, 0) != 0;
    if (!gone) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(gone) << "the remote sleep " << pid << " still runs";
  if (!gone) ::kill(pid, SIGKILL);
}

}  // namespace
}  // namespace pgtandem::ssh
