#include "tests/support/ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

namespace pgtandem::testing {

int freeLoopbackPort() {
  static std::mutex mutex;
  static std::set<int> handed_out;
  std::lock_guard lock(mutex);
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(fd);
      continue;
    }
    ::close(fd);
    const int port = ntohs(addr.sin_port);
    if (handed_out.insert(port).second) return port;
  }
  throw std::runtime_error("no free loopback port");
}

std::string makeTempDir(const std::string& tag) {
  // scripts/test.sh gives each run its own base, so that it can find and
  // stop what a crashed test left running (its teardown never ran).
  const char* run_base = std::getenv("PGTANDEM_TEST_TMPDIR");
  const std::string base = run_base && std::filesystem::is_directory(run_base) ? run_base
                           : std::filesystem::is_directory("/dev/shm")        ? "/dev/shm"
                                                                              : "/tmp";
  std::string templ = base + "/pgtandem-" + tag + "-XXXXXX";
  if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed for " + templ);
  return templ;
}

void removeTree(const std::string& path) {
  if (std::getenv("PGT_KEEP_TEST_DIRS") != nullptr) return;  // for a post-mortem
  std::error_code ignored;
  std::filesystem::remove_all(path, ignored);
}

bool waitForPort(const std::string& host, int port, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, host.c_str(), &to.sin_addr);
    const bool connected = fd >= 0 && ::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0;
    if (fd >= 0) ::close(fd);
    if (connected) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace pgtandem::testing
