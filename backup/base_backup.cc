#include "backup/base_backup.h"

#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <set>
#include <sstream>

#include "backup/cluster_identity.h"
#include "backup/file_copy.h"
#include "backup/parallel.h"
#include "backup/stanza.h"

namespace pgtandem::backup {

namespace fs = std::filesystem;

namespace {

// What pg_basebackup leaves out too (basebackup.c), plus the signal files:
// restore decides whether the copy recovers or follows.
const std::set<std::string> kExcludedFiles = {
    "postmaster.pid", "postmaster.opts", "backup_label",    "tablespace_map", "backup_manifest",
    "standby.signal", "recovery.signal", "current_logfiles", "postgresql.auto.conf.tmp"};
const std::set<std::string> kExcludedContents = {"pg_wal",    "pg_stat_tmp", "pg_replslot", "pg_dynshmem",
                                                 "pg_notify", "pg_serial",   "pg_snapshots", "pg_subtrans"};

std::string baseName(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

struct LocalFile {
  std::string path;  // relative
  std::string full;
  std::uint64_t size = 0;
};

struct Walk {
  std::vector<ManifestEntry> entries;  // directories and links
  std::vector<LocalFile> files;
};

ManifestEntry directoryEntry(const std::string& path, const fs::path& full) {
  struct stat st {};
  ManifestEntry e;
  e.path = path;
  e.kind = EntryKind::kDirectory;
  e.mode = ::stat(full.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0700;
  e.mtime = st.st_mtime;
  return e;
}

// Everything under `dir` (full path), named `prefix/...`. Entries that
// vanish while we look are skipped: the WAL replay recreates what matters.
void walk(const fs::path& dir, const std::string& prefix, Walk& out) {
  std::error_code ec;
  std::vector<fs::directory_entry> children;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) children.push_back(*it);
  std::sort(children.begin(), children.end());
  for (const auto& child : children) {
    const std::string name = child.path().filename().string();
    const std::string rel = prefix.empty() ? name : prefix + "/" + name;
    const fs::file_status status = child.symlink_status(ec);
    if (ec) continue;
    if (fs::is_symlink(status)) {
      if (prefix == "pg_tblspc") {
        // A tablespace: the link is kept, and what it points to is copied under it.
        ManifestEntry link;
        link.path = rel;
        link.kind = EntryKind::kLink;
        link.mode = 0777;
        link.link_target = fs::read_symlink(child.path(), ec).string();
        if (ec) continue;
        out.entries.push_back(link);
        walk(child.path(), rel, out);
        continue;
      }
      if (rel == "pg_wal") {  // initdb -X: a directory of its own elsewhere
        out.entries.push_back(directoryEntry(rel, child.path()));
        out.entries.push_back(directoryEntry(rel + "/archive_status", child.path() / "archive_status"));
        continue;
      }
    }
    const fs::file_status target = child.status(ec);
    if (ec) continue;
    if (fs::is_directory(target)) {
      if (excludedFromBackup(rel, true)) continue;
      out.entries.push_back(directoryEntry(rel, child.path()));
      if (rel == "pg_wal") out.entries.push_back(directoryEntry(rel + "/archive_status", child.path() / "archive_status"));
      if (!contentsExcludedFromBackup(rel)) walk(child.path(), rel, out);
    } else if (fs::is_regular_file(target)) {
      if (excludedFromBackup(rel, false)) continue;
      const auto size = fs::file_size(child.path(), ec);
      out.files.push_back({rel, child.path().string(), ec ? 0 : size});
    }
  }
}

std::string labelFor(WallTime now) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%d-%H%M%SF", &tm);
  return text;
}

}  // namespace

bool excludedFromBackup(const std::string& path, bool directory) {
  const std::string name = baseName(path);
  if (name.rfind("pgsql_tmp", 0) == 0) return true;
  if (directory) return false;
  if (path.find('/') == std::string::npos && kExcludedFiles.count(name)) return true;
  return name == "pg_internal.init";
}

bool contentsExcludedFromBackup(const std::string& path) { return kExcludedContents.count(path) > 0; }

Result<LabelStart> parseBackupLabel(const std::string& text) {
  LabelStart start;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const auto file = line.find("(file ");
    if (line.rfind("START WAL LOCATION:", 0) == 0 && file != std::string::npos && line.size() >= file + 6 + 24) {
      start.wal_file = line.substr(file + 6, 24);
    } else if (line.rfind("START TIMELINE:", 0) == 0) {
      try {
        start.timeline = static_cast<std::uint32_t>(std::stoul(line.substr(15)));
      } catch (const std::exception&) {
        return makeError(ErrorCode::kParse, "backup_label: START TIMELINE does not parse: " + line);
      }
    }
  }
  if (start.wal_file.size() != 24 || start.timeline == 0) {
    return makeError(ErrorCode::kParse, "backup_label has no START WAL LOCATION or START TIMELINE");
  }
  return start;
}

