#pragma once
// One file between the local disk and a repository, in pieces: compressed
// and checksummed on the way in, decompressed and checksummed on the way
// out. Shared by backup, restore and verify.

#include <cstdint>
#include <functional>
#include <string>

#include "backup/progress.h"
#include "backup/repository.h"

namespace pgtandem::backup {

struct CopiedFile {
  std::uint64_t size = 0;  // uncompressed bytes
  std::string checksum;    // SHA-256 of those bytes
  unsigned mode = 0600;
  std::int64_t mtime = 0;
  bool stored = true;  // false: its checksum was `unless_checksum`, nothing kept
};

// Stores `local_path` zstd-compressed under `stored_path`; kNotFound when
// the local file does not exist (a table dropped while the backup ran).
Result<CopiedFile> storeFile(Repository& repo, const std::string& stored_path, const std::string& local_path,
                             int compress_level, ProgressMeter* progress, const std::string& unless_checksum = "");

// Stores what `read` yields (up to `max` bytes a call, 0 at the end)
// zstd-compressed under `stored_path`, with `compress_workers` threads on
// this one stream. The mode and mtime are left to the caller.
using ReadPiece = std::function<Result<std::size_t>(char* out, std::size_t max)>;
// With `unless_checksum`, bytes of that checksum are not kept (the
// repository holds them already).
Result<CopiedFile> storeStream(Repository& repo, const std::string& stored_path, const ReadPiece& read,
                               int compress_level, int compress_workers, ProgressMeter* progress,
                               const std::string& unless_checksum = "");

// Decompresses `stored_path` into `local_path` (created with `mode`), or
// only reads it back when `local_path` is empty. The size and checksum are
// of what was decompressed; the caller compares them. `flush`: fsync the
// file (a restore syncs its whole file system once instead).
enum class Flush { kFile, kLater };
Result<CopiedFile> fetchFile(Repository& repo, const std::string& stored_path, const std::string& local_path,
                             unsigned mode, ProgressMeter* progress, Flush flush = Flush::kFile);

}  // namespace pgtandem::backup
