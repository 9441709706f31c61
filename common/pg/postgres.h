#pragma once
// Control of one PostgreSQL 15 data directory: initdb, the postmaster process
// (started as our child, or adopted when a previous agent left it running),
// stop modes, promote, reload, recovery settings in a file the agent owns,
// pg_controldata, and the pg_basebackup and pg_rewind runners.
// Everything here must run as the postgres OS user.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/process/process.h"
#include "common/util/lsn.h"
#include "common/util/result.h"

namespace pgtandem::pg {

using pgtandem::Lsn;

// Splits "host:port" (the port defaults to `fallback_port`).
std::pair<std::string, int> splitHostPort(const std::string& value, int fallback_port);
// The host and port of a member's conn_url (postgres://[user@]host:port/db).
Result<std::pair<std::string, int>> parseConnUrl(const std::string& url);

// "15.20" -> 150020; nullopt when it does not look like a version.
std::optional<int> versionNumber(const std::string& text);
// 150020 -> "15.20".
std::string versionText(int number);
// The version of the PostgreSQL binaries in `bin_dir` (`postgres --version`).
Result<int> installedVersion(ProcessRunner& runner, const std::string& bin_dir);

// LSN text helpers live in common/util/lsn.h.
using pgtandem::formatLsn;
using pgtandem::parseLsn;

// One line of a timeline history file ("parent_tli<TAB>switch_lsn<TAB>reason").
struct TimelineSwitch {
  int parent = 0;
  Lsn lsn = 0;
  std::string reason;
  bool operator==(const TimelineSwitch&) const = default;
};
// Every line of a history file, oldest first ('#' lines and blank ones
// skipped); nullopt when a line does not parse.
std::optional<std::vector<TimelineSwitch>> parseTimelineHistory(const std::string& text);

// A timeline history file: where it leaves `timeline`, the LSN past which a server still on
// `timeline` has diverged. 0 when `timeline` is not in it (another history
// altogether); nullopt when the text does not parse.
std::optional<Lsn> timelineForkPoint(const std::string& history, int timeline);

// The name of timeline `timeline`'s history file: 00000002.history.
std::string historyFileName(int timeline);

// Fails with a clear message when the effective user is root, which
// PostgreSQL refuses and which our agents must not be.
Status refuseRoot(const std::string& program);

struct PgPaths {
  std::string bin_dir = "/usr/lib/postgresql/15/bin";
  std::string data_dir;
  std::string bin(const std::string& program) const { return bin_dir + "/" + program; }
};

enum class StopMode { kSmart, kFast, kImmediate };
const char* stopModeName(StopMode mode);

// Settings the agent owns; written to postgresql.conf (which includes the
// original as postgresql.base.conf) so that no ALTER SYSTEM is needed.
struct ServerSettings {
  int port = 5432;
  std::string listen_addresses = "127.0.0.1";
  std::string unix_socket_directories;  // empty: PostgreSQL's default
  std::map<std::string, std::string> parameters;
};

// Recovery settings (PostgreSQL 12+): standby.signal plus parameters.
struct RecoverySettings {
  bool standby = false;  // standby.signal present
  std::string primary_conninfo;
  std::string primary_slot_name;
  std::string restore_command;
  std::string archive_cleanup_command;
  std::string recovery_min_apply_delay;
  std::string recovery_target_timeline = "latest";

  bool operator==(const RecoverySettings&) const = default;
};

enum class ConfigChange { kNone, kReload, kRestart };

// What changing recovery settings from `before` to `after` needs: in
// PostgreSQL 15 primary_conninfo, primary_slot_name, restore_command,
// archive_cleanup_command and recovery_min_apply_delay take
// a reload; standby.signal and recovery_target_timeline need a restart.
ConfigChange recoveryChange(const RecoverySettings& before, const RecoverySettings& after);

// Writes postgresql.conf (agent-owned) atomically. The first call moves an
// initdb- or basebackup-made postgresql.conf to postgresql.base.conf.
Status writeServerSettings(const std::string& data_dir, const ServerSettings& settings);

// Writes pgtandem.recovery.conf and standby.signal atomically; returns what
// the running server needs to pick the change up.
Result<ConfigChange> writeRecoverySettings(const std::string& data_dir, const RecoverySettings& settings);
Result<RecoverySettings> readRecoverySettings(const std::string& data_dir);

// The fields of pg_controldata the agent and the coordinator use.
struct ControlData {
  std::string system_identifier;
  std::string cluster_state;  // "in production", "shut down", "shut down in recovery", "in archive recovery", ...
  int timeline = 0;           // Latest checkpoint's TimeLineID
  Lsn checkpoint_lsn = 0;
  Lsn redo_lsn = 0;
  std::string redo_wal_file;
  Lsn min_recovery_end_lsn = 0;
  int min_recovery_end_timeline = 0;
  bool data_checksums = false;
  std::map<std::string, std::string> raw;
};
Result<ControlData> parseControlData(const std::string& output);
Result<ControlData> readControlData(ProcessRunner& runner, const PgPaths& paths);

// The pid in `data_dir`/postmaster.pid when that process is alive and is this
// data directory's postmaster (not a recycled pid).
std::optional<pid_t> livePostmasterPid(const std::string& data_dir);

// The postmaster of one data directory.
class Postmaster {
 public:
  Postmaster(PgPaths paths, ProcessRunner& runner);
  ~Postmaster();

