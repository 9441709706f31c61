#include "backup/backup_metrics.h"

#include <boost/json.hpp>
#include <iomanip>
#include <map>
#include <sstream>

#include "backup/drill.h"
#include "backup/info_file.h"

namespace pgtandem::backup {

namespace json = boost::json;

namespace {

std::string failurePath(const std::string& stanza) { return stanza + "/backup.failure"; }

double epochSeconds(const std::string& iso) {
  const auto at = parseIsoTime(iso);
  return at ? std::chrono::duration<double>(at->time_since_epoch()).count() : 0;
}

// Prometheus label values: backslash, quote and newline escaped.
std::string labelValue(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

class Series {
 public:
  explicit Series(std::string stanza) : stanza_(labelValue(stanza)) { out_ << std::fixed << std::setprecision(3); }
  void family(const char* name, const char* help) {
    out_ << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n";
  }
  void value(const char* name, double v, const std::string& extra = "") {
    out_ << name << "{stanza=\"" << stanza_ << "\"" << extra << "} " << v << "\n";
  }
  std::string text() const { return out_.str(); }

 private:
  std::string stanza_;
  std::ostringstream out_;
};

}  // namespace

Result<std::string> backupMetrics(Repository& repo, const std::string& stanza) {
  auto listing = loadBackups(repo, stanza);
  if (!listing.ok()) return listing.error();
  std::map<BackupType, BackupManifest> last;  // the newest finished of each type
  for (const auto& m : listing->finished) last[m.type] = m;
  Series s(stanza);
  s.family("pgtandem_backup_finished_backups", "Finished backups in the repository.");
  s.value("pgtandem_backup_finished_backups", static_cast<double>(listing->finished.size()));
  s.family("pgtandem_backup_unfinished_backups", "Backup directories without a manifest (running, failed or abandoned).");
  s.value("pgtandem_backup_unfinished_backups", static_cast<double>(listing->unfinished.size()));
  struct Family {
    const char* name;
    const char* help;
    double (*of)(const BackupManifest&);
  };
  const Family families[] = {
      {"pgtandem_backup_last_success_timestamp_seconds", "When the newest finished backup of this type ended.",
       [](const BackupManifest& m) { return epochSeconds(m.stop_time); }},
      {"pgtandem_backup_last_duration_seconds", "How long it took.",
       [](const BackupManifest& m) { return epochSeconds(m.stop_time) - epochSeconds(m.start_time); }},
      {"pgtandem_backup_last_size_bytes", "The data it restores (its chain's files and its WAL).",
       [](const BackupManifest& m) { return static_cast<double>(m.totalBytes()); }},
      {"pgtandem_backup_last_copied_bytes", "What it stored itself (a diff or incr refers to the rest).",
       [](const BackupManifest& m) { return static_cast<double>(m.copiedBytes()); }},
  };
  for (const auto& f : families) {
    s.family(f.name, f.help);
    for (const auto& [type, m] : last) s.value(f.name, f.of(m), std::string(",type=\"") + backupTypeName(type) + "\"");
  }
  s.family("pgtandem_backup_last_failure_timestamp_seconds", "When the last backup failed (0: none recorded).");
  auto failure = readInfoFile(repo, failurePath(stanza));
  double failed_at = 0;
  if (failure.ok()) {
    const json::value* at = failure->if_contains("time");
    if (at && at->is_string()) failed_at = epochSeconds(std::string(at->as_string()));
  }
  s.value("pgtandem_backup_last_failure_timestamp_seconds", failed_at);
  auto drill = readDrillRecord(repo, stanza);
  s.family("pgtandem_backup_drill_last_passed", "1 if the last restore drill passed, 0 if it failed (absent: none ran).");
  s.family("pgtandem_backup_drill_last_timestamp_seconds", "When the last restore drill started.");
  s.family("pgtandem_backup_drill_last_duration_seconds", "How long it took.");
  if (drill.ok()) {
    s.value("pgtandem_backup_drill_last_passed", drill->passed ? 1 : 0);
    s.value("pgtandem_backup_drill_last_timestamp_seconds", epochSeconds(drill->started));
    s.value("pgtandem_backup_drill_last_duration_seconds", drill->seconds);
  }
  return s.text();
}

Status recordBackupFailure(Repository& repo, const std::string& stanza, BackupType type, const std::string& error,
                           const Clock& clock) {
  json::object o{{"time", formatIsoTime(clock.wallNow())}, {"type", backupTypeName(type)}, {"error", error}};
  return writeInfoFile(repo, failurePath(stanza), sealJson(std::move(o)));
}

}  // namespace pgtandem::backup
