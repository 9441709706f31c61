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
  // Asked before anything starts (backups come from a replica by default).
  virtual Result<bool> inRecovery() = 0;
  virtual Result<Started> start(const std::string& label, bool fast_checkpoint) = 0;
  virtual Result<Stopped> stop() = 0;
};

// The real one (backup/backup_server.cc).
Result<std::unique_ptr<BackupServer>> connectBackupServer(const std::string& conninfo);

struct BackupOptions {
  std::string data_dir;  // the copy method's; pg_basebackup needs none
  int process_max = 2;
  int compress_level = 3;
  bool fast_checkpoint = true;
  // A backup reads the whole data directory: by default it is taken from a
  // replica (the standby DC's), so the primary's clients never pay for it.
  bool allow_primary = false;
  // diff and incr compare with a prior backup; without one they are full.
  BackupType type = BackupType::kFull;
};

// Whether a file can be referred to in the prior backup instead of copied:
// the same size and mtime as there, and that mtime (whole seconds) before
// the prior backup started. A write after the prior copy was read moves the
// mtime to that time or later, so it cannot go unseen within a second.
bool unchangedSincePrior(const ManifestEntry& prior, std::uint64_t size, std::int64_t mtime,
                         std::int64_t prior_start_seconds);

// The backup a diff (the newest full) or incr (the newest finished one)
// backup is compared with; nullopt for a full or when there is none.
Result<std::optional<BackupManifest>> choosePrior(Repository& repo, const std::string& stanza, BackupType type);

// The rule for both copy methods: kConflict for a primary unless
// `allow_primary`; `member` names it in the error.
Status checkBackupMember(bool in_recovery, bool allow_primary, const std::string& member);

// What a backup copies: the data directory without the files PostgreSQL
// rebuilds or must not find (postmaster.pid, the contents of pg_wal,
// pg_replslot, pg_stat_tmp, ..., temporary files, recovery signals).
// `path` is relative to the data directory; `directory` for directories.
bool excludedFromBackup(const std::string& path, bool directory);
// Whether the contents of directory `path` are left out (the directory kept).
bool contentsExcludedFromBackup(const std::string& path);

// The start WAL file, LSN and timeline in a backup_label's text, and
// whether it was taken on a standby.
struct LabelStart {
  std::string wal_file;
  Lsn lsn = 0;
  std::uint32_t timeline = 0;
  bool from_standby = false;
};
Result<LabelStart> parseBackupLabel(const std::string& text);

// Takes the backup and returns its manifest once it is written. A failure
// leaves an unfinished backup (no manifest) that restore never uses.
// `progress` may be null.
Result<BackupManifest> takeBackup(Repository& repo, const std::string& stanza, BackupServer& server,
                                  const BackupOptions& options, const Clock& clock, ProgressMeter* progress);

// pg_basebackup as the copy method (backup_method: pg_basebackup): the
// member sends its files over the replication protocol as one tar stream,
// so the backup runs on any host that can connect to it. The WAL from start
// to stop comes in the stream (-X fetch) and is kept in the backup, as the
// copy method keeps it; backup_label and pg_basebackup's own manifest (for
// the stop LSN) are read from the stream.
class TarBackupSource {
 public:
  struct Facts {
    std::string system_identifier;
    int pg_version = 0;
    bool in_recovery = false;
    std::uint64_t wal_segment_size = 16 * 1024 * 1024;
    std::uint64_t estimated_bytes = 0;  // for progress
  };
  virtual ~TarBackupSource() = default;
  virtual Result<Facts> facts() = 0;
  virtual Status start(const std::string& label, bool fast_checkpoint) = 0;
  // Up to `max` bytes of the stream; 0 at its end.
  virtual Result<std::size_t> read(char* out, std::size_t max) = 0;
  // Once the stream ended, or was given up: whether the tool succeeded
  // (its error if not).
  virtual Status finish() = 0;
};

// The real one (backup/pg_basebackup_source.cc): libpq for the facts, then
// `<bin_dir>/pg_basebackup -D - -Ft -X fetch`; bin_dir "" takes
// /usr/lib/postgresql/<major>/bin, or else the PATH.
Result<std::unique_ptr<TarBackupSource>> pgBasebackupSource(const std::string& conninfo, const std::string& bin_dir);

Result<BackupManifest> takeStreamedBackup(Repository& repo, const std::string& stanza, TarBackupSource& source,
                                          const BackupOptions& options, const Clock& clock, ProgressMeter* progress);

}  // namespace pgtandem::backup
