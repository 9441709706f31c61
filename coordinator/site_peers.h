#pragma once
// What the coordinator asks of the DCs' members beyond their DCSs: their
// PostgreSQL (a checkpoint, a restartpoint and pg_control, health before a
// switchover) and their REST API (is /primary fenced?). One real
// implementation (libpq and HTTP, short timeouts) and a test double.

#include <cstdint>
#include <optional>
#include <string>

#include "common/dcs/cluster.h"
#include "common/util/lsn.h"
#include "common/util/result.h"
#include "coordinator/sites.h"

namespace pgtandem::coordinator {

// A primary's readiness for a planned DC switchover.
struct PrimaryHealth {
  std::int64_t longest_transaction_seconds = 0;  // client transactions only
  std::int64_t archive_ready_files = 0;           // WAL files waiting for archive_command
  bool archive_failing = false;                   // the last archive attempt failed
};

// Where a server's last checkpoint (or restartpoint) starts, from pg_control.
struct ControlPoint {
  std::string system_identifier;
  int timeline = 0;
  Lsn redo_lsn = 0;
  bool in_recovery = false;
  // A standby's replay position (the end of the last record it replayed)
  // when the control point was read; nullopt on a primary.
  std::optional<Lsn> replay_lsn;
};

class SitePeers {
 public:
  virtual ~SitePeers() = default;
  virtual Status checkpoint(const Site& site, const dcs::MemberInfo& member) = 0;
  virtual Result<PrimaryHealth> primaryHealth(const Site& site, const dcs::MemberInfo& member) = 0;
  // On a standby: CHECKPOINT (a restartpoint at the last replayed checkpoint
  // record), then pg_control. On a primary: pg_control only.
  virtual Result<ControlPoint> restartpoint(const Site& site, const dcs::MemberInfo& member) = 0;
  virtual Result<bool> inRecovery(const Site& site, const dcs::MemberInfo& member) = 0;
  // The HTTP status of GET /primary on the member's REST API.
  virtual Result<int> primaryCheck(const dcs::MemberInfo& member) = 0;
};

// libpq (the site's superuser) and HTTP.
std::unique_ptr<SitePeers> makeRealSitePeers();

}  // namespace pgtandem::coordinator
