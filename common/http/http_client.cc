#include "common/http/http_client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

namespace pgtandem::http {

namespace {

std::string base64(const std::string& text) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 3) {
    unsigned v = static_cast<unsigned char>(text[i]) << 16;
    if (i + 1 < text.size()) v |= static_cast<unsigned char>(text[i + 1]) << 8;
    if (i + 2 < text.size()) v |= static_cast<unsigned char>(text[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < text.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < text.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

// Connects to host:port with the deadline; -1 on failure.
int connectTo(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || !found) return -1;
  int fd = -1;
  for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd >= 0 && ::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  return fd;
}

}  // namespace

std::string basicAuthorization(const std::string& username, const std::string& password) {
  return "Basic " + base64(username + ":" + password);
}

Result<Response> call(const std::string& base_url, const std::string& method, const std::string& target,
                      const std::string& body, const CallOptions& options) {
  const std::string scheme = "http://";
  if (base_url.rfind(scheme, 0) != 0) {
    return makeError(ErrorCode::kInvalidArgument, "only http:// REST URLs are supported, got '" + base_url + "'");
  }
  std::string authority = base_url.substr(scheme.size());
  authority = authority.substr(0, authority.find('/'));
  const auto colon = authority.rfind(':');
  std::string host = colon == std::string::npos ? authority : authority.substr(0, colon);
  const std::string port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  const int fd = connectTo(host, port);
  if (fd < 0) return makeError(ErrorCode::kUnavailable, "cannot connect to " + authority);
  std::string request = method + " " + target + " HTTP/1.0\r\nHost: " + authority + "\r\n";
  if (!options.authorization.empty()) request += "Authorization: " + options.authorization + "\r\n";
  if (!body.empty() || method == "POST" || method == "PATCH" || method == "PUT") {
    request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  if (::write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return makeError(ErrorCode::kUnavailable, "cannot send to " + authority);
  }
  std::string response;
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  bool complete = false;
  for (int rounds = 0; rounds < 1000000; ++rounds) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buffer[8192];
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) {
      complete = n == 0;  // HTTP/1.0: the server closes after the response
      break;
    }
    response.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  int status = 0;
  if (!complete || std::sscanf(response.c_str(), "HTTP/%*d.%*d %d", &status) != 1) {
    return makeError(ErrorCode::kUnavailable, "no complete answer from " + authority + " within the timeout");
  }
  Response result;
  result.status = status;
  if (const auto blank = response.find("\r\n\r\n"); blank != std::string::npos) result.body = response.substr(blank + 4);
  return result;
}

}  // namespace pgtandem::http