  // initdb with the given options (e.g. --data-checksums) and superuser.
  // The password, if any, goes through a file readable only by us.
  Status initdb(const std::vector<std::string>& options, const std::string& superuser, const std::string& password);

  // Starts the postmaster and waits until it accepts connections (or, for a
  // standby, until it is running). A postmaster already running on this data
  // directory (postmaster.pid with a live pid) is adopted, not restarted.
  Status start(std::chrono::milliseconds timeout);
  // True when we hold a handle on a postmaster that has not exited.
  bool running();
  // The pidfd of a running postmaster: readable when it exits (for a poll
  // loop). -1 once it has exited: its pidfd stays readable, and a loop
  // polling it would spin (a server that fails to start would be retried
  // with no pause).
  int pidfd();
  std::optional<pid_t> pid() const;
  bool adopted() const { return adopted_; }

  // Stops with the given mode and waits up to `timeout`. Safe to repeat: a
  // stopped server is not an error.
  Status stop(StopMode mode, std::chrono::milliseconds timeout);
  Status reload();
  // pg_ctl promote, waiting until the server leaves recovery.
  Status promote(std::chrono::milliseconds timeout);

  // The pid in postmaster.pid when that process is alive.
  std::optional<pid_t> livePidFromFile() const;
  const PgPaths& paths() const { return paths_; }
  std::string logFile() const { return paths_.data_dir + "/pgtandem-postmaster.log"; }

 private:
  Status waitUntilAccepting(std::chrono::milliseconds timeout);

  PgPaths paths_;
  ProcessRunner& runner_;
  std::unique_ptr<ProcessHandle> process_;
  bool adopted_ = false;
};

// pg_basebackup into `target_dir` (created, must be empty), streaming WAL.
Result<CommandResult> runBasebackup(ProcessRunner& runner, const PgPaths& paths, const std::string& source_conninfo,
                                    const std::string& target_dir, std::chrono::milliseconds timeout,
                                    const std::vector<std::string>& extra_options = {});
// pg_rewind of paths.data_dir (cleanly shut down) from a running source.
Result<CommandResult> runRewind(ProcessRunner& runner, const PgPaths& paths, const std::string& source_conninfo,
                                std::chrono::milliseconds timeout);
// Whether a pg_rewind run (its --progress output) had begun copying into the
// target: from then on a failure leaves a data directory that neither starts
// nor rewinds again (its WAL is partly the source's), so only a re-clone
// brings it back. Before that, pg_rewind has only read it.
bool rewindBeganChangingTarget(std::string_view output);
// The WAL file a rewound (or restored) data directory replays from: the
// "START WAL LOCATION: 0/5000028 (file 000000010000000000000005)" line of
// its backup_label.
std::optional<std::string> backupLabelStartWalFile(std::string_view backup_label);
// Where pg_rewind found the servers diverged ("servers diverged at WAL
// location 0/600A448 on timeline 1").
std::optional<Lsn> rewindForkPoint(std::string_view output);
// Whether a rewound data directory can replay to consistency without an
// archive. It replays from `start_file`; the WAL from the fork's segment on
// exists only on the source (whose oldest segment is `source_oldest_file`,
// any timeline), and the segments before the source's oldest must be among
// its own `local_files` (names in its pg_wal).
bool rewoundWalReachable(const std::string& start_file, Lsn fork, const std::string& source_oldest_file,
                         const std::vector<std::string>& local_files, std::uint64_t segment_size);

// Builds a libpq keyword/value connection string; values are quoted.
std::string conninfo(const std::map<std::string, std::string>& fields);

}  // namespace pgtandem::pg