Result<BackupManifest> takeBackup(Repository& repo, const std::string& stanza, BackupServer& server,
                                  const BackupOptions& options, const Clock& clock, ProgressMeter* progress) {
  auto info = readStanza(repo, stanza);
  if (!info.ok()) return info.error();
  auto identity = readClusterIdentity(options.data_dir);
  if (!identity.ok()) return identity.error();
  if (identity->system_identifier != info->system_identifier) {
    return makeError(ErrorCode::kConflict, options.data_dir + " belongs to system " + identity->system_identifier +
                                               ", but stanza '" + stanza + "' to system " + info->system_identifier);
  }
  BackupManifest manifest;
  manifest.label = labelFor(clock.wallNow());
  auto existing = listBackups(repo, stanza);
  if (!existing.ok()) return existing.error();
  for (const auto* labels : {&existing->finished, &existing->unfinished}) {
    if (std::find(labels->begin(), labels->end(), manifest.label) != labels->end()) {
      return makeError(ErrorCode::kConflict, "a backup labelled " + manifest.label + " exists already: try again in a second");
    }
  }
  manifest.system_identifier = info->system_identifier;
  manifest.pg_version = identity->pg_version;
  manifest.start_time = formatIsoTime(clock.wallNow());

  auto started = server.start(manifest.label, options.fast_checkpoint);
  if (!started.ok()) return started.error();
  manifest.from_replica = started->in_recovery;

  Walk found;
  walk(options.data_dir, "", found);
  std::uint64_t total = 0;
  for (const auto& f : found.files) total += f.size;
  if (progress) progress->setTotal(total);
  // The largest first, so that no worker is left with a big file at the end.
  std::stable_sort(found.files.begin(), found.files.end(), [](const auto& a, const auto& b) { return a.size > b.size; });
  std::vector<std::optional<ManifestEntry>> copied(found.files.size());
  PGT_TRY(runParallel(options.process_max, found.files.size(), [&](std::size_t i) -> Status {
    const LocalFile& file = found.files[i];
    auto stored = storeFile(repo, storedDataPath(stanza, manifest.label, file.path), file.full, options.compress_level,
                            progress);
    if (!stored.ok() && stored.error().code == ErrorCode::kNotFound) return okStatus();  // dropped meanwhile
    if (!stored.ok()) return stored.error();
    ManifestEntry e;
    e.path = file.path;
    e.size = stored->size;
    e.mode = stored->mode;
    e.mtime = stored->mtime;
    e.checksum = stored->checksum;
    copied[i] = std::move(e);
    return okStatus();
  }));

  auto stopped = server.stop();
  if (!stopped.ok()) return stopped.error();
  manifest.stop_lsn = stopped->lsn;
  manifest.backup_label = stopped->backup_label;
  manifest.tablespace_map = stopped->tablespace_map;
  auto start = parseBackupLabel(stopped->backup_label);
  if (!start.ok()) return start.error();
  manifest.timeline = start->timeline;
  manifest.start_wal = start->wal_file;
  manifest.start_lsn = started->lsn;

  // The WAL from start to stop, from this member's pg_wal (the temporary
  // slot kept it): a backup of a replica needs nothing from the primary.
  const std::uint64_t segment_size = started->wal_segment_size;
  manifest.wal_segment_size = segment_size;
  const std::string timeline = start->wal_file.substr(0, 8);
  const auto first = walSegmentNumber(start->wal_file, segment_size);
  if (!first) return makeError(ErrorCode::kParse, "backup_label names WAL file " + start->wal_file);
  const std::uint64_t last = static_cast<std::uint64_t>(std::max<Lsn>(manifest.stop_lsn - 1, 0)) / segment_size;
  manifest.stop_wal = walSegmentName(timeline, std::max(last, *first), segment_size);
  std::vector<std::string> wal_names;
  for (std::uint64_t n = *first; n <= std::max(last, *first); ++n) wal_names.push_back(walSegmentName(timeline, n, segment_size));
  manifest.wal.resize(wal_names.size());
  PGT_TRY(runParallel(options.process_max, wal_names.size(), [&](std::size_t i) -> Status {
    const std::string& name = wal_names[i];
    auto stored = storeFile(repo, storedWalPath(stanza, manifest.label, name), options.data_dir + "/pg_wal/" + name,
                            options.compress_level, nullptr);
    if (!stored.ok()) return makeError(stored.error().code, "WAL file " + name + " the backup needs: " + stored.error().message);
    manifest.wal[i] = ManifestWal{name, stored->size, stored->checksum};
    return okStatus();
  }));

  for (auto& e : found.entries) manifest.entries.push_back(std::move(e));
  for (auto& e : copied) {
    if (e) manifest.entries.push_back(std::move(*e));
  }
  std::sort(manifest.entries.begin(), manifest.entries.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  manifest.stop_time = formatIsoTime(clock.wallNow());
  PGT_TRY(writeManifest(repo, stanza, manifest));
  if (progress) progress->finish();
  return manifest;
}

}  // namespace pgtandem::backup
