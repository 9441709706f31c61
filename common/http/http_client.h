#pragma once
// A small blocking HTTP/1.0 client for calling members' REST APIs (dcctl,
// tests, benchmarks): one request per connection, bounded by a timeout.
// http:// and https:// (TLS 1.2+, server certificate checked against the
// host name unless `insecure`, optional client certificate).

#include <chrono>
#include <string>

#include "common/util/result.h"

namespace pgtandem::http {

struct Response {
  int status = 0;
  std::string body;
};

struct CallOptions {
  std::string authorization;  // the Authorization header value; "" for none
  std::chrono::milliseconds timeout{30000};
  // https only:
  bool insecure = false;   // do not verify the server's certificate
  std::string ca_file;     // CA bundle; "" for the system's
  std::string cert_file, key_file;  // client certificate
};

// `base_url` is "http(s)://host:port" (a path after it is ignored), e.g. a
// member's api_url. kUnavailable when nothing answered in time; kPermissionDenied
// when the TLS handshake fails (certificate not trusted, client certificate
// refused).
Result<Response> call(const std::string& base_url, const std::string& method, const std::string& target,
                      const std::string& body = "", const CallOptions& options = {});

// "Basic <base64(user:password)>".
std::string basicAuthorization(const std::string& username, const std::string& password);

}  // namespace pgtandem::http
