#include "dc-agent/rest/http_server.h"

#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>
#include <thread>

#include "common/util/log.h"

namespace pgtandem::rest {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

struct HttpServer::Impl {
  // Declared before the io_context: sessions destroyed with its queued
  // handlers still use them.
  HttpServerOptions options;
  HttpHandlers handlers;
  std::atomic<std::size_t> connections{0};
  // Read and swapped on the I/O thread only (reloadTls posts the swap);
  // each TLS session keeps the context it started with.
  std::shared_ptr<ssl::context> tls;
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  net::thread_pool workers;
  std::thread io_thread;

  Impl(HttpServerOptions o, HttpHandlers h)
      : options(std::move(o)), handlers(std::move(h)), workers(static_cast<std::size_t>(std::max(1, options.worker_threads))) {}

  HttpResponse handle(const HttpRequest& request) {
    try {
      return handlers.handle(request);
    } catch (const std::exception& e) {
      spdlog::error("REST {} {}: {}", request.method, request.target, e.what());
      return HttpResponse{500, "internal error", "text/plain", {}};
    }
  }

  void accept();
};

namespace {

using RequestParser = http::request_parser<http::string_body>;

void applyLimits(RequestParser& parser, const HttpServerOptions& options) {
  parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
  parser.body_limit(options.body_limit);
}

// The 4xx for a request that could not be read.
HttpResponse rejection(const beast::error_code& ec) {
  if (ec == http::error::body_limit) return HttpResponse{413, "request body too large", "text/plain", {}};
  if (ec == http::error::header_limit) return HttpResponse{431, "request header fields too large", "text/plain", {}};
  return HttpResponse{400, "malformed request: " + ec.message(), "text/plain", {}};
}

HttpRequest toHttpRequest(http::request<http::string_body>& message, std::string peer, bool client_certificate) {
  HttpRequest request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  if (auto auth = message.find(http::field::authorization); auth != message.end()) {
    request.authorization = std::string(auth->value());
  }
  request.body = std::move(message.body());
  request.client_address = std::move(peer);
  request.client_certificate = client_certificate;
  return request;
}

template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(HttpServer::Impl& server, Stream stream, std::string peer, std::shared_ptr<void> context = {})
      : context_(std::move(context)), server_(server), stream_(std::move(stream)), peer_(std::move(peer)) {
    ++server_.connections;
  }
  ~Session() { --server_.connections; }

  void start() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      read();
    } else {
      lowest().expires_after(server_.options.read_timeout);
      stream_.async_handshake(ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
        if (ec) return self->closeSocket();  // a failed handshake (bad or missing client cert) ends here
        self->read();
      });
    }
  }

 private:
  std::shared_ptr<void> context_;  // the TLS context stream_ uses, kept alive
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void read() {
    parser_.emplace();
    applyLimits(*parser_, server_.options);
    lowest().expires_after(server_.options.read_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->onRead(ec); });
  }

  void onRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::operation_aborted ||
        ec == net::error::connection_reset || ec == net::error::eof || ec == ssl::error::stream_truncated) {
      return close();
    }
    keep_alive_ = false;
    head_only_ = false;
    if (ec) return write(rejection(ec));

    auto& message = parser_->get();
    keep_alive_ = message.keep_alive();
    HttpRequest request = toHttpRequest(message, peer_, clientCertificate());
    version_ = message.version();
    head_only_ = message.method() == http::verb::head || message.method() == http::verb::options;

    if (server_.handlers.needs_worker && server_.handlers.needs_worker(request)) {
      net::post(server_.workers, [self = this->shared_from_this(), request = std::move(request)] {
        HttpResponse response = self->server_.handle(request);
        net::post(self->stream_.get_executor(),
                  [self, response = std::move(response)]() mutable { self->write(std::move(response)); });
      });
      return;
    }
    write(server_.handle(request));
  }

  bool clientCertificate() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      return false;
    } else {
      SSL* ssl = stream_.native_handle();
      return SSL_get0_peer_certificate(ssl) != nullptr && SSL_get_verify_result(ssl) == X509_V_OK;
    }
  }

  void write(HttpResponse response) {
    auto message = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(response.status), version_);
    message->set(http::field::server, "pgtandem");
    message->set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) message->set(name, value);
    if (!head_only_) message->body() = std::move(response.body);
    message->keep_alive(keep_alive_);
    message->prepare_payload();
    lowest().expires_after(server_.options.read_timeout);
    http::async_write(stream_, *message, [self = this->shared_from_this(), message](beast::error_code ec, std::size_t) {
      if (ec || !self->keep_alive_) return self->close();
      self->read();
    });
  }

  void close() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      closeSocket();
    } else {
      lowest().expires_after(std::chrono::seconds(2));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) { self->closeSocket(); });
    }
  }

  void closeSocket() {
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
  }

  HttpServer::Impl& server_;
  Stream stream_;
  std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  bool keep_alive_ = false;
  bool head_only_ = false;
  unsigned version_ = 11;
};

}  // namespace

