#pragma once
// dc-backup's Prometheus series, in node_exporter's textfile format: the
// last successful backup of each type (when, how big, how long), the last
// failed one, the backups kept, and the last restore drill. Computed from
// the repository alone, so any host that reaches it can publish them
// (`dc-backup metrics --output <textfile dir>/pgtandem_backup.prom`, or
// `metrics_file:` refreshed after each backup, expire and drill).
// docs/metrics.md lists them; docs/alerts/pgtandem-backup.rules.yml alerts.

#include <string>

#include "backup/manifest.h"
#include "backup/repository.h"
#include "common/util/clock.h"

namespace pgtandem::backup {

Result<std::string> backupMetrics(Repository& repo, const std::string& stanza);

// A failed backup leaves no manifest: its time, type and error are kept in
// <stanza>/backup.failure for the metrics.
Status recordBackupFailure(Repository& repo, const std::string& stanza, BackupType type, const std::string& error,
                           const Clock& clock);

}  // namespace pgtandem::backup
