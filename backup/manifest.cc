#include "backup/manifest.h"

#include <algorithm>
#include <boost/json.hpp>

#include "backup/info_file.h"

namespace pgtandem::backup {

namespace json = boost::json;

namespace {

const char* kindName(EntryKind kind) {
  switch (kind) {
    case EntryKind::kFile: return "file";
    case EntryKind::kDirectory: return "directory";
    case EntryKind::kLink: return "link";
  }
  return "file";
}

// Reads typed members, remembering the first one missing or mistyped.
struct Fields {
  const json::object& o;
  std::string problem;

  std::string text(const char* key) {
    const json::value* v = o.if_contains(key);
    if (v && v->is_string()) return std::string(v->as_string());
    if (problem.empty()) problem = std::string(key) + " missing or not a string";
    return {};
  }
  std::int64_t integer(const char* key) {
    const json::value* v = o.if_contains(key);
    if (v && v->is_int64()) return v->as_int64();
    if (v && v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
    if (problem.empty()) problem = std::string(key) + " missing or not an integer";
    return 0;
  }
  const json::array* array(const char* key) {
    const json::value* v = o.if_contains(key);
    if (v && v->is_array()) return &v->as_array();
    if (problem.empty()) problem = std::string(key) + " missing or not an array";
    return nullptr;
  }
};

}  // namespace

const char* backupTypeName(BackupType type) {
  switch (type) {
    case BackupType::kFull: return "full";
    case BackupType::kDiff: return "diff";
    case BackupType::kIncr: return "incr";
  }
  return "full";
}

std::optional<BackupType> parseBackupType(const std::string& text) {
  for (BackupType type : {BackupType::kFull, BackupType::kDiff, BackupType::kIncr}) {
    if (text == backupTypeName(type)) return type;
  }
  return std::nullopt;
}

std::string storedEntryPath(const std::string& stanza, const BackupManifest& manifest, const ManifestEntry& entry) {
  return storedDataPath(stanza, entry.reference.empty() ? manifest.label : entry.reference, entry.path);
}

std::vector<std::string> referencedBackups(const BackupManifest& manifest) {
  std::vector<std::string> labels;
  for (const auto& e : manifest.entries) {
    if (!e.reference.empty() && std::find(labels.begin(), labels.end(), e.reference) == labels.end()) {
      labels.push_back(e.reference);
    }
  }
  std::sort(labels.begin(), labels.end());
  return labels;
}

std::uint64_t BackupManifest::totalBytes() const {
  std::uint64_t total = 0;
  for (const auto& e : entries) total += e.size;
  for (const auto& w : wal) total += w.size;
  return total;
}

std::uint64_t BackupManifest::copiedBytes() const {
  std::uint64_t copied = 0;
  for (const auto& e : entries) copied += e.reference.empty() ? e.size : 0;
  for (const auto& w : wal) copied += w.size;
  return copied;
}

std::string BackupManifest::describeType() const {
  return type == BackupType::kFull ? "full" : std::string(backupTypeName(type)) + " of " + prior;
}

std::string backupDirectory(const std::string& stanza, const std::string& label) {
  return stanza + "/backup/" + label;
}
std::string storedDataPath(const std::string& stanza, const std::string& label, const std::string& path) {
  return backupDirectory(stanza, label) + "/pg_data/" + path + ".zst";
}
std::string storedWalPath(const std::string& stanza, const std::string& label, const std::string& name) {
  return backupDirectory(stanza, label) + "/pg_wal/" + name + ".zst";
}

std::string serializeManifest(const BackupManifest& m) {
  json::object o;
  o["label"] = m.label;
  o["type"] = backupTypeName(m.type);
  if (!m.prior.empty()) o["prior"] = m.prior;
  o["system_identifier"] = m.system_identifier;
  o["pg_version"] = m.pg_version;
  o["timeline"] = m.timeline;
  o["start_lsn"] = formatLsn(m.start_lsn);
  o["stop_lsn"] = formatLsn(m.stop_lsn);
  o["start_wal"] = m.start_wal;
  o["stop_wal"] = m.stop_wal;
  o["wal_segment_size"] = m.wal_segment_size;
  o["start_time"] = m.start_time;
  o["stop_time"] = m.stop_time;
  o["from_replica"] = m.from_replica;
  o["backup_label"] = m.backup_label;
  o["tablespace_map"] = m.tablespace_map;
  json::array entries;
  for (const auto& e : m.entries) {
    json::object f;
    f["path"] = e.path;
    f["kind"] = kindName(e.kind);
    f["mode"] = e.mode;
    f["mtime"] = e.mtime;
    if (e.kind == EntryKind::kFile) {
      f["size"] = e.size;
      f["sha256"] = e.checksum;
      if (!e.reference.empty()) f["reference"] = e.reference;
    }
    if (e.kind == EntryKind::kLink) f["target"] = e.link_target;
    entries.emplace_back(std::move(f));
  }
  o["entries"] = std::move(entries);
  json::array wal;
  for (const auto& w : m.wal) wal.emplace_back(json::object{{"name", w.name}, {"size", w.size}, {"sha256", w.checksum}});
  o["wal"] = std::move(wal);
  return sealJson(std::move(o));
}

namespace {

Result<BackupManifest> manifestFrom(const json::object& sealed) {
  Fields top{sealed, {}};
  BackupManifest m;
  m.label = top.text("label");
  // Manifests written before diff and incr backups have no type: full.
  if (const json::value* type = sealed.if_contains("type")) {
    const auto parsed = type->is_string() ? parseBackupType(std::string(type->as_string())) : std::nullopt;
    if (!parsed) return makeError(ErrorCode::kParse, "type is not full, diff or incr");
    m.type = *parsed;
  }
  if (const json::value* prior = sealed.if_contains("prior"); prior && prior->is_string()) {
    m.prior = std::string(prior->as_string());
  }
  if (m.type != BackupType::kFull && m.prior.empty()) return makeError(ErrorCode::kParse, "a diff or incr backup without prior");
  m.system_identifier = top.text("system_identifier");
  m.pg_version = static_cast<int>(top.integer("pg_version"));
  m.timeline = static_cast<std::uint32_t>(top.integer("timeline"));
  auto start = parseLsn(top.text("start_lsn"));
  auto stop = parseLsn(top.text("stop_lsn"));
  m.start_wal = top.text("start_wal");
  m.stop_wal = top.text("stop_wal");
  m.wal_segment_size = static_cast<std::uint64_t>(top.integer("wal_segment_size"));
  m.start_time = top.text("start_time");
  m.stop_time = top.text("stop_time");
  const json::value* replica = sealed.if_contains("from_replica");
  m.from_replica = replica && replica->is_bool() && replica->as_bool();
  m.backup_label = top.text("backup_label");
  m.tablespace_map = top.text("tablespace_map");
  if (const auto* entries = top.array("entries")) {
    for (const auto& v : *entries) {
      if (!v.is_object()) return makeError(ErrorCode::kParse, "an entry is not an object");
      Fields f{v.as_object(), {}};
      ManifestEntry e;
      e.path = f.text("path");
      const std::string kind = f.text("kind");
      e.kind = kind == "directory" ? EntryKind::kDirectory : kind == "link" ? EntryKind::kLink : EntryKind::kFile;
      if (kind != "file" && kind != "directory" && kind != "link" && f.problem.empty()) f.problem = "unknown kind " + kind;
      e.mode = static_cast<unsigned>(f.integer("mode"));
      e.mtime = f.integer("mtime");
      if (e.kind == EntryKind::kFile) {
        e.size = static_cast<std::uint64_t>(f.integer("size"));
        e.checksum = f.text("sha256");
        if (const json::value* ref = v.as_object().if_contains("reference"); ref && ref->is_string()) {
          e.reference = std::string(ref->as_string());
          if (e.reference.find('/') != std::string::npos || e.reference.find("..") != std::string::npos) {
            if (f.problem.empty()) f.problem = "reference '" + e.reference + "' is not a backup label";
          }
        }
      }
      if (e.kind == EntryKind::kLink) e.link_target = f.text("target");
      if (e.path.empty() || e.path.front() == '/' || e.path.find("..") != std::string::npos) {
        if (f.problem.empty()) f.problem = "path '" + e.path + "' is not relative";
      }
      if (!f.problem.empty()) return makeError(ErrorCode::kParse, "entry '" + e.path + "': " + f.problem);
      m.entries.push_back(std::move(e));
    }
  }
  if (const auto* wal = top.array("wal")) {
    for (const auto& v : *wal) {
      if (!v.is_object()) return makeError(ErrorCode::kParse, "a WAL entry is not an object");
      Fields f{v.as_object(), {}};
      ManifestWal w{f.text("name"), static_cast<std::uint64_t>(f.integer("size")), f.text("sha256")};
      if (!f.problem.empty()) return makeError(ErrorCode::kParse, "WAL entry '" + w.name + "': " + f.problem);
      m.wal.push_back(std::move(w));
    }
  }
  if (!top.problem.empty()) return makeError(ErrorCode::kParse, top.problem);
  if (!start.ok() || !stop.ok()) return makeError(ErrorCode::kParse, "start_lsn or stop_lsn does not parse");
  m.start_lsn = *start;
  m.stop_lsn = *stop;
  if (m.wal_segment_size == 0 || (m.wal_segment_size & (m.wal_segment_size - 1)) != 0) {
    return makeError(ErrorCode::kParse, "wal_segment_size " + std::to_string(m.wal_segment_size) + " is not a power of two");
  }
  return m;
}

}  // namespace

Result<BackupManifest> parseManifest(const std::string& text) {
  auto sealed = unsealJson(text);
  if (!sealed.ok()) return sealed.error();
  return manifestFrom(*sealed);
}

Status writeManifest(Repository& repo, const std::string& stanza, const BackupManifest& manifest) {
  return writeInfoFile(repo, backupDirectory(stanza, manifest.label) + "/backup.manifest", serializeManifest(manifest));
}

Result<BackupManifest> readManifest(Repository& repo, const std::string& stanza, const std::string& label) {
  auto sealed = readInfoFile(repo, backupDirectory(stanza, label) + "/backup.manifest");
  if (!sealed.ok() && sealed.error().code == ErrorCode::kNotFound) {
    return makeError(ErrorCode::kNotFound, "backup " + label + " of stanza '" + stanza + "' has no manifest in " +
                                               repo.describe() + " (no such backup, or it never finished)");
  }
  if (!sealed.ok()) return sealed.error();
  auto parsed = manifestFrom(*sealed);
  if (!parsed.ok()) return makeError(ErrorCode::kParse, "backup " + label + ": manifest: " + parsed.error().message);
  return parsed;
}

Result<BackupListing> listBackups(Repository& repo, const std::string& stanza) {
  BackupListing listing;
  auto labels = repo.list(stanza + "/backup");
  if (!labels.ok()) return labels.error();
  for (const auto& label : *labels) {
    auto names = repo.list(backupDirectory(stanza, label));
    if (!names.ok()) return names.error();
    const bool finished = std::find(names->begin(), names->end(), "backup.manifest") != names->end() ||
                          std::find(names->begin(), names->end(), "backup.manifest.copy") != names->end();
    (finished ? listing.finished : listing.unfinished).push_back(label);
  }
  return listing;
}

Result<LoadedBackups> loadBackups(Repository& repo, const std::string& stanza) {
  auto listing = listBackups(repo, stanza);
  if (!listing.ok()) return listing.error();
  LoadedBackups loaded;
  loaded.unfinished = std::move(listing->unfinished);
  for (const auto& label : listing->finished) {
    auto manifest = readManifest(repo, stanza, label);
    if (!manifest.ok()) return manifest.error();
    loaded.finished.push_back(std::move(*manifest));
  }
  return loaded;
}

Status checkReferences(Repository& repo, const std::string& stanza, const BackupManifest& manifest) {
  const auto references = referencedBackups(manifest);
  if (references.empty()) return okStatus();
  auto listing = listBackups(repo, stanza);
  if (!listing.ok()) return listing.error();
  for (const auto& label : references) {
    if (std::find(listing->finished.begin(), listing->finished.end(), label) == listing->finished.end()) {
      return makeError(ErrorCode::kNotFound, "backup " + manifest.label + " refers to backup " + label +
                                                 " for unchanged files, and that backup is missing or unfinished");
    }
  }
  return okStatus();
}

}  // namespace pgtandem::backup
