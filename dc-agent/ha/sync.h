#pragma once
// Synchronous replication (synchronous_mode), as a pure plan the leader
// applies each cycle.
//
// Invariant: every member named in /sync has every commit the primary
// acknowledged. Hence the order: a standby leaves /sync before it leaves
// synchronous_standby_names, and joins /sync only after PostgreSQL reports
// it synchronous. In synchronous mode only the /sync members (and the last
// leader) may take over, so a failover never loses an acknowledged commit.

#include <optional>
#include <string>
#include <vector>

#include "common/dcs/cluster.h"
#include "common/util/lsn.h"

namespace pgtandem::agent {

struct StandbyStatus {
  std::string application_name;
  std::string state;       // streaming, catchup, ...
  std::string sync_state;  // sync, potential, async, quorum
  // For the REST API's "replication" list only:
  std::string usename{};
  std::string client_addr{};
  int sync_priority = 0;
  std::optional<Lsn> flush_lsn{};  // what it has made durable
};

// maximum_lag_on_syncnode (Patroni's): a standby whose flush position is
// further than `maximum_bytes` behind the furthest standby's (the leader's
// own position when it has one standby) is no candidate for /sync, so a
// lagging synchronous standby is swapped for a healthy one. Off when <= 0.
struct SyncLagLimit {
  std::int64_t maximum_bytes = -1;
  std::optional<Lsn> leader_lsn;
};

struct SyncPlan {
  enum class KeyOp { kKeep, kWrite, kDelete };
  KeyOp key_op = KeyOp::kKeep;
  std::vector<std::string> sync_standby;  // the /sync members to write
  std::string synchronous_standby_names;  // the PostgreSQL setting to apply
};

// The placeholder that blocks commits in strict mode when no standby can be
// synchronous.
extern const char* const kStrictPlaceholder;

SyncPlan planSync(const dcs::ClusterSnapshot& cluster, const std::vector<StandbyStatus>& standbys,
                  const std::string& self, bool synchronous_mode, bool strict, int node_count,
                  const SyncLagLimit& lag_limit = {});

// May `name` take over in synchronous mode? It must be in /sync, or be the
// leader /sync names. Fail closed: a /sync that is gone or does not parse
// (it is skipped when read) says nothing about who has every commit, so
// nobody may, until a leader (a manual failover) writes it again.
bool allowedBySync(const dcs::ClusterSnapshot& cluster, const std::string& name);

}  // namespace pgtandem::agent
