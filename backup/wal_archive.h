#pragma once
// The WAL archive of a stanza. Each file is stored once, compressed, under
// a name that carries its checksum:
//
//   <stanza>/wal/<first 16 characters>/<segment>-<sha256>.zst   segments, .partial, .backup
//   <stanza>/wal/<timeline>.history-<sha256>.zst               timeline history
//
// A push of a file already there with the same checksum is success (the
// archiver retried); with another checksum it is an error naming both. A
// segment from another cluster (its page header's system identifier is not
// the stanza's) is refused.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backup/repository.h"
#include "common/util/lsn.h"

namespace pgtandem::backup {

struct PushResult {
  std::string checksum;
  bool already_archived = false;
};

// Whether `name` is a file PostgreSQL archives: a segment, a .partial
// segment, a .backup history file or a timeline .history file.
bool isArchivableWalName(const std::string& name);
// The system identifier in a segment's first (long) page header.
std::optional<std::uint64_t> walSystemIdentifier(const std::string& segment_bytes);

Result<PushResult> pushWal(Repository& repo, const std::string& stanza, const std::string& file_name,
                           const std::string& bytes);
// The same for the file at `path` (archive_command's %p), read in pieces.
Result<PushResult> pushWalFile(Repository& repo, const std::string& stanza, const std::string& path);
// The file's bytes, checked against its checksum; kNotFound when it was
// never archived.
Result<std::string> getWal(Repository& repo, const std::string& stanza, const std::string& file_name);
// The same into `dest` (restore_command's %p): written beside it, checked,
// then renamed, so PostgreSQL never reads a damaged or partial file.
Status getWalFile(Repository& repo, const std::string& stanza, const std::string& file_name, const std::string& dest);

// What `dc-backup verify` found in a stanza's WAL archive.
struct WalVerifyReport {
  int files_checked = 0;
  std::vector<std::string> bad_files;  // "<stored path>: <why>"
  std::vector<std::string> gaps;       // "timeline 1: 000000010000000000000007 to ...09 missing"
  bool clean() const { return bad_files.empty() && gaps.empty(); }
};

// Every archived file read back against its checksum, and every gap in each
// timeline's run of segments named (`segment_size`: the cluster's WAL
// segment size, 16 MB by default).
Result<WalVerifyReport> verifyWalArchive(Repository& repo, const std::string& stanza,
                                         std::uint64_t segment_size = kDefaultWalSegmentSize);

}  // namespace pgtandem::backup
