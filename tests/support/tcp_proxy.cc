#include "tests/support/tcp_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace pgtandem::testing {

namespace {

using Clock = std::chrono::steady_clock;

// Bytes on their way to one side, each chunk due at its release time.
struct Chunk {
  Clock::time_point due;
  std::string bytes;
};

struct Link {
  int fd[2] = {-1, -1};      // client side, server side
  std::deque<Chunk> to[2];   // bytes waiting to be written to fd[i]
  std::size_t queued[2] = {0, 0};
  bool eof[2] = {false, false};   // fd[i] will send nothing more
  bool shut[2] = {false, false};  // fd[i] was told so about the other side
  bool open = true;
  // closeOnceClientSends: the client's last bytes (a marker split across
  // reads), and how much the server sent since the marker.
  std::string client_tail;
  bool marked = false;
  std::size_t since_marker = 0;

  bool dueNow(int side, Clock::time_point now) const { return !to[side].empty() && to[side].front().due <= now; }
};

// A side stops being read while this much waits for the other: a bound, not
// a shaper (WAL streaming in the tests stays far below it).
constexpr std::size_t kMaxQueued = 32 * 1024 * 1024;

void setNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

int connectTo(int port) {
  if (port <= 0) return -1;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  setNonBlocking(fd);
  return fd;
}

// Whether `bytes`, just read from `side`, trip closeOnceClientSends.
bool markerTripped(Link& link, int side, std::string_view bytes, const std::string& marker, std::size_t after_bytes) {
  if (side == 0 && !link.marked) {
    link.client_tail += bytes;
    link.marked = link.client_tail.find(marker) != std::string::npos;
    if (link.client_tail.size() > marker.size()) link.client_tail.erase(0, link.client_tail.size() - marker.size());
    return false;
  }
  return side == 1 && link.marked && (link.since_marker += bytes.size()) >= after_bytes;
}

}  // namespace

TcpProxy::TcpProxy(int target_port) : TcpProxy(std::function<int()>([target_port] { return target_port; })) {}

TcpProxy::TcpProxy(std::function<int()> choose_target) : choose_target_(std::move(choose_target)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listen_fd_, 64) != 0) {
    return;
  }
  socklen_t length = sizeof address;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  setNonBlocking(listen_fd_);
  thread_ = std::thread([this] { run(); });
}

void TcpProxy::closeOnceClientSends(const std::string& marker, std::size_t after_bytes) {
  std::lock_guard lock(marker_mutex_);
  marker_ = marker;
  marker_after_bytes_ = after_bytes;
}

TcpProxy::~TcpProxy() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
}

void TcpProxy::run() {
  std::vector<Link> links;
  char buffer[64 * 1024];
  while (!stopping_) {
    if (cut_) {
      // Black-holed: touch nothing; the peers' writes wait in the kernel.
      ::poll(nullptr, 0, 20);
      continue;
    }
    // Sleep at most until the next chunk is due.
    auto now = Clock::now();
    int timeout_ms = 20;
    std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
    for (const auto& link : links) {
      for (int side = 0; side < 2; ++side) {
        short events = !link.eof[side] && link.queued[1 - side] < kMaxQueued ? POLLIN : 0;
        if (link.dueNow(side, now)) {
          events |= POLLOUT;
        } else if (!link.to[side].empty()) {
          const auto wait = std::chrono::ceil<std::chrono::milliseconds>(link.to[side].front().due - now).count();
          timeout_ms = std::clamp(static_cast<int>(wait), 0, timeout_ms);
        }
        fds.push_back({link.fd[side], events, 0});
      }
    }
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0) continue;
    if (cut_) continue;
    if (fds[0].revents & POLLIN) {
      for (int client; (client = ::accept(listen_fd_, nullptr, nullptr)) >= 0;) {
        const int server = connectTo(choose_target_());
        if (server < 0) {
          ::close(client);
          continue;
        }
        setNonBlocking(client);
        Link link;
        link.fd[0] = client;
        link.fd[1] = server;
        links.push_back(std::move(link));
      }
    }
    now = Clock::now();
    const auto delay = std::chrono::milliseconds(delay_ms_.load());
    for (std::size_t i = 0; i + 1 < fds.size() && i / 2 < links.size(); ++i) {
      Link& link = links[i / 2];
      const int side = static_cast<int>(i % 2);
      const short revents = fds[i + 1].revents;
      if (!link.open) continue;
      if (revents & POLLIN) {
        const ssize_t got = ::read(link.fd[side], buffer, sizeof buffer);
        if (got > 0) {
          link.to[1 - side].push_back({now + delay, std::string(buffer, static_cast<std::size_t>(got))});
          link.queued[1 - side] += static_cast<std::size_t>(got);
          std::lock_guard lock(marker_mutex_);
          if (!marker_.empty() &&
              markerTripped(link, side, std::string_view(buffer, static_cast<std::size_t>(got)), marker_, marker_after_bytes_)) {
            link.open = false;
            marker_.clear();
            closed_on_marker_ = true;
          }
        } else if (got == 0) {
          link.eof[side] = true;  // forwarded as a half-close once its bytes are out
        } else if (errno != EAGAIN && errno != EINTR) {
          link.open = false;
        }
      }
      if ((revents & POLLERR) || ((revents & POLLHUP) && !(revents & POLLIN))) link.open = false;
      for (int out = 0; out < 2 && link.open; ++out) {
        while (link.dueNow(out, now)) {
          std::string& bytes = link.to[out].front().bytes;
          const ssize_t put = ::send(link.fd[out], bytes.data(), bytes.size(), MSG_NOSIGNAL);  // no SIGPIPE: a peer may be gone
          if (put < 0) {
            if (errno != EAGAIN && errno != EINTR) link.open = false;
            break;
          }
          link.queued[out] -= static_cast<std::size_t>(put);
          bytes.erase(0, static_cast<std::size_t>(put));
          if (!bytes.empty()) break;  // the socket is full
          link.to[out].pop_front();
        }
        if (link.eof[1 - out] && link.to[out].empty() && !link.shut[out]) {
          ::shutdown(link.fd[out], SHUT_WR);
          link.shut[out] = true;
        }
      }
      if (link.shut[0] && link.shut[1]) link.open = false;
    }
    for (auto it = links.begin(); it != links.end();) {
      if (it->open) {
        ++it;
        continue;
      }
      ::close(it->fd[0]);
      ::close(it->fd[1]);
      it = links.erase(it);
    }
  }
  for (auto& link : links) {
    ::close(link.fd[0]);
    ::close(link.fd[1]);
  }
}

}  // namespace pgtandem::testing
