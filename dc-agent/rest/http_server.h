#pragma once
// The HTTP(S) server under the REST API (Boost.Beast; this header keeps Beast
// out of its includers). One I/O thread serves every connection; requests
// that may block (DCS reads, actions) run on a small worker pool so health
// checks never wait behind them.
//
// Robustness: header and body size limits, a deadline for reading each
// request (slow clients are cut off), keep-alive, HTTP/1.0 without Host, and
// a 4xx with the reason for anything malformed. TLS 1.2 and 1.3, with
// optional or required client certificates.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "common/util/result.h"
#include "dc-agent/rest/http.h"

namespace pgtandem::rest {

struct HttpServerOptions {
  std::string listen = "127.0.0.1:8008";  // host:port; "*:8008" or ":8008" for every address
  // TLS (on when certfile is set).
  std::string certfile, keyfile, keyfile_password, cafile, ciphers;
  std::string verify_client = "none";  // none | optional | required
  std::size_t header_limit = 8 * 1024;
  std::size_t body_limit = 256 * 1024;
  std::chrono::milliseconds read_timeout{30000};  // to read one whole request
  std::size_t max_connections = 1024;
  int worker_threads = 2;
};

struct HttpHandlers {
  std::function<HttpResponse(const HttpRequest&)> handle;
  std::function<bool(const HttpRequest&)> needs_worker;  // may be empty: never
};

// Parses one complete request from raw bytes exactly as the server does
// (same parser, same limits): the request, or the 4xx the server would send.
// For the fuzzer and tests.
std::variant<HttpRequest, HttpResponse> parseHttpRequest(std::string_view raw, const HttpServerOptions& limits);

class HttpServer {
 public:
  // Binds and starts serving; the error names the address when it cannot.
  static Result<std::unique_ptr<HttpServer>> start(const HttpServerOptions& options, HttpHandlers handlers);
  ~HttpServer();  // stops, closes every connection and joins the threads

  unsigned short port() const;

  // New connections use the TLS settings of `options` (certificate, key,
  // CA, client verification; no certfile: plain HTTP); open ones keep
  // theirs. A file that cannot be loaded is an error and changes nothing.
  Status reloadTls(const HttpServerOptions& options);

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgtandem::rest
