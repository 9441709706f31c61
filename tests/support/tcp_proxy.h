#pragma once
// A TCP forwarder on loopback that a test can black-hole or delay.
//
// Cut: it neither reads nor accepts, so the peers' bytes pile up unanswered
// in kernel buffers, as behind a firewall that drops packets (no reset, no
// error: calls only time out). Healing forwards what was queued.
//
// Delay: every byte read from one side is written to the other no sooner
// than `one_way` after it was read, in order, as over a WAN link with that
// latency (this kernel has no sch_netem, so the lab delays here).

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace pgtandem::testing {

class TcpProxy {
 public:
  // Listens on a free loopback port and forwards every connection to
  // 127.0.0.1:target_port. Check port() != 0.
  explicit TcpProxy(int target_port);
  // The same, with the target port chosen when each connection comes in
  // (e.g. whichever node leads now); 0 refuses the connection.
  explicit TcpProxy(std::function<int()> choose_target);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
  void cut() { cut_ = true; }
  void heal() { cut_ = false; }
  void setDelay(std::chrono::milliseconds one_way) { delay_ms_ = static_cast<int>(one_way.count()); }
  // Once: the first connection whose client sends `marker` is closed when
  // the server has sent `after_bytes` more on it, like a source that goes
  // away in the middle of a transfer.
  void closeOnceClientSends(const std::string& marker, std::size_t after_bytes);
  bool closedOnMarker() const { return closed_on_marker_; }

 private:
  void run();
  const std::function<int()> choose_target_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> cut_{false};
  std::atomic<int> delay_ms_{0};
  std::atomic<bool> stopping_{false};
  std::mutex marker_mutex_;
  std::string marker_;
  std::size_t marker_after_bytes_ = 0;
  std::atomic<bool> closed_on_marker_{false};
  std::thread thread_;
};

}  // namespace pgtandem::testing
