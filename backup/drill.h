#pragma once
// `dc-backup drill`: a restore drill. The newest backup (or --set) is
// restored into a scratch directory, PostgreSQL starts there on a private
// socket with archiving off (a drill must never write into the archive),
// recovers to the end of the backup and promotes, a check query runs, and
// the server stops and the directory goes. Pass or fail, the time and the
// reason are recorded in the repository (<stanza>/drill.info), for
// `dc-backup info` and the metrics. pgBackRest's verify never restores;
// a drill does.

#include <chrono>
#include <memory>
#include <string>

#include "backup/repository.h"
#include "common/util/clock.h"

namespace pgtandem::backup {

// The drill's PostgreSQL: one server in one directory.
class DrillServer {
 public:
  virtual ~DrillServer() = default;
  // Starts it on a socket in `dir` and waits until it left recovery.
  virtual Status start(const std::string& dir, std::chrono::seconds timeout) = 0;
  // The first column of the first row of `sql`.
  virtual Result<std::string> query(const std::string& dir, const std::string& sql) = 0;
  virtual Status stop(const std::string& dir) = 0;
};
// The real one: pg_ctl and libpq (as `user`, "" the OS user's name); bin_dir
// "" takes /usr/lib/postgresql/<PG_VERSION>/bin.
std::unique_ptr<DrillServer> pgDrillServer(const std::string& bin_dir, const std::string& user);

struct DrillOptions {
  std::string scratch_dir;  // created, and removed afterwards
  std::string label;        // "": the newest finished backup
  std::string check_query = "SELECT count(*) FROM pg_catalog.pg_class";
  int process_max = 2;
  std::chrono::seconds timeout{600};
};

struct DrillRecord {
  std::string label;
  bool passed = false;
  std::string message;  // the check's answer, or what failed
  std::string started;  // ISO
  double seconds = 0;
};

// Runs the drill and records it; the record is returned whatever happened
// (an error only when the record itself could not be written).
Result<DrillRecord> runDrill(Repository& repo, const std::string& stanza, DrillServer& server,
                             const DrillOptions& options, const Clock& clock);

// The last drill's record; kNotFound when none ran.
Result<DrillRecord> readDrillRecord(Repository& repo, const std::string& stanza);

}  // namespace pgtandem::backup
