#pragma once
// `dc-backup restore`: a backup written into an empty directory, every file
// checked against the manifest while it is written, then the recovery
// settings (restore_command = archive-get, the target) so that PostgreSQL
// replays the archive to the point asked for. global/pg_control is written
// last: a restore cut short leaves a directory PostgreSQL refuses to start.

#include <string>

#include "backup/manifest.h"
#include "backup/progress.h"
#include "backup/repository.h"

namespace pgtandem::backup {

enum class TargetKind { kNone, kImmediate, kTime, kLsn, kXid, kName };
enum class TargetAction { kPromote, kPause, kShutdown };

struct RecoveryTarget {
  TargetKind kind = TargetKind::kNone;  // kNone: replay everything archived
  std::string value;
  TargetAction action = TargetAction::kPromote;
  // recovery_target_timeline: "" is the backup's own timeline, so that
  // history files a later promotion (in this DC or the other) archived are
  // ignored unless asked for with "latest" or a number.
  std::string timeline;
};

struct RestoreOptions {
  std::string to_dir;
  std::string label;  // "": the newest backup that can reach the target
  int process_max = 2;
  // For create_replica_methods: files only; the agent writes how it follows.
  bool as_replica = false;
  RecoveryTarget target;
  std::string restore_command;
};

// A clear error for a target PostgreSQL would refuse later.
Status checkRecoveryTarget(const RecoveryTarget& target);
TargetAction parseTargetAction(const std::string& text, bool& ok);

// The lines restore appends to postgresql.auto.conf.
std::string recoverySettingsText(const BackupManifest& manifest, const RestoreOptions& options);

// The backup to restore: `label`, or else the newest finished one that
// ended before the target time or LSN.
Result<BackupManifest> chooseBackup(Repository& repo, const std::string& stanza, const RestoreOptions& options);

Result<BackupManifest> restoreBackup(Repository& repo, const std::string& stanza, const RestoreOptions& options,
                                     ProgressMeter* progress);

}  // namespace pgtandem::backup
