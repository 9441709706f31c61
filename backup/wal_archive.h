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

#include "backup/repository.h"

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
// The file's bytes, checked against its checksum; kNotFound when it was
// never archived.
Result<std::string> getWal(Repository& repo, const std::string& stanza, const std::string& file_name);

}  // namespace pgtandem::backup
