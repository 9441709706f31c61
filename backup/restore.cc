#include "backup/restore.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <fstream>

#include "backup/file_copy.h"
#include "backup/parallel.h"
#include "backup/wal_archive.h"
#include "common/util/clock.h"
#include "common/util/files.h"

namespace pgtandem::backup {

namespace fs = std::filesystem;

namespace {

std::string quoted(const std::string& value) {
  std::string out = "'";
  for (char c : value) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

const char* actionName(TargetAction action) {
  switch (action) {
    case TargetAction::kPromote: return "promote";
    case TargetAction::kPause: return "pause";
    case TargetAction::kShutdown: return "shutdown";
  }
  return "promote";
}

// An ISO time with its fraction of a second (parseIsoTime drops it): a
// target a few milliseconds after a backup's end must still pick it.
std::optional<WallTime> preciseTime(const std::string& text) {
  std::string iso = text;
  if (iso.size() > 10 && iso[10] == ' ') iso[10] = 'T';
  auto whole = parseIsoTime(iso);
  if (!whole) return whole;
  const auto dot = iso.find('.', 11);
  if (dot == std::string::npos) return whole;
  std::chrono::microseconds fraction{0};
  long scale = 100000;
  for (std::size_t i = dot + 1; i < iso.size() && std::isdigit(static_cast<unsigned char>(iso[i])) && scale > 0; ++i) {
    fraction += std::chrono::microseconds((iso[i] - '0') * scale);
    scale /= 10;
  }
  return *whole + fraction;
}

Status restoreFile(Repository& repo, const std::string& stored, const std::string& local, unsigned mode,
                   std::uint64_t size, const std::string& checksum, const std::string& label, ProgressMeter* progress,
                   Flush flush = Flush::kLater) {
  auto fetched = fetchFile(repo, stored, local, mode, progress, flush);
  if (!fetched.ok()) return makeError(fetched.error().code, "backup " + label + ": " + fetched.error().message);
  if (fetched->size != size || fetched->checksum != checksum) {
    return makeError(ErrorCode::kParse, "backup " + label + ": " + stored + " does not match the manifest (" +
                                            std::to_string(fetched->size) + " bytes, sha256 " + fetched->checksum +
                                            "; the manifest says " + std::to_string(size) + " bytes, sha256 " + checksum + ")");
  }
  return okStatus();
}

// Every file written so far in `dir`'s file system, on disk.
Status syncFileSystemOf(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fileError("open", dir.string(), errno);
  const int rc = ::syncfs(fd);
  const int saved = errno;
  ::close(fd);
  if (rc != 0) return fileError("sync the file system of", dir.string(), saved);
  return okStatus();
}

}  // namespace

TargetAction parseTargetAction(const std::string& text, bool& ok) {
  ok = true;
  if (text == "promote") return TargetAction::kPromote;
  if (text == "pause") return TargetAction::kPause;
  if (text == "shutdown") return TargetAction::kShutdown;
  ok = false;
  return TargetAction::kPromote;
}

Status checkRecoveryTarget(const RecoveryTarget& target) {
  switch (target.kind) {
    case TargetKind::kNone:
    case TargetKind::kImmediate:
      break;
    case TargetKind::kTime:
      if (!preciseTime(target.value)) {
        return makeError(ErrorCode::kInvalidArgument,
                         "--target-time '" + target.value + "': give an ISO time with its zone, like 2026-12-03 17:05:00+00");
      }
      break;
    case TargetKind::kLsn:
      if (!parseLsn(target.value).ok()) {
        return makeError(ErrorCode::kInvalidArgument, "--target-lsn '" + target.value + "' is not an LSN like 0/3000060");
      }
      break;
    case TargetKind::kXid:
      if (target.value.empty() || target.value.find_first_not_of("0123456789") != std::string::npos) {
        return makeError(ErrorCode::kInvalidArgument, "--target-xid '" + target.value + "' is not a transaction id");
      }
      break;
    case TargetKind::kName:
      if (target.value.empty()) return makeError(ErrorCode::kInvalidArgument, "--target-name is empty");
      break;
  }
  if (!target.timeline.empty() && target.timeline != "latest" && target.timeline != "current" &&
      target.timeline.find_first_not_of("0123456789") != std::string::npos) {
    return makeError(ErrorCode::kInvalidArgument,
                     "--target-timeline '" + target.timeline + "': give latest, current or a timeline number");
  }
  return okStatus();
}

std::string recoverySettingsText(const BackupManifest& manifest, const RestoreOptions& options) {
  const RecoveryTarget& t = options.target;
  std::string text = "\n# Written by dc-backup restore of backup " + manifest.label + "\n";
  text += "restore_command = " + quoted(options.restore_command) + "\n";
  switch (t.kind) {
    case TargetKind::kNone: break;
    case TargetKind::kImmediate: text += "recovery_target = 'immediate'\n"; break;
    case TargetKind::kTime: text += "recovery_target_time = " + quoted(t.value) + "\n"; break;
    case TargetKind::kLsn: text += "recovery_target_lsn = " + quoted(t.value) + "\n"; break;
    case TargetKind::kXid: text += "recovery_target_xid = " + quoted(t.value) + "\n"; break;
    case TargetKind::kName: text += "recovery_target_name = " + quoted(t.value) + "\n"; break;
  }
  if (t.kind != TargetKind::kNone) text += std::string("recovery_target_action = '") + actionName(t.action) + "'\n";
  text += "recovery_target_timeline = " +
          quoted(t.timeline.empty() || t.timeline == "current" ? std::to_string(manifest.timeline) : t.timeline) + "\n";
  return text;
}

Result<BackupManifest> chooseBackup(Repository& repo, const std::string& stanza, const RestoreOptions& options) {
  if (!options.label.empty()) return readManifest(repo, stanza, options.label);
  auto listing = listBackups(repo, stanza);
  if (!listing.ok()) return listing.error();
  const RecoveryTarget& t = options.target;
  for (auto it = listing->finished.rbegin(); it != listing->finished.rend(); ++it) {
    auto manifest = readManifest(repo, stanza, *it);
    if (!manifest.ok()) return manifest.error();
    if (t.kind == TargetKind::kTime) {
      const auto target = preciseTime(t.value);
      const auto stopped = preciseTime(manifest->stop_time);
      if (target && stopped && *stopped >= *target) continue;
    }
    if (t.kind == TargetKind::kLsn) {
      auto target = parseLsn(t.value);
      if (target.ok() && manifest->stop_lsn > *target) continue;
    }
    return manifest;
  }
  return makeError(ErrorCode::kNotFound, listing->finished.empty()
                                             ? "stanza '" + stanza + "' has no finished backup in " + repo.describe()
                                             : "no backup of stanza '" + stanza + "' ended before the target");
}

Result<BackupManifest> restoreBackup(Repository& repo, const std::string& stanza, const RestoreOptions& options,
                                     ProgressMeter* progress) {
  PGT_TRY(checkRecoveryTarget(options.target));
  auto manifest = chooseBackup(repo, stanza, options);
  if (!manifest.ok()) return manifest.error();
  const BackupManifest& m = *manifest;
  PGT_TRY(checkReferences(repo, stanza, m));  // before anything is written
  std::error_code ec;
  const fs::path to = options.to_dir;
  if (fs::exists(to, ec) && !fs::is_empty(to, ec)) {
    return makeError(ErrorCode::kConflict, options.to_dir + " is not empty: restore writes only into an empty or new directory");
  }
  fs::create_directories(to, ec);
  if (ec) return makeError(ErrorCode::kIo, "cannot create " + options.to_dir + ": " + ec.message());
  ::chmod(to.c_str(), 0700);
  const std::string cut_short = " (the partial restore in " + options.to_dir + " cannot start: remove it)";

  std::vector<const ManifestEntry*> files;
  const ManifestEntry* control = nullptr;
  for (const auto& e : m.entries) {
    const fs::path local = to / e.path;
    if (e.kind == EntryKind::kDirectory) {
      fs::create_directories(local, ec);
      if (ec) return makeError(ErrorCode::kIo, "cannot create " + local.string() + ": " + ec.message() + cut_short);
      ::chmod(local.c_str(), e.mode);
    } else if (e.kind == EntryKind::kLink) {
      // A tablespace goes back where it was; that place must be free.
      const fs::path target = e.link_target;
      if (fs::exists(target, ec) && !fs::is_empty(target, ec)) {
        return makeError(ErrorCode::kConflict, "tablespace " + e.path + " belongs in " + e.link_target +
                                                   ", which is not empty" + cut_short);
      }
      fs::create_directories(target, ec);
      if (!ec) fs::create_directory_symlink(target, local, ec);
      if (ec) return makeError(ErrorCode::kIo, "cannot restore tablespace link " + e.path + ": " + ec.message() + cut_short);
      ::chmod(target.c_str(), 0700);
    } else if (e.path == "global/pg_control") {
      control = &e;
    } else {
      files.push_back(&e);
    }
  }
  if (!control) return makeError(ErrorCode::kParse, "backup " + m.label + " has no global/pg_control");
  // The largest first, so that no worker is left with a big file at the end.
  std::stable_sort(files.begin(), files.end(), [](const auto* a, const auto* b) { return a->size > b->size; });
  if (progress) progress->setTotal(m.totalBytes());
  auto restored = runParallel(options.process_max, files.size(), [&](std::size_t i) {
    const ManifestEntry& e = *files[i];
    return restoreFile(repo, storedEntryPath(stanza, m, e), (to / e.path).string(), e.mode, e.size, e.checksum, m.label,
                       progress);
  });
  if (!restored.ok()) return makeError(restored.error().code, restored.error().message + cut_short);
  for (const auto& w : m.wal) {
    auto wal = restoreFile(repo, storedWalPath(stanza, m.label, w.name), (to / "pg_wal" / w.name).string(), 0600, w.size,
                           w.checksum, m.label, progress);
    if (!wal.ok()) return makeError(wal.error().code, wal.error().message + cut_short);
  }
  PGT_TRY(writeFileAtomically((to / "backup_label").string(), m.backup_label, 0600));
  if (!m.tablespace_map.empty()) PGT_TRY(writeFileAtomically((to / "tablespace_map").string(), m.tablespace_map, 0600));
  if (!options.as_replica) {
    const fs::path conf = to / "postgresql.auto.conf";
    std::string text;
    if (fs::exists(conf, ec)) {
      auto existing = readWholeFile(conf.string(), "configuration");
      if (!existing.ok()) return existing.error();
      text = *existing;
    }
    PGT_TRY(writeFileAtomically(conf.string(), text + recoverySettingsText(m, options), 0600));
    PGT_TRY(writeFileAtomically((to / "recovery.signal").string(), "", 0600));
  }
  // Last, once everything else is on disk: without pg_control PostgreSQL
  // will not start a half restore.
  PGT_TRY(syncFileSystemOf(to));
  auto last = restoreFile(repo, storedEntryPath(stanza, m, *control), (to / control->path).string(),
                          control->mode, control->size, control->checksum, m.label, progress, Flush::kFile);
  if (!last.ok()) return makeError(last.error().code, last.error().message + cut_short);
  PGT_TRY(syncFileSystemOf(to));
  if (progress) progress->finish();
  return manifest;
}

}  // namespace pgtandem::backup
