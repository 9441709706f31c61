#include "backup/tar_reader.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace pgtandem::backup {

namespace {

constexpr std::size_t kBlock = 512;

std::string field(const char* header, std::size_t offset, std::size_t length) {
  const char* start = header + offset;
  return std::string(start, strnlen(start, length));
}

// An octal field, or GNU's base-256 form for big values (the top bit set).
std::optional<std::uint64_t> number(const char* header, std::size_t offset, std::size_t length) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(header + offset);
  if (bytes[0] & 0x80) {
    std::uint64_t value = bytes[0] & 0x7f;
    for (std::size_t i = 1; i < length; ++i) value = (value << 8) | bytes[i];
    return value;
  }
  std::uint64_t value = 0;
  bool digits = false;
  for (std::size_t i = 0; i < length; ++i) {
    const char c = static_cast<char>(bytes[i]);
    if (c == ' ' && !digits) continue;
    if (c == '\0' || c == ' ') break;
    if (c < '0' || c > '7') return std::nullopt;
    value = value * 8 + static_cast<std::uint64_t>(c - '0');
    digits = true;
  }
  return value;
}

bool checksumMatches(const char* header) {
  const auto stored = number(header, 148, 8);
  if (!stored) return false;
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < kBlock; ++i) {
    sum += (i >= 148 && i < 156) ? static_cast<unsigned char>(' ') : static_cast<unsigned char>(header[i]);
  }
  return sum == *stored;
}

std::string cleanPath(std::string path) {
  while (path.rfind("./", 0) == 0) path.erase(0, 2);
  while (!path.empty() && path.back() == '/') path.pop_back();
  return path;
}

// A pax extended header's "path" record ("<length> path=<value>\n").
std::optional<std::string> paxPath(const std::string& records) {
  std::size_t at = 0;
  while (at < records.size()) {
    const auto space = records.find(' ', at);
    if (space == std::string::npos) break;
    std::size_t length = 0;
    try {
      length = std::stoul(records.substr(at, space - at));
    } catch (const std::exception&) {
      break;
    }
    if (length == 0 || at + length > records.size()) break;
    const std::string record = records.substr(space + 1, at + length - space - 2);  // without the '\n'
    if (record.rfind("path=", 0) == 0) return record.substr(5);
    at += length;
  }
  return std::nullopt;
}

}  // namespace

Status TarReader::readExactly(char* out, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    auto r = read_(out + got, n - got);
    if (!r.ok()) return r.error();
    if (*r == 0) return makeError(ErrorCode::kParse, "the tar stream ends in the middle of a member");
    got += *r;
  }
  return okStatus();
}

Status TarReader::skip(std::uint64_t n) {
  std::array<char, 64 * 1024> sink{};
  while (n > 0) {
    const auto piece = static_cast<std::size_t>(std::min<std::uint64_t>(n, sink.size()));
    PGT_TRY(readExactly(sink.data(), piece));
    n -= piece;
  }
  return okStatus();
}

Result<std::string> TarReader::readWhole(std::uint64_t size) {
  if (size > (1u << 20)) return makeError(ErrorCode::kParse, "a tar name record of " + std::to_string(size) + " bytes");
  std::string text(size, '\0');
  PGT_TRY(readExactly(text.data(), text.size()));
  PGT_TRY(skip((kBlock - size % kBlock) % kBlock));
  return text;
}

Result<std::optional<TarMember>> TarReader::next() {
  PGT_TRY(skip(left_ + padding_));
  left_ = padding_ = 0;
  std::optional<std::string> long_name;
  for (;;) {
    std::array<char, kBlock> header{};
    std::size_t got = 0;
    while (got < kBlock) {  // a stream may end without its two zero blocks
      auto r = read_(header.data() + got, kBlock - got);
      if (!r.ok()) return r.error();
      if (*r == 0) {
        if (got == 0) return std::optional<TarMember>();
        return makeError(ErrorCode::kParse, "the tar stream ends in the middle of a header");
      }
      got += *r;
    }
    if (std::all_of(header.begin(), header.end(), [](char c) { return c == '\0'; })) return std::optional<TarMember>();
    if (!checksumMatches(header.data())) return makeError(ErrorCode::kParse, "a tar header fails its checksum");
    const auto size = number(header.data(), 124, 12);
    if (!size) return makeError(ErrorCode::kParse, "a tar header's size does not parse");
    const char type = header[156];
    if (type == 'L' || type == 'x') {  // the next member's name
      auto text = readWhole(*size);
      if (!text.ok()) return text.error();
      if (type == 'L') {
        long_name = text->substr(0, strnlen(text->c_str(), text->size()));
      } else if (auto path = paxPath(*text)) {
        long_name = *path;
      }
      continue;
    }
    if (type == 'g') {  // pax global header: nothing we use
      PGT_TRY(skip(*size + (kBlock - *size % kBlock) % kBlock));
      continue;
    }
    TarMember member;
    std::string name = field(header.data(), 0, 100);
    const std::string prefix = field(header.data(), 345, 155);
    if (std::memcmp(header.data() + 257, "ustar", 5) == 0 && !prefix.empty()) name = prefix + "/" + name;
    member.path = cleanPath(long_name.value_or(name));
    member.mode = static_cast<unsigned>(number(header.data(), 100, 8).value_or(0600) & 07777);
    member.mtime = static_cast<std::int64_t>(number(header.data(), 136, 12).value_or(0));
    member.type = type == '0' || type == '\0' || type == '7' ? TarType::kFile
                  : type == '5'                             ? TarType::kDirectory
                  : type == '2'                             ? TarType::kSymlink
                                                            : TarType::kOther;
    if (member.type == TarType::kSymlink) member.link_target = field(header.data(), 157, 100);
    member.size = member.type == TarType::kDirectory || member.type == TarType::kSymlink ? 0 : *size;
    left_ = member.size;
    padding_ = (kBlock - member.size % kBlock) % kBlock;
    if (member.path.empty() && member.type != TarType::kDirectory) {
      return makeError(ErrorCode::kParse, "a tar member without a name");
    }
    return std::optional<TarMember>(std::move(member));
  }
}

Result<std::size_t> TarReader::readData(char* out, std::size_t max) {
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, max));
  if (n == 0) return std::size_t{0};
  PGT_TRY(readExactly(out, n));
  left_ -= n;
  return n;
}

}  // namespace pgtandem::backup
