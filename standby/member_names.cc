#include "standby/member_names.h"

#include <algorithm>

namespace pgtandem::standby {

std::optional<std::string> nameCollision(const std::string& name, const RemoteNames& remote, bool streams_from_remote) {
  if (remote.primary == name) {
    return "member name '" + name + "' is also the name of the other DC's primary: names must be unique across both DCs";
  }
  const auto same = std::count(remote.application_names.begin(), remote.application_names.end(), name);
  if (same > (streams_from_remote ? 1 : 0)) {
    return "member name '" + name +
           "' is already streaming from the other DC's primary (a member of that DC has it): names must be unique "
           "across both DCs";
  }
  return std::nullopt;
}

}  // namespace pgtandem::standby
