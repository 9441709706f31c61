#pragma once
// Who may call the endpoints that change something: an allowlist of
// addresses and networks, a client certificate when TLS asks for one, and
// HTTP Basic auth. Checked in Patroni's order: 403 for the address, 403 for a
// missing certificate, 401 for the credentials.

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "common/util/result.h"
#include "dc-agent/rest/http.h"

namespace pgtandem::rest {

// One IPv4 or IPv6 network ("10.0.0.0/8", "::1", "127.0.0.1").
class IpNetwork {
 public:
  // An address or CIDR; a host name is resolved to all its addresses.
  static Result<std::vector<IpNetwork>> parse(const std::string& text);
  bool contains(const std::string& address) const;

 private:
  int family_ = 0;
  std::array<unsigned char, 16> bytes_{};
  int prefix_ = 0;
};

struct AccessPolicy {
  std::vector<IpNetwork> allowlist;  // empty: any address
  bool require_client_certificate = false;  // verify_client optional/required over TLS
  std::string basic_auth;  // the expected Authorization header ("Basic ..."); empty: no auth
  bool include_members = false;  // allowlist_include_members: the members' addresses are allowed too
};

// nullopt when the request may proceed; otherwise the 401/403 response.
// `extra_allowed` are networks allowed besides the allowlist (the members,
// with allowlist_include_members).
std::optional<HttpResponse> checkAccess(const AccessPolicy& policy, const std::vector<IpNetwork>& extra_allowed,
                                        bool allowlist_active, const HttpRequest& request);

}  // namespace pgtandem::rest
