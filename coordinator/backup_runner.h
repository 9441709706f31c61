#pragma once
// What takes a scheduled backup or drill: the I/O boundary of the engine's
// backup and drill operations. One real implementation (dc-backup as a
// child process) and a test double (tests/fakes/fake_backup_runner.h).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/dcs/cluster.h"
#include "common/util/result.h"
#include "coordinator/schedule.h"
#include "coordinator/sites.h"

namespace pgtandem::coordinator {

struct BackupRunResult {
  std::string label;
  std::int64_t bytes = 0, copied_bytes = 0;
};

class BackupRunner {
 public:
  virtual ~BackupRunner() = default;
  // A base backup of `member` (of `site`), of kind full, diff or incr.
  virtual Result<BackupRunResult> backup(ScheduledKind kind, const Site& site, const dcs::MemberInfo& member) = 0;
  // A restore drill of the newest backup; an error when it did not pass.
  virtual Result<BackupRunResult> drill() = 0;
};

// Runs `dc-backup --config <backups.config>` on this host: `backup --method
// pg_basebackup --type full|diff|incr` against the member's conn_url (no
// shell on the member's host needed; a diff or incr streams every file and
// stores the changed ones), and `drill`. As the postgres user when this process is root
// (PostgreSQL's tools refuse root). A child still running when `stopping`
// says so is terminated; so is one whose parent dies.
std::unique_ptr<BackupRunner> makeDcBackupRunner(const BackupSchedules& schedules, std::function<bool()> stopping);

}  // namespace pgtandem::coordinator
