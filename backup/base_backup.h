#pragma once
// `dc-backup backup`: a base backup of the data directory on this host,
// through PostgreSQL's non-exclusive backup API. One session is held for
// the whole copy: it reserves the WAL with a temporary replication slot,
// calls pg_backup_start, and at the end pg_backup_stop. A replica (the
// standby DC's, by default) is backed up the same way, with no connection
// to the primary: the WAL from start to stop is copied from the member's
// own pg_wal into the backup, so every backup restores on its own.

#include <cstdint>
#include <memory>
#include <string>

#include "backup/manifest.h"
#include "backup/progress.h"
#include "backup/repository.h"
#include "common/util/clock.h"

namespace pgtandem::backup {

// The PostgreSQL side of a backup: one session.
class BackupServer {
 public:
  struct Started {
    Lsn lsn = 0;
    bool in_recovery = false;
    std::uint64_t wal_segment_size = 16 * 1024 * 1024;
  };
  struct Stopped {
    Lsn lsn = 0;
    std::string backup_label;
    std::string tablespace_map;
  };
  virtual ~BackupServer() = default;
  virtual Result<Started> start(const std::string& label, bool fast_checkpoint) = 0;
  virtual Result<Stopped> stop() = 0;
};

// The real one (backup/backup_server.cc).
Result<std::unique_ptr<BackupServer>> connectBackupServer(const std::string& conninfo);

struct BackupOptions {
  std::string data_dir;
  int process_max = 2;
  int compress_level = 3;
  bool fast_checkpoint = true;
};

// What a backup copies: the data directory without the files PostgreSQL
// rebuilds or must not find (postmaster.pid, the contents of pg_wal,
// pg_replslot, pg_stat_tmp, ..., temporary files, recovery signals).
// `path` is relative to the data directory; `directory` for directories.
bool excludedFromBackup(const std::string& path, bool directory);
// Whether the contents of directory `path` are left out (the directory kept).
bool contentsExcludedFromBackup(const std::string& path);

// The start WAL file and timeline in a backup_label's text.
struct LabelStart {
  std::string wal_file;
  std::uint32_t timeline = 0;
};
Result<LabelStart> parseBackupLabel(const std::string& text);

// Takes the backup and returns its manifest once it is written. A failure
// leaves an unfinished backup (no manifest) that restore never uses.
// `progress` may be null.
Result<BackupManifest> takeBackup(Repository& repo, const std::string& stanza, BackupServer& server,
                                  const BackupOptions& options, const Clock& clock, ProgressMeter* progress);

}  // namespace pgtandem::backup
