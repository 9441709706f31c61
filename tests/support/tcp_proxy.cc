#include "tests/support/tcp_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

namespace pgtandem::testing {

namespace {

struct Link {
  int fd[2] = {-1, -1};  // client side, server side
  std::string pending[2];  // bytes waiting to be written to fd[i]
  bool open = true;
};

void setNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

int connectTo(int port) {
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

}  // namespace

TcpProxy::TcpProxy(int target_port) : target_port_(target_port) {
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
    std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
    for (const auto& link : links) {
      for (int side = 0; side < 2; ++side) {
        const short events = static_cast<short>(POLLIN | (link.pending[side].empty() ? 0 : POLLOUT));
        fds.push_back({link.fd[side], events, 0});
      }
    }
    if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
    if (cut_) continue;
    if (fds[0].revents & POLLIN) {
      for (int client; (client = ::accept(listen_fd_, nullptr, nullptr)) >= 0;) {
        const int server = connectTo(target_port_);
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
    for (std::size_t i = 0; i + 1 < fds.size() && i / 2 < links.size(); ++i) {
      Link& link = links[i / 2];
      const int side = static_cast<int>(i % 2);
      const short revents = fds[i + 1].revents;
      if (!link.open) continue;
      if (revents & POLLIN) {
        const ssize_t got = ::read(link.fd[side], buffer, sizeof buffer);
        if (got > 0) {
          link.pending[1 - side].append(buffer, static_cast<std::size_t>(got));
        } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
          link.open = false;
        }
      }
      if ((revents & (POLLERR | POLLHUP)) && !(revents & POLLIN)) link.open = false;
      for (int to = 0; to < 2 && link.open; ++to) {
        if (link.pending[to].empty()) continue;
        const ssize_t put = ::write(link.fd[to], link.pending[to].data(), link.pending[to].size());
        if (put > 0) {
          link.pending[to].erase(0, static_cast<std::size_t>(put));
        } else if (put < 0 && errno != EAGAIN && errno != EINTR) {
          link.open = false;
        }
      }
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
