#include "backup/backup_verify.h"

#include <mutex>

#include "backup/file_copy.h"
#include "backup/parallel.h"
#include "backup/wal_archive.h"

namespace pgtandem::backup {

BackupVerifyReport verifyBackup(Repository& repo, const std::string& stanza, const BackupManifest& m, int process_max) {
  BackupVerifyReport report;
  report.label = m.label;
  std::mutex mutex;
  auto check = [&](const std::string& stored, std::uint64_t size, const std::string& checksum) -> std::string {
    auto read = fetchFile(repo, stored, "", 0600, nullptr);
    if (!read.ok()) return read.error().message;
    if (read->size != size) return std::to_string(read->size) + " bytes, the manifest says " + std::to_string(size);
    if (read->checksum != checksum) return "sha256 " + read->checksum + ", the manifest says " + checksum;
    return "";
  };
  if (auto chain = checkReferences(repo, stanza, m); !chain.ok()) report.bad_files.push_back(chain.error().message);
  std::vector<const ManifestEntry*> files;
  for (const auto& e : m.entries) {
    if (e.kind == EntryKind::kFile) files.push_back(&e);
  }
  (void)runParallel(process_max, files.size(), [&](std::size_t i) {
    const std::string stored = storedEntryPath(stanza, m, *files[i]);
    const std::string problem = check(stored, files[i]->size, files[i]->checksum);
    std::lock_guard lock(mutex);
    ++report.files_checked;
    if (!problem.empty()) report.bad_files.push_back(stored + ": " + problem);
    return okStatus();
  });
  // The WAL the backup needs: its own copy, or else the archive's.
  const std::uint64_t segment_size = m.wal_segment_size;
  const auto first = walSegmentNumber(m.start_wal, segment_size);
  const auto last = walSegmentNumber(m.stop_wal, segment_size);
  if (!first || !last || m.start_wal.substr(0, 8) != m.stop_wal.substr(0, 8)) {
    report.bad_files.push_back("backup " + m.label + ": the manifest's WAL range " + m.start_wal + " to " + m.stop_wal +
                               " does not parse");
    return report;
  }
  for (std::uint64_t n = *first; n <= *last; ++n) {
    const std::string name = walSegmentName(m.start_wal.substr(0, 8), n, segment_size);
    const ManifestWal* copy = nullptr;
    for (const auto& w : m.wal) {
      if (w.name == name) copy = &w;
    }
    ++report.files_checked;
    if (copy) {
      const std::string stored = storedWalPath(stanza, m.label, name);
      const std::string problem = check(stored, copy->size, copy->checksum);
      if (problem.empty()) continue;
      if (problem.find("does not exist") == std::string::npos) {
        report.bad_files.push_back(stored + ": " + problem);
        continue;
      }
    }
    if (!getWal(repo, stanza, name).ok()) {
      report.gaps.push_back("backup " + m.label + ": WAL file " + name + " missing (neither in the backup nor in the archive)");
    }
  }
  return report;
}

}  // namespace pgtandem::backup
