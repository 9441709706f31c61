#include "dc-agent/rest/failsafe_peers.h"

#include <future>
#include <vector>

#include "common/http/http_client.h"

namespace pgtandem::rest {

namespace {

class HttpFailsafePeers final : public agent::FailsafePeers {
 public:
  explicit HttpFailsafePeers(http::CallOptions options) : options_(std::move(options)) {}

  std::set<std::string> confirm(const std::map<std::string, std::string>& members, const std::string& body,
                                std::chrono::milliseconds timeout) override {
    http::CallOptions options = options_;
    options.timeout = timeout;
    // In parallel: an unreachable member costs one timeout, not one each.
    std::vector<std::pair<std::string, std::future<bool>>> calls;
    for (const auto& [name, url] : members) {
      calls.emplace_back(name, std::async(std::launch::async, [url = url, &body, options] {
                           auto answer = http::call(url, "POST", "/failsafe", body, options);
                           return answer.ok() && answer->status == 200;
                         }));
    }
    std::set<std::string> acknowledged;
    for (auto& [name, call] : calls) {
      if (call.get()) acknowledged.insert(name);
    }
    return acknowledged;
  }

 private:
  const http::CallOptions options_;
};

}  // namespace

std::unique_ptr<agent::FailsafePeers> makeHttpFailsafePeers(const config::Config& config) {
  http::CallOptions options;
  const config::Credentials& auth =
      config.ctl.authentication.username.empty() ? config.restapi.authentication : config.ctl.authentication;
  if (!auth.username.empty()) options.authorization = http::basicAuthorization(auth.username, auth.password);
  options.insecure = config.ctl.insecure;
  options.ca_file = config.ctl.cacert.empty() ? config.restapi.cafile : config.ctl.cacert;
  options.cert_file = config.ctl.certfile.empty() ? config.restapi.certfile : config.ctl.certfile;
  options.key_file = config.ctl.keyfile.empty() ? config.restapi.keyfile : config.ctl.keyfile;
  return std::make_unique<HttpFailsafePeers>(std::move(options));
}

}  // namespace pgtandem::rest
