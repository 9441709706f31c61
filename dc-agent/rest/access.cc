#include "dc-agent/rest/access.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/crypto.h>

#include <cstring>
#include <stdexcept>

namespace pgtandem::rest {

namespace {

struct RawAddress {
  int family = 0;
  std::array<unsigned char, 16> bytes{};
};

std::optional<RawAddress> parseAddress(const std::string& text) {
  RawAddress a;
  if (::inet_pton(AF_INET, text.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET;
    return a;
  }
  if (::inet_pton(AF_INET6, text.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET6;
    // An IPv4-mapped IPv6 peer (::ffff:a.b.c.d) is matched as IPv4.
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a.bytes.data(), kMapped, sizeof kMapped) == 0) {
      std::memmove(a.bytes.data(), a.bytes.data() + 12, 4);
      std::memset(a.bytes.data() + 4, 0, 12);
      a.family = AF_INET;
    }
    return a;
  }
  return std::nullopt;
}

}  // namespace

Result<std::vector<IpNetwork>> IpNetwork::parse(const std::string& text) {
  const auto slash = text.find('/');
  const std::string host = text.substr(0, slash);
  std::vector<RawAddress> addresses;
  if (auto a = parseAddress(host)) {
    addresses.push_back(*a);
  } else if (slash == std::string::npos) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (::getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || !found) {
      return makeError(ErrorCode::kInvalidArgument, "allowlist: cannot resolve '" + text + "'");
    }
    for (addrinfo* i = found; i; i = i->ai_next) {
      char buffer[INET6_ADDRSTRLEN] = {0};
      const void* raw = i->ai_family == AF_INET ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(i->ai_addr)->sin_addr)
                                                : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(i->ai_addr)->sin6_addr);
      if (::inet_ntop(i->ai_family, raw, buffer, sizeof buffer)) {
        if (auto resolved = parseAddress(buffer)) addresses.push_back(*resolved);
      }
    }
    ::freeaddrinfo(found);
  } else {
    return makeError(ErrorCode::kInvalidArgument, "allowlist: '" + text + "' is not an address or network");
  }
  std::vector<IpNetwork> networks;
  for (const auto& a : addresses) {
    IpNetwork n;
    n.family_ = a.family;
    n.bytes_ = a.bytes;
    const int max_prefix = a.family == AF_INET ? 32 : 128;
    n.prefix_ = max_prefix;
    if (slash != std::string::npos) {
      try {
        std::size_t used = 0;
        n.prefix_ = std::stoi(text.substr(slash + 1), &used);
        if (used != text.size() - slash - 1) throw std::invalid_argument("trailing text");
      } catch (const std::exception&) {
        return makeError(ErrorCode::kInvalidArgument, "allowlist: bad prefix length in '" + text + "'");
      }
      if (n.prefix_ < 0 || n.prefix_ > max_prefix) {
        return makeError(ErrorCode::kInvalidArgument, "allowlist: bad prefix length in '" + text + "'");
      }
    }
    networks.push_back(n);
  }
  return networks;
}

bool IpNetwork::contains(const std::string& address) const {
  const auto a = parseAddress(address);
  if (!a || a->family != family_) return false;
  const int full_bytes = prefix_ / 8;
  if (std::memcmp(a->bytes.data(), bytes_.data(), static_cast<std::size_t>(full_bytes)) != 0) return false;
  const int rest = prefix_ % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a->bytes[static_cast<std::size_t>(full_bytes)] & mask) == (bytes_[static_cast<std::size_t>(full_bytes)] & mask);
}

std::optional<HttpResponse> checkAccess(const AccessPolicy& policy, const std::vector<IpNetwork>& extra_allowed,
                                        bool allowlist_active, const HttpRequest& request) {
  if (allowlist_active) {
    bool allowed = false;
    for (const auto* list : {&policy.allowlist, &extra_allowed}) {
      for (const auto& n : *list) allowed = allowed || n.contains(request.client_address);
    }
    if (!allowed) return HttpResponse{403, "Access is denied", "text/plain", {}};
  }
  if (policy.require_client_certificate && !request.client_certificate) {
    return HttpResponse{403, "client certificate required", "text/plain", {}};
  }
  if (!policy.basic_auth.empty()) {
    const std::string& expected = policy.basic_auth;
    const std::string& given = request.authorization;
    if (given.empty()) {
      return HttpResponse{401, "no auth header received", "text/plain", {{"WWW-Authenticate", "Basic realm=\"pgtandem\""}}};
    }
    // Constant time, so the comparison does not leak how much matched.
    const bool same = given.size() == expected.size() && CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0;
    if (!same) return HttpResponse{401, "not authenticated", "text/plain", {{"WWW-Authenticate", "Basic realm=\"pgtandem\""}}};
  }
  return std::nullopt;
}

}  // namespace pgtandem::rest
