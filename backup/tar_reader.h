#pragma once
// Reads a tar stream member by member, as pg_basebackup -Ft writes it
// (ustar headers; GNU long names and pax path records are taken too), with
// no member held in memory.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "common/util/result.h"

namespace pgtandem::backup {

enum class TarType { kFile, kDirectory, kSymlink, kOther };

struct TarMember {
  std::string path;  // without a leading "./" or a trailing '/'
  TarType type = TarType::kOther;
  unsigned mode = 0;
  std::int64_t mtime = 0;
  std::uint64_t size = 0;
  std::string link_target;
};

class TarReader {
 public:
  // `read` fills up to `max` bytes and returns how many; 0 at the end.
  using ReadFn = std::function<Result<std::size_t>(char* out, std::size_t max)>;
  explicit TarReader(ReadFn read) : read_(std::move(read)) {}

  // The next member (the rest of the current one is skipped); nullopt at
  // the end of the archive. A stream cut short or a bad header is kParse.
  Result<std::optional<TarMember>> next();
  // Up to `max` bytes of the current member's data; 0 at its end.
  Result<std::size_t> readData(char* out, std::size_t max);

 private:
  Status readExactly(char* out, std::size_t n);
  Status skip(std::uint64_t n);
  Result<std::string> readWhole(std::uint64_t size);

  ReadFn read_;
  std::uint64_t left_ = 0;     // data bytes of the current member not yet read
  std::uint64_t padding_ = 0;  // and the padding after them
};

}  // namespace pgtandem::backup
