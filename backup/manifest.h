#pragma once
// A base backup's manifest: what was copied, with each file's size and
// SHA-256, and the WAL range a restore must replay. Written last, as
// `<stanza>/backup/<label>/backup.manifest` and its copy: a backup without
// a manifest is an unfinished one. Stored files:
//
//   <stanza>/backup/<label>/pg_data/<path>.zst   the data directory's files
//   <stanza>/backup/<label>/pg_wal/<name>.zst    the WAL from start to stop

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backup/repository.h"
#include "common/util/lsn.h"

namespace pgtandem::backup {

enum class EntryKind { kFile, kDirectory, kLink };

// full: every file; diff: the files changed since the newest full;
// incr: the files changed since the newest backup of any type.
enum class BackupType { kFull, kDiff, kIncr };
const char* backupTypeName(BackupType type);  // "full", "diff", "incr"
std::optional<BackupType> parseBackupType(const std::string& text);

struct ManifestEntry {
  std::string path;  // relative to the data directory ("base/5/1259", "pg_tblspc/16400")
  EntryKind kind = EntryKind::kFile;
  unsigned mode = 0600;
  std::uint64_t size = 0;    // files: the bytes copied
  std::int64_t mtime = 0;    // seconds since the epoch
  std::string checksum;      // files: SHA-256 of the bytes copied
  std::string link_target;   // links
  // files: the backup whose stored copy holds these bytes, when it is not
  // this one (a diff or incr backup refers to unchanged files).
  std::string reference;

  bool operator==(const ManifestEntry&) const = default;
};

struct ManifestWal {
  std::string name;  // "000000010000000000000005"
  std::uint64_t size = 0;
  std::string checksum;

  bool operator==(const ManifestWal&) const = default;
};

struct BackupManifest {
  std::string label;  // "20261203-170000F" (D for diff, I for incr)
  BackupType type = BackupType::kFull;
  std::string prior;  // diff and incr: the backup it was compared with
  std::string system_identifier;
  int pg_version = 0;
  std::uint32_t timeline = 0;
  Lsn start_lsn = 0, stop_lsn = 0;
  std::string start_wal, stop_wal;
  std::uint64_t wal_segment_size = kDefaultWalSegmentSize;
  std::string start_time, stop_time;  // ISO
  bool from_replica = false;
  std::string backup_label;    // pg_backup_stop's labelfile
  std::string tablespace_map;  // pg_backup_stop's spcmapfile ("" without tablespaces)
  std::vector<ManifestEntry> entries;
  std::vector<ManifestWal> wal;

  std::uint64_t totalBytes() const;
  std::uint64_t copiedBytes() const;  // what this backup stored itself (not its references)
  std::string describeType() const;   // "full", "incr of <prior>"
  bool operator==(const BackupManifest&) const = default;
};

std::string backupDirectory(const std::string& stanza, const std::string& label);
std::string storedDataPath(const std::string& stanza, const std::string& label, const std::string& path);
std::string storedWalPath(const std::string& stanza, const std::string& label, const std::string& name);
// Where a file entry's bytes are: in this backup or in its reference.
std::string storedEntryPath(const std::string& stanza, const BackupManifest& manifest, const ManifestEntry& entry);
// The backups `manifest` refers to for unchanged files, without duplicates.
std::vector<std::string> referencedBackups(const BackupManifest& manifest);

std::string serializeManifest(const BackupManifest& manifest);
Result<BackupManifest> parseManifest(const std::string& text);

Status writeManifest(Repository& repo, const std::string& stanza, const BackupManifest& manifest);
Result<BackupManifest> readManifest(Repository& repo, const std::string& stanza, const std::string& label);

struct BackupListing {
  std::vector<std::string> finished;    // labels with a manifest, oldest first
  std::vector<std::string> unfinished;  // directories without one
};
Result<BackupListing> listBackups(Repository& repo, const std::string& stanza);

// Every finished backup's manifest, oldest first, and the unfinished
// labels; the first manifest that cannot be read is the error.
struct LoadedBackups {
  std::vector<BackupManifest> finished;
  std::vector<std::string> unfinished;
};
Result<LoadedBackups> loadBackups(Repository& repo, const std::string& stanza);

// kNotFound naming the first backup `manifest` refers to for unchanged
// files that is missing or unfinished: the chain is broken.
Status checkReferences(Repository& repo, const std::string& stanza, const BackupManifest& manifest);

}  // namespace pgtandem::backup
