#include "backup/site_source.h"

#include <boost/json.hpp>

#include "common/dcs/cluster.h"
#include "common/http/http_client.h"
#include "common/util/base64.h"

namespace pgtandem::backup {

namespace json = boost::json;

namespace {

class EtcdGatewaySite : public SiteSource {
 public:
  explicit EtcdGatewaySite(SiteKeyLocation location) : location_(std::move(location)) {}

  SiteReading read() override {
    const std::string key = dcs::siteKey(dcs::ClusterPaths(location_.namespace_, location_.scope));
    SiteReading reading;
    reading.readable = false;
    auto value = readEtcdKey(location_.etcd, key);
    if (!value.ok()) {
      reading.problem = value.error().message;
      return reading;
    }
    if (!*value) {
      reading.readable = true;
      return reading;
    }
    auto state = dcs::parseSiteState(**value);
    if (!state.ok()) {
      reading.problem = key + ": " + state.error().message;
      return reading;
    }
    reading.readable = true;
    reading.state = std::move(*state);
    return reading;
  }

 private:
  SiteKeyLocation location_;
};

}  // namespace

Result<std::optional<std::string>> parseRangeAnswer(const std::string& body) {
  json::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return makeError(ErrorCode::kParse, "etcd's answer is not a JSON object");
  const json::value* kvs = v.as_object().if_contains("kvs");
  if (!kvs) return std::optional<std::string>();
  if (!kvs->is_array()) return makeError(ErrorCode::kParse, "etcd's kvs is not an array");
  if (kvs->as_array().empty()) return std::optional<std::string>();
  const json::value& kv = kvs->as_array().front();
  const json::value* value = kv.is_object() ? kv.as_object().if_contains("value") : nullptr;
  if (!value) return std::optional<std::string>(std::string());  // an empty value is left out
  if (!value->is_string()) return makeError(ErrorCode::kParse, "etcd's value is not a string");
  auto decoded = base64Decode(value->as_string());
  if (!decoded.ok()) return makeError(ErrorCode::kParse, "etcd's value is not base64");
  return std::optional<std::string>(std::move(*decoded));
}

Result<std::optional<std::string>> readEtcdKey(const std::vector<std::string>& endpoints, const std::string& key) {
  if (endpoints.empty()) return makeError(ErrorCode::kConfig, "no etcd endpoint configured");
  const std::string body = json::serialize(json::object{{"key", base64Encode(key)}});
  std::string problems;
  for (const auto& endpoint : endpoints) {
    const std::string url = endpoint.find("://") == std::string::npos ? "http://" + endpoint : endpoint;
    http::CallOptions options;
    options.timeout = std::chrono::milliseconds(3000);
    auto answer = http::call(url, "POST", "/v3/kv/range", body, options);
    if (!answer.ok() || answer->status != 200) {
      problems += (problems.empty() ? "" : "; ") + url + ": " +
                  (answer.ok() ? "HTTP " + std::to_string(answer->status) : answer.error().message);
      continue;
    }
    auto value = parseRangeAnswer(answer->body);
    if (!value.ok()) return makeError(ErrorCode::kParse, url + ": " + value.error().message);
    return value;
  }
  return makeError(ErrorCode::kUnavailable, problems);
}

std::unique_ptr<SiteSource> etcdSiteSource(SiteKeyLocation location) {
  return std::make_unique<EtcdGatewaySite>(std::move(location));
}

}  // namespace pgtandem::backup
