#include "backup/wal_archive.h"

#include <cstring>
#include <iterator>
#include <map>
#include <set>

#include "backup/codec.h"
#include "backup/stanza.h"
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

Result<PushResult> pushWal(Repository& repo, const std::string& stanza, const std::string& file_name,
                           const std::string& bytes) {
  if (!isArchivableWalName(file_name)) {
    return makeError(ErrorCode::kInvalidArgument, "'" + file_name + "' is not a WAL file name");
  }
  auto info = readStanza(repo, stanza);
  if (!info.ok()) return info.error();
  if (file_name.size() == 24 || file_name.size() == 32) {
    const auto id = walSystemIdentifier(bytes);
    if (id && std::to_string(*id) != info->system_identifier) {
      return makeError(ErrorCode::kConflict, "WAL file " + file_name + " belongs to system " + std::to_string(*id) +
                                                 ", but stanza '" + stanza + "' to system " + info->system_identifier);
    }
  }
  PushResult result;
  result.checksum = sha256Hex(bytes);
  const std::string dir = directoryOf(stanza, file_name);
  auto stored = storedName(repo, dir, file_name);
  if (!stored.ok()) return stored.error();
  if (*stored) {
    const std::string there = checksumOf(file_name, **stored);
    if (there != result.checksum) {
      return makeError(ErrorCode::kConflict, "WAL file " + file_name + " is already archived with checksum " + there +
                                                 ", and this one has checksum " + result.checksum);
    }
    result.already_archived = true;
    return result;
  }
  PGT_TRY(repo.write(dir + "/" + file_name + "-" + result.checksum + ".zst", compress(bytes)));
  return result;
}

Result<std::string> getWal(Repository& repo, const std::string& stanza, const std::string& file_name) {
  if (!isArchivableWalName(file_name)) {
    return makeError(ErrorCode::kInvalidArgument, "'" + file_name + "' is not a WAL file name");
  }
  PGT_TRY(checkStanzaName(stanza));
  const std::string dir = directoryOf(stanza, file_name);
  auto stored = storedName(repo, dir, file_name);
  if (!stored.ok()) return stored.error();
  if (!*stored) return makeError(ErrorCode::kNotFound, "WAL file " + file_name + " is not in the archive");
  auto frame = repo.read(dir + "/" + **stored);
  if (!frame.ok()) return frame.error();
  auto bytes = decompress(*frame);
  if (!bytes.ok()) return makeError(ErrorCode::kParse, dir + "/" + **stored + ": " + bytes.error().message);
  if (sha256Hex(*bytes) != checksumOf(file_name, **stored)) {
    return makeError(ErrorCode::kParse, dir + "/" + **stored + " does not match its checksum");
  }
  return bytes;
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
