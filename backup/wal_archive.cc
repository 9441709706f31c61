#include "backup/wal_archive.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iterator>
#include <map>
#include <set>

#include "backup/codec.h"
#include "backup/file_copy.h"
#include "backup/stanza.h"
#include "common/util/files.h"
#include "common/util/lsn.h"

namespace pgtandem::backup {

namespace {

bool hex24(const std::string& name) {
  return name.size() >= 24 && name.find_first_not_of("0123456789ABCDEF") >= 24;
}

std::string directoryOf(const std::string& stanza, const std::string& file_name) {
  if (file_name.find(".history") != std::string::npos) return stanza + "/wal";
  return stanza + "/wal/" + file_name.substr(0, 16);
}

// The stored name of `file_name` in `dir`'s listing, if any.
Result<std::optional<std::string>> storedName(Repository& repo, const std::string& dir, const std::string& file_name) {
  auto names = repo.list(dir);
  if (!names.ok()) return names.error();
  for (const auto& name : *names) {
    if (name.size() == file_name.size() + 1 + 64 + 4 && name.compare(0, file_name.size() + 1, file_name + "-") == 0 &&
        name.compare(name.size() - 4, 4, ".zst") == 0) {
      return std::optional<std::string>(name);
    }
  }
  return std::optional<std::string>();
}

std::string checksumOf(const std::string& file_name, const std::string& stored) {
  return stored.substr(file_name.size() + 1, 64);
}

}  // namespace

bool isArchivableWalName(const std::string& name) {
  if (name.size() == 24) return hex24(name);
  if (name.size() == 32 && name.compare(24, 8, ".partial") == 0) return hex24(name);
  if (name.size() == 40 && name[24] == '.' && name.compare(33, 7, ".backup") == 0) {
    return hex24(name) && name.substr(25, 8).find_first_not_of("0123456789ABCDEF") == std::string::npos;
  }
  return name.size() == 16 && name.compare(8, 8, ".history") == 0 &&
         name.substr(0, 8).find_first_not_of("0123456789ABCDEF") == std::string::npos;
}

std::optional<std::uint64_t> walSystemIdentifier(const std::string& segment_bytes) {
  // XLogLongPageHeaderData: magic (2), info (2), timeline (4), page address
  // (8), remaining length (4), padding (4), then the system identifier.
  constexpr std::uint16_t kLongHeader = 0x0002;
  if (segment_bytes.size() < 32) return std::nullopt;
  std::uint16_t info = 0;
  std::memcpy(&info, segment_bytes.data() + 2, sizeof info);
  if (!(info & kLongHeader)) return std::nullopt;
  std::uint64_t id = 0;
  std::memcpy(&id, segment_bytes.data() + 24, sizeof id);
  return id;
}

namespace {

// A push, whatever the bytes come from: `head` is the file's start (for the
// system identifier), `next` returns the following pieces, empty at the end.
Result<PushResult> pushPieces(Repository& repo, const std::string& stanza, const std::string& file_name,
                              std::string_view head, const std::function<Result<std::string_view>()>& next) {
  if (!isArchivableWalName(file_name)) {
    return makeError(ErrorCode::kInvalidArgument, "'" + file_name + "' is not a WAL file name");
  }
  auto info = readStanza(repo, stanza);
  if (!info.ok()) return info.error();
  if (file_name.size() == 24 || file_name.size() == 32) {
    const auto id = walSystemIdentifier(std::string(head.substr(0, 64)));
    if (id && std::to_string(*id) != info->system_identifier) {
      return makeError(ErrorCode::kConflict, "WAL file " + file_name + " belongs to system " + std::to_string(*id) +
                                                 ", but stanza '" + stanza + "' to system " + info->system_identifier);
    }
  }
  // Compressed into a temporary file while hashed; named once the checksum is known.
  const std::string dir = directoryOf(stanza, file_name);
  auto writer = repo.create(dir + "/" + file_name + ".push");
  if (!writer.ok()) return writer.error();
  Sha256 sha;
  Compressor compressor;
  for (std::string_view piece = head;;) {
    if (!piece.empty()) {
      sha.update(piece);
      PGT_TRY((*writer)->append(compressor.feed(piece)));
    }
    auto more = next();
    if (!more.ok()) return more.error();
    if (more->empty()) break;
    piece = *more;
  }
  PGT_TRY((*writer)->append(compressor.finish()));
  PushResult result;
  result.checksum = sha.hex();
  auto stored = storedName(repo, dir, file_name);
  if (!stored.ok()) return stored.error();
  if (*stored) {
    const std::string there = checksumOf(file_name, **stored);
    if (there != result.checksum) {
      return makeError(ErrorCode::kConflict, "WAL file " + file_name + " is already archived with checksum " + there +
                                                 ", and this one has checksum " + result.checksum);
    }
    result.already_archived = true;  // the temporary file goes with the writer
    return result;
  }
  PGT_TRY((*writer)->commitAs(dir + "/" + file_name + "-" + result.checksum + ".zst"));
  return result;
}

}  // namespace

Result<PushResult> pushWal(Repository& repo, const std::string& stanza, const std::string& file_name,
                           const std::string& bytes) {
  return pushPieces(repo, stanza, file_name, bytes, [] { return Result<std::string_view>(std::string_view()); });
}

Result<PushResult> pushWalFile(Repository& repo, const std::string& stanza, const std::string& path) {
  const std::string file_name = std::filesystem::path(path).filename().string();
  // A segment of timeline N from a cluster whose N.history differs from the
  // archive's forked elsewhere (two DCs promoted to the same timeline number).
  if ((file_name.size() == 24 || file_name.size() == 32) && isArchivableWalName(file_name) &&
      file_name.compare(0, 8, "00000001") != 0) {
    const std::string history = file_name.substr(0, 8) + ".history";
    const std::string local = (std::filesystem::path(path).parent_path() / history).string();
    std::error_code ec;
    if (std::filesystem::exists(local, ec)) {
      auto bytes = readWholeFile(local, "timeline history");
      if (!bytes.ok()) return bytes.error();
      auto stored = storedName(repo, stanza + "/wal", history);
      if (!stored.ok()) return stored.error();
      const std::string ours = sha256Hex(*bytes);
      if (*stored && checksumOf(history, **stored) != ours) {
        return makeError(ErrorCode::kConflict, "timeline history " + history + " here (checksum " + ours +
                                                   ") is not the archive's (" + checksumOf(history, **stored) +
                                                   "): this cluster forked from another history; " + file_name +
                                                   " is not archived");
      }
    }
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fileError("read", path, errno);
  std::string buffer(1 << 20, '\0');
  auto readPiece = [&]() -> Result<std::string_view> {
    for (;;) {
      const ssize_t n = ::read(fd, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fileError("read", path, errno);
      return std::string_view(buffer.data(), static_cast<std::size_t>(n));
    }
  };
  auto head = readPiece();
  Result<PushResult> pushed = head.ok() ? pushPieces(repo, stanza, file_name, *head, readPiece) : Result<PushResult>(head.error());
  ::close(fd);
  return pushed;
}

namespace {

// Where `file_name` is stored, and the checksum its name carries.
struct StoredWal {
  std::string path, checksum;
};

Result<StoredWal> locateWal(Repository& repo, const std::string& stanza, const std::string& file_name) {
  if (!isArchivableWalName(file_name)) {
    return makeError(ErrorCode::kInvalidArgument, "'" + file_name + "' is not a WAL file name");
  }
  PGT_TRY(checkStanzaName(stanza));
  const std::string dir = directoryOf(stanza, file_name);
  auto stored = storedName(repo, dir, file_name);
  if (!stored.ok()) return stored.error();
  if (!*stored) return makeError(ErrorCode::kNotFound, "WAL file " + file_name + " is not in the archive");
  return StoredWal{dir + "/" + **stored, checksumOf(file_name, **stored)};
}

}  // namespace

Result<std::string> getWal(Repository& repo, const std::string& stanza, const std::string& file_name) {
  auto stored = locateWal(repo, stanza, file_name);
  if (!stored.ok()) return stored.error();
  auto frame = repo.read(stored->path);
  if (!frame.ok()) return frame.error();
  auto bytes = decompress(*frame);
  if (!bytes.ok()) return makeError(ErrorCode::kParse, stored->path + ": " + bytes.error().message);
  if (sha256Hex(*bytes) != stored->checksum) return makeError(ErrorCode::kParse, stored->path + " does not match its checksum");
  return bytes;
}

Status getWalFile(Repository& repo, const std::string& stanza, const std::string& file_name, const std::string& dest) {
  auto stored = locateWal(repo, stanza, file_name);
  if (!stored.ok()) return stored.error();
  // Checked before PostgreSQL can see it: written aside, renamed when good.
  const std::string temp = dest + ".dc-backup.tmp";
  ::unlink(temp.c_str());
  auto fetched = fetchFile(repo, stored->path, temp, 0600, nullptr);
  if (!fetched.ok() || fetched->checksum != stored->checksum) {
    ::unlink(temp.c_str());
    if (!fetched.ok()) return fetched.error();
    return makeError(ErrorCode::kParse, stored->path + " does not match its checksum");
  }
  if (::rename(temp.c_str(), dest.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    return fileError("rename", temp, saved);
  }
  return okStatus();
}

Result<WalVerifyReport> verifyWalArchive(Repository& repo, const std::string& stanza, std::uint64_t segment_size) {
  auto info = readStanza(repo, stanza);
  if (!info.ok()) return info.error();
  WalVerifyReport report;
  std::map<std::string, std::set<std::uint64_t>> segments;  // by timeline
  auto check = [&](const std::string& dir, const std::string& stored) {
    const auto dash = stored.rfind('-');
    const std::string file_name = dash == std::string::npos ? stored : stored.substr(0, dash);
    if (!isArchivableWalName(file_name) || stored.size() != file_name.size() + 1 + 64 + 4) {
      report.bad_files.push_back(dir + "/" + stored + ": not a name the archive writes");
      return;
    }
    ++report.files_checked;
    auto bytes = getWal(repo, stanza, file_name);
    if (!bytes.ok()) {
      report.bad_files.push_back(dir + "/" + stored + ": " + bytes.error().message);
      return;
    }
    if (file_name.size() == 24) segments[file_name.substr(0, 8)].insert(*walSegmentNumber(file_name, segment_size));
  };
  const std::string wal = stanza + "/wal";
  auto top = repo.list(wal);
  if (!top.ok()) return top.error();
  for (const auto& entry : *top) {
    if (entry.size() == 16 && entry.find_first_not_of("0123456789ABCDEF") == std::string::npos) {
      auto names = repo.list(wal + "/" + entry);
      if (!names.ok()) return names.error();
      for (const auto& stored : *names) check(wal + "/" + entry, stored);
    } else {
      check(wal, entry);
    }
  }
  for (const auto& [timeline, numbers] : segments) {
    for (auto it = numbers.begin(); std::next(it) != numbers.end(); ++it) {
      const std::uint64_t next = *std::next(it);
      if (next == *it + 1) continue;
      report.gaps.push_back("timeline " + std::to_string(std::stoul(timeline, nullptr, 16)) + ": " +
                            walSegmentName(timeline, *it + 1, segment_size) +
                            (next - *it > 2 ? " to " + walSegmentName(timeline, next - 1, segment_size) : "") + " missing");
    }
  }
  return report;
}

}  // namespace pgtandem::backup
