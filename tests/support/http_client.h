#pragma once
// A minimal blocking HTTP/1.0 client for tests and benchmarks: one request
// per connection, on 127.0.0.1, bounded by a timeout.

#include <chrono>
#include <string>

namespace pgtandem::testing {

struct HttpResult {
  int status = 0;  // 0: no answer (connection refused, timeout)
  std::string body;
};

HttpResult httpRequest(int port, const std::string& method, const std::string& target, const std::string& body = "",
                       const std::string& authorization = "",
                       std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace pgtandem::testing
