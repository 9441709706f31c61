#include "backup/base_backup.h"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <set>
#include <sstream>

#include "backup/cluster_identity.h"
#include "backup/file_copy.h"
#include "backup/parallel.h"
#include "backup/stanza.h"
#include "backup/tar_reader.h"

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
  std::int64_t mtime = 0;
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
      struct stat st {};
      if (::stat(child.path().c_str(), &st) != 0) continue;  // gone meanwhile
      out.files.push_back({rel, child.path().string(), static_cast<std::uint64_t>(st.st_size), st.st_mtime});
    }
  }
}

std::string labelFor(WallTime now, BackupType type) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%d-%H%M%S", &tm);
  return std::string(text) + (type == BackupType::kFull ? "F" : type == BackupType::kDiff ? "D" : "I");
}

}  // namespace

bool excludedFromBackup(const std::string& path, bool directory) {
  const std::string name = baseName(path);
  if (name.rfind("pgsql_tmp", 0) == 0) return true;
  if (directory) return false;
  if (path.find('/') == std::string::npos && kExcludedFiles.count(name)) return true;
  return name == "pg_internal.init";
}

Status checkBackupMember(bool in_recovery, bool allow_primary, const std::string& member) {
  if (in_recovery || allow_primary) return okStatus();
  return makeError(ErrorCode::kConflict,
                   member + " is a primary: backups are taken from a replica (the standby DC's by preference) so that "
                            "the primary's clients do not pay for them; point --pg-host/--pg-port at a replica, or allow "
                            "the primary with --allow-primary (allow_primary: true)");
}

bool unchangedSincePrior(const ManifestEntry& prior, std::uint64_t size, std::int64_t mtime,
                         std::int64_t prior_start_seconds) {
  return prior.kind == EntryKind::kFile && prior.size == size && prior.mtime == mtime && mtime < prior_start_seconds;
}

