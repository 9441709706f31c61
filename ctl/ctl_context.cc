#include "ctl/ctl_context.h"

#include <algorithm>
#include <cctype>
#include <iostream>

namespace pgtandem::ctl {

Result<Format> parseFormat(const std::string& text) {
  if (text == "pretty") return Format::kPretty;
  if (text == "json") return Format::kJson;
  if (text == "yaml") return Format::kYaml;
  if (text == "tsv") return Format::kTsv;
  return makeError(ErrorCode::kInvalidArgument, "unknown format '" + text + "': use pretty, json, yaml or tsv");
}

dcs::ClusterPaths Context::paths(const std::string& scope) const {
  return dcs::ClusterPaths(config_.namespace_, scopeOr(scope));
}

Result<dcs::ClusterSnapshot> Context::load(const std::string& scope) {
  if (scopeOr(scope).empty()) {
    return makeError(ErrorCode::kInvalidArgument, "no cluster named: give its scope or set scope in the configuration");
  }
  auto loaded = dcs::loadCluster(*dcs_, paths(scope), malformed_);
  if (!loaded.ok()) return makeError(loaded.error().code, "cannot read the DCS: " + loaded.error().message);
  return loaded;
}

config::DynamicState Context::dynamic(const dcs::ClusterSnapshot& cluster) const {
  return config::storedDynamic(cluster.config_json, config_.bootstrap.dcs)
      .value_or(config::DynamicState{config_.bootstrap.dcs, false});
}

std::string apiBase(const dcs::MemberInfo& member) {
  const std::string& url = member.api_url;
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const auto path = url.find('/', scheme + 3);
  return path == std::string::npos ? url : url.substr(0, path);
}

Result<http::Response> Context::callMember(const dcs::MemberInfo& member, const std::string& method,
                                           const std::string& target, const std::string& body) {
  http::CallOptions options;
  const config::Credentials& auth =
      config_.ctl.authentication.username.empty() ? config_.restapi.authentication : config_.ctl.authentication;
  if (!auth.username.empty()) options.authorization = http::basicAuthorization(auth.username, auth.password);
  options.timeout = std::chrono::seconds(60);
  options.insecure = config_.ctl.insecure;
  options.ca_file = config_.ctl.cacert;
  options.cert_file = config_.ctl.certfile;
  options.key_file = config_.ctl.keyfile;
  auto answer = http::call(apiBase(member), method, target, body, options);
  if (!answer.ok()) return makeError(answer.error().code, member.name + ": " + answer.error().message);
  return answer;
}

Result<http::Response> Context::callAny(const dcs::ClusterSnapshot& cluster, const std::string& method,
                                        const std::string& target, const std::string& body) {
  std::vector<const dcs::MemberInfo*> order;
  if (const dcs::MemberInfo* leader = cluster.leaderMember()) order.push_back(leader);
  for (const auto& m : cluster.members) {
    if (!cluster.leader || m.name != cluster.leader->name) order.push_back(&m);
  }
  std::string failures;
  for (const dcs::MemberInfo* m : order) {
    auto answer = callMember(*m, method, target, body);
    if (answer.ok()) return answer;
    failures += (failures.empty() ? "" : "; ") + answer.error().message;
  }
  return makeError(ErrorCode::kUnavailable, failures.empty() ? "the cluster has no members" : "no member answered: " + failures);
}

std::string Context::ask(const std::string& question, const std::string& fallback) {
  terminal_.out << question << (fallback.empty() ? " []: " : " [" + fallback + "]: ") << std::flush;
  return readAnswer(fallback);
}

std::string Context::readAnswer(const std::string& fallback) {
  std::string line;
  if (!std::getline(terminal_.in, line)) line.clear();
  line.erase(0, line.find_first_not_of(" \t"));
  line.erase(line.find_last_not_of(" \t\r") + 1);
  return line.empty() ? fallback : line;
}

bool Context::confirm(const std::string& question) {
  if (force) return true;
  terminal_.out << question << " [y/N]: " << std::flush;
  std::string answer = readAnswer("");
  std::transform(answer.begin(), answer.end(), answer.begin(), [](unsigned char c) { return std::tolower(c); });
  return answer == "y" || answer == "yes";
}

}  // namespace pgtandem::ctl
