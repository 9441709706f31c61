// The HTTP server on loopback, spoken to with raw sockets (and curl for
// TLS): HTTP/1.0 without Host, keep-alive, size limits, garbage, slow
// clients, the worker pool, TLS 1.2/1.3 and client certificates.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "common/http/http_client.h"
#include "dc-agent/rest/http_server.h"
#include "tests/support/ports.h"

namespace pgtandem::rest {
namespace {

using namespace std::chrono_literals;

class Client {
 public:
  explicit Client(unsigned short port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Client() { ::close(fd_); }
  bool connected() const { return connected_; }
  void send(const std::string& data) { (void)!::write(fd_, data.data(), data.size()); }
  // Reads until `until` appears, the peer closes, or the timeout passes.
  std::string read(std::chrono::milliseconds timeout, const std::string& until = "") {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (int rounds = 0; rounds < 100000; ++rounds) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buffer[4096];
      const ssize_t n = ::read(fd_, buffer, sizeof buffer);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      out.append(buffer, static_cast<std::size_t>(n));
      if (!until.empty() && out.find(until) != std::string::npos) break;
    }
    return out;
  }
  bool closedByPeer() const { return closed_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
};

HttpHandlers echoHandlers() {
  return {[](const HttpRequest& r) {
            if (r.target == "/slow") std::this_thread::sleep_for(400ms);
            return HttpResponse{200, r.method + " " + r.target + " cert=" + (r.client_certificate ? "yes" : "no") +
                                         " body=" + std::to_string(r.body.size()),
                                "text/plain", {}};
          },
          [](const HttpRequest& r) { return r.target == "/slow"; }};
}

std::unique_ptr<HttpServer> startServer(HttpServerOptions options = {}) {
  options.listen = "127.0.0.1:0";
  auto server = HttpServer::start(options, echoHandlers());
  EXPECT_TRUE(server.ok()) << (server.ok() ? "" : server.error().message);
  return server.ok() ? std::move(*server) : nullptr;
}

TEST(HttpServerTest, Http10WithoutHostIsAnsweredAndClosed) {
  auto server = startServer();
  ASSERT_TRUE(server);
  Client c(server->port());
  ASSERT_TRUE(c.connected());
  c.send("GET /primary HTTP/1.0\r\n\r\n");
  const std::string response = c.read(5s);
  EXPECT_EQ(response.rfind("HTTP/1.0 200 OK", 0), 0u) << response;
  EXPECT_NE(response.find("GET /primary cert=no"), std::string::npos);
  EXPECT_TRUE(c.closedByPeer());
}

TEST(HttpServerTest, KeepAliveServesSeveralRequests) {
  auto server = startServer();
  ASSERT_TRUE(server);
  Client c(server->port());
  for (int i = 0; i < 3; ++i) {
    c.send("GET /replica HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string response = c.read(5s, "body=0");
    EXPECT_EQ(response.rfind("HTTP/1.1 200 OK", 0), 0u) << response;
  }
  c.send("HEAD /replica HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string head = c.read(2s, "\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK", 0), 0u);
  EXPECT_FALSE(c.closedByPeer());
}

TEST(HttpServerTest, MalformedAndOversizedRequestsGet4xx) {
  HttpServerOptions options;
  options.body_limit = 1024;
  options.header_limit = 1024;
  auto server = startServer(options);
  ASSERT_TRUE(server);
  struct Row {
    std::string request;
    std::string status;
  };
  const std::vector<Row> rows = {
      {"HELLO\r\n\r\n", "HTTP/1.1 400"},
      {"GET /x HTTP/9.9\r\n\r\n", "HTTP/1.1 400"},
      {"GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n", "HTTP/1.1 400"},
      {"POST /config HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", "HTTP/1.1 413"},
      {"GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n", "HTTP/1.1 431"},
      {std::string("GET /\0x HTTP/1.1\r\n\r\n", 20), "HTTP/1.1 400"},
  };
  for (const auto& row : rows) {
    Client c(server->port());
    c.send(row.request);
    const std::string response = c.read(5s);
    EXPECT_EQ(response.rfind(row.status, 0), 0u) << row.request.substr(0, 40) << " -> " << response;
    EXPECT_TRUE(c.closedByPeer());
  }
}

TEST(HttpServerTest, SlowClientsDoNotBlockOthersAndAreCutOff) {
  HttpServerOptions options;
  options.read_timeout = 700ms;
  auto server = startServer(options);
  ASSERT_TRUE(server);
  Client slow(server->port());
  slow.send("GET /prim");  // and nothing more
  Client fast(server->port());
  fast.send("GET /primary HTTP/1.0\r\n\r\n");
  EXPECT_NE(fast.read(2s).find("200 OK"), std::string::npos);
  (void)slow.read(5s);
  EXPECT_TRUE(slow.closedByPeer()) << "the slow client is cut off at the read deadline";
}

TEST(HttpServerTest, BlockingRequestsRunOffTheIoThread) {
  auto server = startServer();
  ASSERT_TRUE(server);
  Client slow(server->port());
  slow.send("POST /slow HTTP/1.0\r\n\r\n");
  std::this_thread::sleep_for(50ms);
  const auto started = std::chrono::steady_clock::now();
  Client fast(server->port());
  fast.send("GET /primary HTTP/1.0\r\n\r\n");
  EXPECT_NE(fast.read(2s).find("200 OK"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 350ms) << "a health check waited behind a slow request";
  EXPECT_NE(slow.read(3s).find("POST /slow"), std::string::npos);
}

TEST(HttpServerTest, RefusesAnAddressInUse) {
  auto first = startServer();
  ASSERT_TRUE(first);
  HttpServerOptions options;
  options.listen = "127.0.0.1:" + std::to_string(first->port());
  auto second = HttpServer::start(options, echoHandlers());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("cannot listen on 127.0.0.1:"), std::string::npos);
  options.listen = "nonsense";
  EXPECT_FALSE(HttpServer::start(options, echoHandlers()).ok());
}

// TLS: a CA, a server certificate for 127.0.0.1 and a client certificate,
// made with the openssl command; curl is the client.
class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::makeTempDir("tls");
    const std::string d = dir_;
    const std::string script =
        "set -e; cd " + d + ";"
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=ca 2>/dev/null;"
        "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null;"
        "printf 'subjectAltName=IP:127.0.0.1' > san.ext;"
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext 2>/dev/null;"
        "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=admin 2>/dev/null;"
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2 2>/dev/null;";
    ASSERT_EQ(std::system(script.c_str()), 0);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  HttpServerOptions tlsOptions(const std::string& verify_client) {
    HttpServerOptions options;
    options.certfile = dir_ + "/server.crt";
    options.keyfile = dir_ + "/server.key";
    options.cafile = dir_ + "/ca.crt";
    options.verify_client = verify_client;
    return options;
  }

  std::string curl(unsigned short port, const std::string& options) {
    const std::string command = "curl -s -o - -w ' code=%{http_code}' --max-time 5 --cacert " + dir_ + "/ca.crt " + options +
                                " https://127.0.0.1:" + std::to_string(port) + "/patroni 2>&1";
    std::string out;
    FILE* p = ::popen(command.c_str(), "r");
    if (!p) return out;
    std::array<char, 512> buffer{};
    while (std::fgets(buffer.data(), buffer.size(), p)) out += buffer.data();
    ::pclose(p);
    return out;
  }

  std::string dir_;
};

TEST_F(TlsTest, Tls12And13WithRequiredClientCertificates) {
  HttpServerOptions options = tlsOptions("required");
  auto server = startServer(options);
  ASSERT_TRUE(server);
  const std::string client = "--cert " + dir_ + "/client.crt --key " + dir_ + "/client.key ";
  const std::string tls13 = curl(server->port(), client + "--tlsv1.3");
  EXPECT_NE(tls13.find("cert=yes body=0 code=200"), std::string::npos) << tls13;
  EXPECT_NE(curl(server->port(), client + "--tlsv1.2 --tls-max 1.2").find("cert=yes body=0 code=200"), std::string::npos);
  EXPECT_NE(curl(server->port(), "").find("code=000"), std::string::npos) << "no client certificate, no connection";
  EXPECT_NE(curl(server->port(), client + "--tlsv1.1 --tls-max 1.1").find("code=000"), std::string::npos);
}

TEST_F(TlsTest, OptionalClientCertificate) {
  HttpServerOptions options = tlsOptions("optional");
  auto server = startServer(options);
  ASSERT_TRUE(server);
  EXPECT_NE(curl(server->port(), "").find("cert=no body=0 code=200"), std::string::npos);
  const std::string client = "--cert " + dir_ + "/client.crt --key " + dir_ + "/client.key ";
  EXPECT_NE(curl(server->port(), client).find("cert=yes body=0 code=200"), std::string::npos);
}

// The client side (common/http, used by dcctl): the server is checked
// against the CA and the host, unless insecure; a client certificate is
// presented when configured.
TEST_F(TlsTest, HttpClientOverTls) {
  HttpServerOptions options = tlsOptions("optional");
  auto server = startServer(options);
  ASSERT_TRUE(server);
  const std::string url = "https://127.0.0.1:" + std::to_string(server->port());
  http::CallOptions trusted;
  trusted.ca_file = dir_ + "/ca.crt";
  auto answer = http::call(url, "GET", "/patroni", "", trusted);
  ASSERT_TRUE(answer.ok()) << answer.error().message;
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body, "GET /patroni cert=no body=0");
  http::CallOptions with_cert = trusted;
  with_cert.cert_file = dir_ + "/client.crt";
  with_cert.key_file = dir_ + "/client.key";
  answer = http::call(url, "POST", "/reload", "{}", with_cert);
  ASSERT_TRUE(answer.ok()) << answer.error().message;
  EXPECT_EQ(answer->body, "POST /reload cert=yes body=2");
  http::CallOptions untrusted;  // the system's CAs do not know ours
  auto refused = http::call(url, "GET", "/patroni", "", untrusted);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
  http::CallOptions insecure;
  insecure.insecure = true;
  EXPECT_TRUE(http::call(url, "GET", "/patroni", "", insecure).ok());
  http::CallOptions wrong_host = trusted;
  auto by_name = http::call("https://localhost:" + std::to_string(server->port()), "GET", "/patroni", "", wrong_host);
  EXPECT_FALSE(by_name.ok()) << "the certificate names 127.0.0.1, not localhost";
}

TEST_F(TlsTest, BadCertificateFilesAreReported) {
  HttpServerOptions options;
  options.listen = "127.0.0.1:0";
  options.certfile = dir_ + "/missing.crt";
  auto server = HttpServer::start(options, echoHandlers());
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.error().message.find("missing.crt"), std::string::npos);
}

}  // namespace
}  // namespace pgtandem::rest