Result<std::optional<BackupManifest>> choosePrior(Repository& repo, const std::string& stanza, BackupType type) {
  if (type == BackupType::kFull) return std::optional<BackupManifest>();
  auto listing = listBackups(repo, stanza);
  if (!listing.ok()) return listing.error();
  for (auto it = listing->finished.rbegin(); it != listing->finished.rend(); ++it) {
    auto m = readManifest(repo, stanza, *it);
    if (!m.ok()) return m.error();  // a damaged manifest is not skipped silently
    if (type == BackupType::kIncr || m->type == BackupType::kFull) return std::optional<BackupManifest>(std::move(*m));
  }
  return std::optional<BackupManifest>();
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
      const std::string lsn = line.substr(19, file - 19);
      auto parsed = parseLsn(lsn.substr(lsn.find_first_not_of(' '), lsn.find_last_not_of(' ') - lsn.find_first_not_of(' ') + 1));
      if (!parsed.ok()) return makeError(ErrorCode::kParse, "backup_label: START WAL LOCATION does not parse: " + line);
      start.lsn = *parsed;
    } else if (line.rfind("BACKUP FROM:", 0) == 0) {
      start.from_standby = line.find("standby") != std::string::npos;
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

namespace {

// A new backup's manifest, once the stanza and the cluster agree.
Result<BackupManifest> beginManifest(Repository& repo, const std::string& stanza, const std::string& system_identifier,
                                     int pg_version, const std::string& where, BackupType type, const Clock& clock) {
  auto info = readStanza(repo, stanza);
  if (!info.ok()) return info.error();
  if (system_identifier != info->system_identifier) {
    return makeError(ErrorCode::kConflict, where + " belongs to system " + system_identifier + ", but stanza '" + stanza +
                                               "' to system " + info->system_identifier);
  }
  BackupManifest manifest;
  manifest.type = type;
  auto existing = listBackups(repo, stanza);
  if (!existing.ok()) return existing.error();
  auto taken = [&](const std::string& label) {
    for (const auto* labels : {&existing->finished, &existing->unfinished}) {
      if (std::find(labels->begin(), labels->end(), label) != labels->end()) return true;
    }
    return false;
  };
  // Labels have whole seconds: a backup right after another waits for the next one.
  manifest.label = labelFor(clock.wallNow(), type);
  for (int waited = 0; taken(manifest.label) && waited < 12; ++waited) {
    clock.sleepFor(std::chrono::milliseconds(100));
    manifest.label = labelFor(clock.wallNow(), type);
  }
  if (taken(manifest.label)) {
    return makeError(ErrorCode::kConflict, "a backup labelled " + manifest.label + " exists already (is the clock stepping back?)");
  }
  manifest.system_identifier = info->system_identifier;
  manifest.pg_version = pg_version;
  manifest.start_time = formatIsoTime(clock.wallNow());
  return manifest;
}

// The start, stop and timeline from backup_label and the stop LSN; the
// names of the WAL files from start to stop.
Result<std::vector<std::string>> settleWalRange(BackupManifest& manifest, const std::string& backup_label, Lsn stop_lsn,
                                                std::uint64_t segment_size) {
  auto start = parseBackupLabel(backup_label);
  if (!start.ok()) return start.error();
  manifest.backup_label = backup_label;
  manifest.stop_lsn = stop_lsn;
  manifest.timeline = start->timeline;
  manifest.start_wal = start->wal_file;
  manifest.start_lsn = start->lsn;
  manifest.wal_segment_size = segment_size;
  const std::string timeline = start->wal_file.substr(0, 8);
  const auto first = walSegmentNumber(start->wal_file, segment_size);
  if (!first) return makeError(ErrorCode::kParse, "backup_label names WAL file " + start->wal_file);
  const std::uint64_t last = std::max(static_cast<std::uint64_t>(std::max<Lsn>(stop_lsn - 1, 0)) / segment_size, *first);
  manifest.stop_wal = walSegmentName(timeline, last, segment_size);
  std::vector<std::string> names;
  for (std::uint64_t n = *first; n <= last; ++n) names.push_back(walSegmentName(timeline, n, segment_size));
  return names;
}

Status finishManifest(Repository& repo, const std::string& stanza, BackupManifest& manifest,
                      std::vector<ManifestEntry> entries, const Clock& clock, ProgressMeter* progress) {
  manifest.entries = std::move(entries);
  std::sort(manifest.entries.begin(), manifest.entries.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  manifest.stop_time = formatIsoTime(clock.wallNow());
  PGT_TRY(writeManifest(repo, stanza, manifest));
  if (progress) progress->finish();
  return okStatus();
}

}  // namespace

Result<BackupManifest> takeBackup(Repository& repo, const std::string& stanza, BackupServer& server,
                                  const BackupOptions& options, const Clock& clock, ProgressMeter* progress) {
  auto identity = readClusterIdentity(options.data_dir);
  if (!identity.ok()) return identity.error();
  auto prior = choosePrior(repo, stanza, options.type);
  if (!prior.ok()) return prior.error();
  // Without a backup to compare with, a diff or incr is a full.
  const BackupType type = *prior ? options.type : BackupType::kFull;
  auto manifest = beginManifest(repo, stanza, identity->system_identifier, identity->pg_version, options.data_dir, type,
                                clock);
  if (!manifest.ok()) return manifest.error();
  std::map<std::string, const ManifestEntry*> before;
  std::int64_t prior_start = 0;
  if (*prior) {
    manifest->prior = (*prior)->label;
    for (const auto& e : (*prior)->entries) before[e.path] = &e;
    const auto started_at = parseIsoTime((*prior)->start_time);
    if (!started_at) return makeError(ErrorCode::kParse, "backup " + (*prior)->label + " has no start time");
    prior_start = std::chrono::duration_cast<std::chrono::seconds>(started_at->time_since_epoch()).count();
  }
  auto replica = server.inRecovery();
  if (!replica.ok()) return replica.error();
  PGT_TRY(checkBackupMember(*replica, options.allow_primary, "the member of " + options.data_dir));

  auto started = server.start(manifest->label, options.fast_checkpoint);
  if (!started.ok()) return started.error();
  manifest->from_replica = started->in_recovery;

  Walk found;
  walk(options.data_dir, "", found);
  // A file unchanged since the prior backup is referred to, not copied.
  std::vector<ManifestEntry> entries = std::move(found.entries);
  std::erase_if(found.files, [&](const LocalFile& file) {
    const auto it = before.find(file.path);
    if (it == before.end() || !unchangedSincePrior(*it->second, file.size, file.mtime, prior_start)) return false;
    ManifestEntry e = *it->second;
    if (e.reference.empty()) e.reference = manifest->prior;
    entries.push_back(std::move(e));
    return true;
  });
  std::uint64_t total = 0;
  for (const auto& f : found.files) total += f.size;
  if (progress) progress->setTotal(total);
  // The largest first, so that no worker is left with a big file at the end.
  std::stable_sort(found.files.begin(), found.files.end(), [](const auto& a, const auto& b) { return a.size > b.size; });
  std::vector<std::optional<ManifestEntry>> copied(found.files.size());
  PGT_TRY(runParallel(options.process_max, found.files.size(), [&](std::size_t i) -> Status {
    const LocalFile& file = found.files[i];
    // Touched but not changed: the same bytes as the prior backup's.
    const auto was = before.find(file.path);
    const ManifestEntry* prior_entry = was == before.end() ? nullptr : was->second;
    auto stored = storeFile(repo, storedDataPath(stanza, manifest->label, file.path), file.full, options.compress_level,
                            progress, prior_entry ? prior_entry->checksum : "");
    if (!stored.ok() && stored.error().code == ErrorCode::kNotFound) return okStatus();  // dropped meanwhile
    if (!stored.ok()) return stored.error();
    ManifestEntry e;
    e.path = file.path;
    e.size = stored->size;
    e.mode = stored->mode;
    e.mtime = stored->mtime;
    e.checksum = stored->checksum;
    if (!stored->stored) e.reference = prior_entry->reference.empty() ? manifest->prior : prior_entry->reference;
    copied[i] = std::move(e);
    return okStatus();
  }));

  auto stopped = server.stop();
  if (!stopped.ok()) return stopped.error();
  manifest->tablespace_map = stopped->tablespace_map;
  auto wal_names = settleWalRange(*manifest, stopped->backup_label, stopped->lsn, started->wal_segment_size);
  if (!wal_names.ok()) return wal_names.error();
  manifest->start_lsn = started->lsn;

  // The WAL from start to stop, from this member's pg_wal (the temporary
  // slot kept it): a backup of a replica needs nothing from the primary.
  manifest->wal.resize(wal_names->size());
  PGT_TRY(runParallel(options.process_max, wal_names->size(), [&](std::size_t i) -> Status {
    const std::string& name = (*wal_names)[i];
    auto stored = storeFile(repo, storedWalPath(stanza, manifest->label, name), options.data_dir + "/pg_wal/" + name,
                            options.compress_level, nullptr);
    if (!stored.ok()) return makeError(stored.error().code, "WAL file " + name + " the backup needs: " + stored.error().message);
    manifest->wal[i] = ManifestWal{name, stored->size, stored->checksum};
    return okStatus();
  }));

  for (auto& e : copied) {
    if (e) entries.push_back(std::move(*e));
  }
  PGT_TRY(finishManifest(repo, stanza, *manifest, std::move(entries), clock, progress));
  return std::move(*manifest);
}

namespace {

// The stop LSN in pg_basebackup's backup_manifest ("WAL-Ranges": [{...,
// "End-LSN": "0/2000100"}]): the last range's end.
Result<Lsn> manifestEndLsn(const std::string& text) {
  const auto ranges = text.find("\"WAL-Ranges\"");
  const auto end = ranges == std::string::npos ? std::string::npos : text.rfind("\"End-LSN\"");
  if (end == std::string::npos || end < ranges) {
    return makeError(ErrorCode::kParse, "pg_basebackup's backup_manifest has no WAL-Ranges End-LSN");
  }
  const auto open = text.find('"', end + 9);
  const auto close = open == std::string::npos ? std::string::npos : text.find('"', open + 1);
  if (close == std::string::npos) return makeError(ErrorCode::kParse, "pg_basebackup's End-LSN does not parse");
  return parseLsn(text.substr(open + 1, close - open - 1));
}

bool isSegmentName(const std::string& name) {
  return name.size() == 24 && name.find_first_not_of("0123456789ABCDEF") == std::string::npos;
}

}  // namespace

Result<BackupManifest> takeStreamedBackup(Repository& repo, const std::string& stanza, TarBackupSource& source,
                                          const BackupOptions& options, const Clock& clock, ProgressMeter* progress) {
  auto facts = source.facts();
  if (!facts.ok()) return facts.error();
  // A diff or incr over the stream: every file crosses the network, and a
  // file with the prior backup's checksum is referred to, not stored.
  auto prior = choosePrior(repo, stanza, options.type);
  if (!prior.ok()) return prior.error();
  const BackupType type = *prior ? options.type : BackupType::kFull;
  auto manifest = beginManifest(repo, stanza, facts->system_identifier, facts->pg_version, "the server", type, clock);
  if (!manifest.ok()) return manifest.error();
  std::map<std::string, const ManifestEntry*> before;
  if (*prior) {
    manifest->prior = (*prior)->label;
    for (const auto& e : (*prior)->entries) {
      if (e.kind == EntryKind::kFile) before[e.path] = &e;
    }
  }
  PGT_TRY(checkBackupMember(facts->in_recovery, options.allow_primary, "the server"));
  if (progress) progress->setTotal(facts->estimated_bytes);
  PGT_TRY(source.start(manifest->label, options.fast_checkpoint));

  TarReader tar([&](char* out, std::size_t max) { return source.read(out, max); });
  // zstd's threads pay on big files only (table segments, WAL).
  auto workersFor = [&](std::uint64_t size) { return size >= (8u << 20) ? options.process_max : 1; };
  auto readMember = [&](char* out, std::size_t max) { return tar.readData(out, max); };
  std::vector<ManifestEntry> entries;
  std::map<std::string, ManifestWal> wal;
  std::string backup_label, tablespace_map, pg_manifest;
  auto readText = [&](std::uint64_t size, std::string& into) -> Status {
    if (size > (256u << 20)) return makeError(ErrorCode::kParse, "a " + std::to_string(size) + "-byte backup_manifest");
    into.assign(size, '\0');
    for (std::size_t got = 0; got < size;) {
      auto n = tar.readData(into.data() + got, size - got);
      if (!n.ok()) return n.error();
      if (*n == 0) return makeError(ErrorCode::kParse, "the tar stream ends inside a member");
      got += *n;
    }
    return okStatus();
  };
  Status streamed = [&]() -> Status {
    for (;;) {
      auto member = tar.next();
      if (!member.ok()) return member.error();
      if (!*member) return okStatus();
      const TarMember& m = **member;
      if (m.path.empty()) continue;  // the archive's own "./"
      const std::string parent = m.path.substr(0, m.path.rfind('/') == std::string::npos ? 0 : m.path.rfind('/'));
      if (m.type == TarType::kDirectory) {
        ManifestEntry e;
        e.path = m.path;
        e.kind = EntryKind::kDirectory;
        e.mode = m.mode;
        e.mtime = m.mtime;
        entries.push_back(std::move(e));
      } else if (m.type == TarType::kSymlink && parent == "pg_tblspc") {
        return makeError(ErrorCode::kInvalidArgument, "the cluster has tablespaces, which pg_basebackup cannot stream "
                                                      "as one archive: use backup_method copy");
      } else if (m.type != TarType::kFile) {
        continue;
      } else if (m.path == "backup_label") {
        PGT_TRY(readText(m.size, backup_label));
      } else if (m.path == "tablespace_map") {
        PGT_TRY(readText(m.size, tablespace_map));
      } else if (m.path == "backup_manifest") {
        PGT_TRY(readText(m.size, pg_manifest));
      } else if (parent == "pg_wal") {
        const std::string name = m.path.substr(7);
        if (!isSegmentName(name)) continue;
        auto stored = storeStream(repo, storedWalPath(stanza, manifest->label, name), readMember, options.compress_level,
                                  workersFor(m.size), nullptr);
        if (!stored.ok()) return stored.error();
        wal[name] = ManifestWal{name, stored->size, stored->checksum};
      } else if (parent == "pg_wal/archive_status" || excludedFromBackup(m.path, false)) {
        continue;
      } else {
        const auto was = before.find(m.path);
        const ManifestEntry* prior_entry = was == before.end() ? nullptr : was->second;
        auto stored = storeStream(repo, storedDataPath(stanza, manifest->label, m.path), readMember,
                                  options.compress_level, workersFor(m.size), progress,
                                  prior_entry ? prior_entry->checksum : "");
        if (!stored.ok()) return stored.error();
        ManifestEntry e;
        e.path = m.path;
        e.size = stored->size;
        e.mode = m.mode;
        e.mtime = m.mtime;
        e.checksum = stored->checksum;
        if (!stored->stored) e.reference = prior_entry->reference.empty() ? manifest->prior : prior_entry->reference;
        entries.push_back(std::move(e));
      }
    }
  }();
  // The tool's own error says more than a stream cut short, unless we cut
  // it (then it died of the closed pipe, and our error is the cause).
  Status finished = source.finish();
  if (!streamed.ok() && !finished.ok()) {
    return makeError(streamed.error().code, streamed.error().message + " (then " + finished.error().message + ")");
  }
  if (!finished.ok()) return finished.error();
  if (!streamed.ok()) return streamed.error();
  if (backup_label.empty()) return makeError(ErrorCode::kParse, "pg_basebackup's stream had no backup_label");
  auto stop_lsn = manifestEndLsn(pg_manifest);
  if (!stop_lsn.ok()) return stop_lsn.error();
  auto wal_names = settleWalRange(*manifest, backup_label, *stop_lsn, facts->wal_segment_size);
  if (!wal_names.ok()) return wal_names.error();
  manifest->tablespace_map = tablespace_map;
  manifest->from_replica = parseBackupLabel(backup_label)->from_standby;
  for (const auto& name : *wal_names) {
    const auto found = wal.find(name);
    if (found == wal.end()) return makeError(ErrorCode::kNotFound, "WAL file " + name + " the backup needs was not in the stream");
    manifest->wal.push_back(found->second);
  }
  PGT_TRY(finishManifest(repo, stanza, *manifest, std::move(entries), clock, progress));
  return std::move(*manifest);
}

}  // namespace pgtandem::backup
