#pragma once
// A TCP forwarder on loopback whose link a test can black-hole: while cut,
// it neither reads nor accepts, so the peers' bytes pile up unanswered in
// kernel buffers, as behind a firewall that drops packets (no reset, no
// error: calls only time out). Healing forwards what was queued.

#include <atomic>
#include <memory>
#include <string>
#include <thread>

namespace pgtandem::testing {

class TcpProxy {
 public:
  // Listens on a free loopback port and forwards every connection to
  // 127.0.0.1:target_port. Check port() != 0.
  explicit TcpProxy(int target_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
  void cut() { cut_ = true; }
  void heal() { cut_ = false; }

 private:
  void run();
  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> cut_{false};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace pgtandem::testing
