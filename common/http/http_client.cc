#include "common/http/http_client.h"

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

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

void setTimeouts(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // also bounds connect()
}

// Connects to host:port; -1 on failure.
int connectTo(const std::string& host, const std::string& port, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || !found) return -1;
  int fd = -1;
  for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    setTimeouts(fd, timeout);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  return fd;
}

// Plain or TLS, the same two calls.
class Channel {
 public:
  virtual ~Channel() = default;
  virtual bool writeAll(const std::string& data) = 0;
  virtual long readSome(char* buffer, std::size_t size) = 0;  // 0: closed, <0: error or timeout
};

class PlainChannel final : public Channel {
 public:
  explicit PlainChannel(int fd) : fd_(fd) {}
  bool writeAll(const std::string& data) override {
    return ::write(fd_, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  }
  long readSome(char* buffer, std::size_t size) override { return ::read(fd_, buffer, size); }

 private:
  int fd_;
};

class TlsChannel final : public Channel {
 public:
  ~TlsChannel() override {
    if (ssl_) {
      SSL_shutdown(ssl_);
      SSL_free(ssl_);
    }
    if (ctx_) SSL_CTX_free(ctx_);
  }
  Status open(int fd, const std::string& host, const CallOptions& o) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) return makeError(ErrorCode::kInternal, "cannot create a TLS context");
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);  // HTTP/1.0: the end of the stream ends the body
    if (o.insecure) {
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    } else {
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
      const bool loaded = o.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx_) == 1
                                            : SSL_CTX_load_verify_locations(ctx_, o.ca_file.c_str(), nullptr) == 1;
      if (!loaded) return makeError(ErrorCode::kInvalidArgument, "cannot read the CA file '" + o.ca_file + "'");
    }
    if (!o.cert_file.empty()) {
      if (SSL_CTX_use_certificate_chain_file(ctx_, o.cert_file.c_str()) != 1 ||
          SSL_CTX_use_PrivateKey_file(ctx_, (o.key_file.empty() ? o.cert_file : o.key_file).c_str(), SSL_FILETYPE_PEM) != 1) {
        return makeError(ErrorCode::kInvalidArgument, "cannot read the client certificate '" + o.cert_file + "'");
      }
    }
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd);
    SSL_set_tlsext_host_name(ssl_, host.c_str());
    if (!o.insecure) SSL_set1_host(ssl_, host.c_str());  // the certificate must name the host (or IP)
    if (SSL_connect(ssl_) != 1) {
      const unsigned long code = ERR_get_error();
      char reason[256] = "handshake failed";
      if (code) ERR_error_string_n(code, reason, sizeof reason);
      const long verify = SSL_get_verify_result(ssl_);
      const std::string why = verify != X509_V_OK ? X509_verify_cert_error_string(verify) : reason;
      return makeError(ErrorCode::kPermissionDenied, "TLS with " + host + " failed: " + why);
    }
    return okStatus();
  }
  bool writeAll(const std::string& data) override {
    return SSL_write(ssl_, data.data(), static_cast<int>(data.size())) == static_cast<int>(data.size());
  }
  long readSome(char* buffer, std::size_t size) override {
    const int n = SSL_read(ssl_, buffer, static_cast<int>(size));
    if (n > 0) return n;
    return SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::string basicAuthorization(const std::string& username, const std::string& password) {
  return "Basic " + base64(username + ":" + password);
}

Result<Response> call(const std::string& base_url, const std::string& method, const std::string& target,
                      const std::string& body, const CallOptions& options) {
  const bool tls = base_url.rfind("https://", 0) == 0;
  if (!tls && base_url.rfind("http://", 0) != 0) {
    return makeError(ErrorCode::kInvalidArgument, "not an http:// or https:// URL: '" + base_url + "'");
  }
  std::string authority = base_url.substr(tls ? 8 : 7);
  authority = authority.substr(0, authority.find('/'));
  const auto colon = authority.rfind(':');
  const bool has_port = colon != std::string::npos && authority.find(']', colon) == std::string::npos;
  std::string host = has_port ? authority.substr(0, colon) : authority;
  const std::string port = has_port ? authority.substr(colon + 1) : (tls ? "443" : "80");
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  Fd socket{connectTo(host, port, options.timeout)};
  if (socket.fd < 0) return makeError(ErrorCode::kUnavailable, "cannot connect to " + authority);
  std::unique_ptr<Channel> channel;
  if (tls) {
    auto secure = std::make_unique<TlsChannel>();
    if (auto opened = secure->open(socket.fd, host, options); !opened.ok()) return opened.error();
    channel = std::move(secure);
  } else {
    channel = std::make_unique<PlainChannel>(socket.fd);
  }
  std::string request = method + " " + target + " HTTP/1.0\r\nHost: " + authority + "\r\n";
  if (!options.authorization.empty()) request += "Authorization: " + options.authorization + "\r\n";
  if (!body.empty() || method == "POST" || method == "PATCH" || method == "PUT") {
    request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  if (!channel->writeAll(request)) return makeError(ErrorCode::kUnavailable, "cannot send to " + authority);
  std::string response;
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  bool complete = false;
  // Each read waits at most the socket timeout; the loop is bounded by the deadline.
  for (int rounds = 0; rounds < 1000000 && std::chrono::steady_clock::now() < deadline; ++rounds) {
    char buffer[8192];
    const long n = channel->readSome(buffer, sizeof buffer);
    if (n <= 0) {
      complete = n == 0;  // HTTP/1.0: the server closes after the response
      break;
    }
    response.append(buffer, static_cast<std::size_t>(n));
  }
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
