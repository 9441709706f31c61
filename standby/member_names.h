#pragma once
// Member names must be unique across both DCs: the primary DC's primary
// tells its standbys apart by application_name (synchronous mode, slots,
// pg_stat_replication), and a DC2 member named like a DC1 member would be
// taken for it. A standby-cluster member checks at start what the other
// DC's primary shows, and refuses to run on a collision. Pure.

#include <optional>
#include <string>
#include <vector>

namespace pgtandem::standby {

// What the other DC's primary shows of its DC's names.
struct RemoteNames {
  std::string primary;                        // its pgtandem.member_name ("" if not set)
  std::vector<std::string> application_names;  // its pg_stat_replication
};

// The error to refuse to start with, or nullopt. `streams_from_remote`: our
// PostgreSQL already streams from that primary, so one application_name
// equal to ours is our own walsender.
std::optional<std::string> nameCollision(const std::string& name, const RemoteNames& remote, bool streams_from_remote);

}  // namespace pgtandem::standby
