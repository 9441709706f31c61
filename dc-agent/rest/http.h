#pragma once
// The REST API's request and response, free of Beast: the router and its
// tests see plain structs; only http_server.cc includes Beast.

#include <string>
#include <utility>
#include <vector>

namespace pgtandem::rest {

struct HttpRequest {
  std::string method;  // GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE
  std::string target;  // path and query, as received
  std::string authorization;  // the Authorization header; "" when absent
  std::string body;
  std::string client_address;  // the peer's IP address
  bool client_certificate = false;  // TLS: the client presented a verified certificate
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

}  // namespace pgtandem::rest
