#include "standby/remote_source.h"

namespace pgtandem::standby {

std::optional<dcs::MemberInfo> remotePrimary(const config::DynamicConfig& d, const std::string& name) {
  if (!d.standby_cluster) return std::nullopt;
  dcs::MemberInfo m;
  m.name = name;
  m.state = "running";
  m.role = "primary";
  if (d.standby_cluster->hosts.empty()) return m;
  std::string hosts;
  for (const auto& h : d.standby_cluster->hosts) hosts += (hosts.empty() ? "" : ",") + h;
  m.conn_url = "postgres://" + hosts + ":" + std::to_string(d.standby_cluster->port.value_or(5432)) + "/postgres";
  return m;
}

}  // namespace pgtandem::standby
