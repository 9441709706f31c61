#include "dc-agent/ha/failsafe.h"

#include <boost/json.hpp>

namespace pgtandem::agent {

namespace json = boost::json;

std::map<std::string, std::string> failsafeMembersOf(const dcs::ClusterSnapshot& snapshot) {
  std::map<std::string, std::string> out;
  for (const auto& m : snapshot.members) {
    if (!m.api_url.empty()) out[m.name] = m.api_url;
  }
  return out;
}

std::string failsafeHeartbeatJson(const dcs::MemberInfo& leader) {
  json::object o;
  o["name"] = leader.name;
  o["conn_url"] = leader.conn_url;
  o["api_url"] = leader.api_url;
  return json::serialize(o);
}

Result<std::string> parseFailsafeHeartbeat(const std::string& body) {
  json::error_code ec;
  const json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return makeError(ErrorCode::kParse, "the body must be a JSON object");
  const json::value* name = v.as_object().if_contains("name");
  if (!name || !name->is_string() || name->as_string().empty()) {
    return makeError(ErrorCode::kParse, "the body must name the leader: {\"name\": ...}");
  }
  return std::string(name->as_string());
}

std::map<std::string, std::string> failsafePeersOf(const std::map<std::string, std::string>& members,
                                                   const std::string& self) {
  auto out = members;
  out.erase(self);
  return out;
}

}  // namespace pgtandem::agent