void HttpServer::Impl::accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;  // stopping
    if (!ec) {
      beast::error_code peer_ec;
      const auto peer = socket.remote_endpoint(peer_ec);
      if (peer_ec || connections.load() >= options.max_connections) {
        socket.close(peer_ec);
      } else {
        socket.set_option(tcp::no_delay(true), peer_ec);
        std::string address = peer.address().to_string();
        if (tls) {
          std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
              *this, beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), *tls), std::move(address), tls)
              ->start();
        } else {
          std::make_shared<Session<beast::tcp_stream>>(*this, beast::tcp_stream(std::move(socket)), std::move(address))
              ->start();
        }
      }
    }
    accept();
  });
}

namespace {

Result<tcp::endpoint> resolveListen(net::io_context& ioc, const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) return makeError(ErrorCode::kInvalidArgument, "restapi.listen must be host:port, got '" + listen + "'");
  std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "*") host = "0.0.0.0";
  beast::error_code ec;
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(host, port, tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    return makeError(ErrorCode::kInvalidArgument, "cannot resolve restapi.listen '" + listen + "': " + ec.message());
  }
  return results.begin()->endpoint();
}

Status configureTls(ssl::context& ctx, const HttpServerOptions& o) {
  try {
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::single_dh_use);
    if (!o.keyfile_password.empty()) {
      ctx.set_password_callback([password = o.keyfile_password](std::size_t, ssl::context::password_purpose) { return password; });
    }
    ctx.use_certificate_chain_file(o.certfile);
    ctx.use_private_key_file(o.keyfile.empty() ? o.certfile : o.keyfile, ssl::context::pem);
    if (!o.cafile.empty()) ctx.load_verify_file(o.cafile);
    if (!o.ciphers.empty() && SSL_CTX_set_cipher_list(ctx.native_handle(), o.ciphers.c_str()) != 1) {
      return makeError(ErrorCode::kInvalidArgument, "restapi.ciphers: no usable cipher in '" + o.ciphers + "'");
    }
    if (o.verify_client == "required") {
      ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    } else if (o.verify_client == "optional") {
      ctx.set_verify_mode(ssl::verify_peer);
    } else {
      ctx.set_verify_mode(ssl::verify_none);
    }
  } catch (const boost::system::system_error& e) {
    return makeError(ErrorCode::kInvalidArgument, "restapi TLS settings (" + o.certfile + "): " + e.what());
  }
  return okStatus();
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::start(const HttpServerOptions& options, HttpHandlers handlers) {
  auto impl = std::make_unique<Impl>(options, std::move(handlers));
  if (!options.certfile.empty()) {
    impl->tls = std::make_shared<ssl::context>(ssl::context::tls_server);
    PGT_TRY(configureTls(*impl->tls, options));
  }
  auto resolved = resolveListen(impl->ioc, options.listen);
  if (!resolved.ok()) return resolved.error();
  const tcp::endpoint endpoint = *resolved;
  beast::error_code ec;
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return makeError(ErrorCode::kUnavailable, "cannot listen on " + options.listen + ": " + ec.message());
  impl->accept();
  Impl* raw = impl.get();
  impl->io_thread = std::thread([raw] {
    // One failing handler must not end the server.
    for (int restarts = 0; restarts < 1000; ++restarts) {
      try {
        raw->ioc.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("REST server: {}", e.what());
      }
    }
  });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

std::variant<HttpRequest, HttpResponse> parseHttpRequest(std::string_view raw, const HttpServerOptions& limits) {
  RequestParser parser;
  applyLimits(parser, limits);
  parser.eager(true);
  beast::error_code ec;
  std::size_t used = 0;
  // put() may take the input in several steps (header, then body).
  for (int step = 0; step < 64 && !ec && !parser.is_done() && used < raw.size(); ++step) {
    used += parser.put(net::buffer(raw.data() + used, raw.size() - used), ec);
  }
  if (!ec && !parser.is_done()) {
    if (!parser.got_some()) return HttpResponse{400, "malformed request: empty", "text/plain", {}};
    parser.put_eof(ec);
    if (!ec && !parser.is_done()) return HttpResponse{400, "malformed request: incomplete", "text/plain", {}};
  }
  if (ec) return rejection(ec);
  auto message = parser.release();
  return toHttpRequest(message, "127.0.0.1", false);
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  net::post(impl_->ioc, [impl = impl_.get()] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
  });
  impl_->ioc.stop();
  if (impl_->io_thread.joinable()) impl_->io_thread.join();
  impl_->workers.join();
}

Status HttpServer::reloadTls(const HttpServerOptions& options) {
  std::shared_ptr<ssl::context> next;
  if (!options.certfile.empty()) {
    next = std::make_shared<ssl::context>(ssl::context::tls_server);
    PGT_TRY(configureTls(*next, options));  // a bad file changes nothing
  }
  net::post(impl_->ioc, [impl = impl_.get(), next = std::move(next)]() mutable { impl->tls = std::move(next); });
  return okStatus();
}

unsigned short HttpServer::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

}  // namespace pgtandem::rest
