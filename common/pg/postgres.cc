#include "common/pg/postgres.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "common/util/files.h"

namespace pgtandem::pg {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const char* kManagedHeader = "# Written by pgtandem; edits are overwritten. Put your settings in postgresql.base.conf\n"
                             "# or in the agent's configuration.\n";
const char* kRecoveryFile = "pgtandem.recovery.conf";

std::string quote(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += "''";
    else if (c == '\\') out += "\\\\";
    else out += c;
  }
  return out + "'";
}

// Reads `key = 'value'` lines of a file we wrote.
std::map<std::string, std::string> readSimpleConf(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find(" = ");
    if (eq == std::string::npos) continue;
    std::string value = line.substr(eq + 3);
    if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
      std::string unquoted;
      for (std::size_t i = 1; i + 1 < value.size(); ++i) {
        if (value[i] == '\'' && value[i + 1] == '\'') ++i;
        else if (value[i] == '\\' && value[i + 1] == '\\') ++i;
        unquoted += value[i];
      }
      value = unquoted;
    }
    out[line.substr(0, eq)] = value;
  }
  return out;
}

bool processAlive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

}  // namespace

// Splits "host:port" (listen may name several hosts: "127.0.0.1,::1:5432").
std::pair<std::string, int> splitHostPort(const std::string& value, int fallback_port) {
  const auto colon = value.rfind(':');
  if (colon == std::string::npos) return {value, fallback_port};
  int port = fallback_port;
  try {
    port = std::stoi(value.substr(colon + 1));
  } catch (...) {
  }
  return {value.substr(0, colon), port};
}

std::optional<int> versionNumber(const std::string& text) {
  int major = 0, minor = 0;
  if (std::sscanf(text.c_str(), "%d.%d", &major, &minor) < 1 || major <= 0) return std::nullopt;
  return major * 10000 + minor;
}

std::string versionText(int number) { return std::to_string(number / 10000) + "." + std::to_string(number % 10000); }

Result<int> installedVersion(ProcessRunner& runner, const std::string& bin_dir) {
  Command command;
  command.argv = {bin_dir + "/postgres", "--version"};
  command.timeout = std::chrono::seconds(10);
  auto ran = runner.run(command);
  if (!ran.ok()) return ran.error();
  // "postgres (PostgreSQL) 15.20 (Debian 15.20-1.pgdg120+1)"
  const auto at = ran->output.find(") ");
  const std::optional<int> number = ran->exit_code == 0 && at != std::string::npos ? versionNumber(ran->output.substr(at + 2))
                                                                                   : std::nullopt;
  if (!number) return makeError(ErrorCode::kParse, bin_dir + "/postgres --version said: " + tailLines(ran->output, 2));
  return *number;
}

Result<std::pair<std::string, int>> parseConnUrl(const std::string& url) {
  const std::string prefix = "postgres://";
  std::string rest = url.rfind(prefix, 0) == 0 ? url.substr(prefix.size()) : url.rfind("postgresql://", 0) == 0 ? url.substr(13) : "";
  if (rest.empty()) return makeError(ErrorCode::kParse, "not a postgres:// URL: " + url);
  if (const auto at = rest.find('@'); at != std::string::npos) rest = rest.substr(at + 1);
  rest = rest.substr(0, rest.find('/'));
  auto [host, port] = splitHostPort(rest, 5432);
  if (host.empty()) return makeError(ErrorCode::kParse, "no host in " + url);
  return std::make_pair(host, port);
}

std::optional<std::vector<TimelineSwitch>> parseTimelineHistory(const std::string& text) {
  std::vector<TimelineSwitch> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    TimelineSwitch entry;
    std::string lsn;
    if (!(fields >> entry.parent >> lsn)) return std::nullopt;
    auto parsed = parseLsn(lsn);
    if (!parsed.ok()) return std::nullopt;
    entry.lsn = *parsed;
    std::getline(fields >> std::ws, entry.reason);
    lines.push_back(std::move(entry));
  }
  return lines;
}

std::optional<Lsn> timelineForkPoint(const std::string& history, int timeline) {
  auto lines = parseTimelineHistory(history);
  if (!lines) return std::nullopt;
  for (const auto& line : *lines) {
    if (line.parent == timeline) return line.lsn;
  }
  return Lsn{0};
}

std::string historyFileName(int timeline) {
  char name[32];
  std::snprintf(name, sizeof name, "%08X.history", static_cast<unsigned>(timeline));
  return name;
}

Status refuseRoot(const std::string& program) {
  if (::geteuid() == 0) {
    return makeError(ErrorCode::kPermissionDenied,
                     program + " must not run as root: PostgreSQL refuses it. Run it as the postgres user, "
                               "e.g. runuser -u postgres -- " + program + " ...");
  }
  return okStatus();
}

const char* stopModeName(StopMode mode) {
  switch (mode) {
    case StopMode::kSmart: return "smart";
    case StopMode::kFast: return "fast";
    case StopMode::kImmediate: return "immediate";
  }
  return "fast";
}

ConfigChange recoveryChange(const RecoverySettings& before, const RecoverySettings& after) {
  if (before == after) return ConfigChange::kNone;
  if (before.standby != after.standby || before.recovery_target_timeline != after.recovery_target_timeline) {
    return ConfigChange::kRestart;
  }
  return ConfigChange::kReload;
}

Status writeServerSettings(const std::string& data_dir, const ServerSettings& settings) {
  const std::string conf = data_dir + "/postgresql.conf";
  const std::string base = data_dir + "/postgresql.base.conf";
  std::error_code ec;
  if (!fs::exists(base, ec)) {
    if (!fs::exists(conf, ec)) return makeError(ErrorCode::kIo, "no postgresql.conf in " + data_dir);
    fs::rename(conf, base, ec);
    if (ec) return makeError(ErrorCode::kIo, "cannot keep the original postgresql.conf: " + ec.message());
  }
  std::ostringstream out;
  out << kManagedHeader << "include 'postgresql.base.conf'\n";
  out << "port = " << settings.port << "\n";
  out << "listen_addresses = " << quote(settings.listen_addresses) << "\n";
  if (!settings.unix_socket_directories.empty()) {
    out << "unix_socket_directories = " << quote(settings.unix_socket_directories) << "\n";
  }
  for (const auto& [name, value] : settings.parameters) {
    if (name == "port" || name == "listen_addresses") continue;
    out << name << " = " << quote(value) << "\n";
  }
  out << "include_if_exists '" << kRecoveryFile << "'\n";
  return writeFileAtomically(conf, out.str());
}

Result<RecoverySettings> readRecoverySettings(const std::string& data_dir) {
  RecoverySettings settings;
  settings.standby = fs::exists(data_dir + "/standby.signal");
  const auto values = readSimpleConf(data_dir + "/" + kRecoveryFile);
  auto get = [&](const char* key) {
    auto it = values.find(key);
    return it == values.end() ? std::string() : it->second;
  };
  settings.primary_conninfo = get("primary_conninfo");
  settings.primary_slot_name = get("primary_slot_name");
  settings.restore_command = get("restore_command");
  settings.archive_cleanup_command = get("archive_cleanup_command");
  settings.recovery_min_apply_delay = get("recovery_min_apply_delay");
  settings.recovery_target_timeline = get("recovery_target_timeline");
  if (settings.recovery_target_timeline.empty()) settings.recovery_target_timeline = "latest";
  return settings;
}

Result<ConfigChange> writeRecoverySettings(const std::string& data_dir, const RecoverySettings& settings) {
  auto before = readRecoverySettings(data_dir);
  if (!before.ok()) return before.error();
  std::ostringstream out;
  out << kManagedHeader;
  out << "primary_conninfo = " << quote(settings.primary_conninfo) << "\n";
  out << "primary_slot_name = " << quote(settings.primary_slot_name) << "\n";
  out << "restore_command = " << quote(settings.restore_command) << "\n";
  out << "archive_cleanup_command = " << quote(settings.archive_cleanup_command) << "\n";
  // '' is not a valid interval: leave the setting out rather than write it.
  if (!settings.recovery_min_apply_delay.empty()) {
    out << "recovery_min_apply_delay = " << quote(settings.recovery_min_apply_delay) << "\n";
  }
  out << "recovery_target_timeline = " << quote(settings.recovery_target_timeline) << "\n";
  PGT_TRY(writeFileAtomically(data_dir + "/" + kRecoveryFile, out.str()));
  const std::string signal = data_dir + "/standby.signal";
  std::error_code ec;
  if (settings.standby) {
    PGT_TRY(writeFileAtomically(signal, ""));
  } else {
    fs::remove(signal, ec);
    if (ec) return makeError(ErrorCode::kIo, "cannot remove " + signal + ": " + ec.message());
  }
  return recoveryChange(*before, settings);
}

Result<ControlData> parseControlData(const std::string& output) {
  ControlData data;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    data.raw[line.substr(0, colon)] = value;
  }
  auto field = [&](const char* name) -> const std::string* {
    auto it = data.raw.find(name);
    return it == data.raw.end() ? nullptr : &it->second;
  };
  const std::string* sysid = field("Database system identifier");
  const std::string* state = field("Database cluster state");
  if (!sysid || !state) return makeError(ErrorCode::kParse, "pg_controldata output lacks the system identifier");
  data.system_identifier = *sysid;
  data.cluster_state = *state;
  auto lsn = [&](const char* name, Lsn& out) -> Status {
    if (const std::string* v = field(name)) {
      auto parsed = parseLsn(*v);
      if (!parsed.ok()) return parsed.error();
      out = *parsed;
    }
    return okStatus();
  };
  PGT_TRY(lsn("Latest checkpoint location", data.checkpoint_lsn));
  PGT_TRY(lsn("Latest checkpoint's REDO location", data.redo_lsn));
  PGT_TRY(lsn("Minimum recovery ending location", data.min_recovery_end_lsn));
  try {
    if (const std::string* v = field("Latest checkpoint's TimeLineID")) data.timeline = std::stoi(*v);
    if (const std::string* v = field("Min recovery ending loc's timeline")) data.min_recovery_end_timeline = std::stoi(*v);
  } catch (...) {
    return makeError(ErrorCode::kParse, "pg_controldata timeline is not a number");
  }
  if (const std::string* v = field("Latest checkpoint's REDO WAL file")) data.redo_wal_file = *v;
  if (const std::string* v = field("Data page checksum version")) data.data_checksums = *v != "0";
  return data;
}

Result<ControlData> readControlData(ProcessRunner& runner, const PgPaths& paths) {
  Command command;
  command.argv = {paths.bin("pg_controldata"), "-D", paths.data_dir};
  command.env_extra = {{"LC_ALL", "C"}};  // field names are translated otherwise
  command.timeout = 30s;
  auto result = runner.run(command);
  if (!result.ok()) return result.error();
  if (result->exit_code != 0) {
    return makeError(ErrorCode::kIo, "pg_controldata failed: " + tailLines(result->output, 5));
  }
  return parseControlData(result->output);
}

// ---------------------------------------------------------------------------

Postmaster::Postmaster(PgPaths paths, ProcessRunner& runner) : paths_(std::move(paths)), runner_(runner) {}
Postmaster::~Postmaster() = default;

Status Postmaster::initdb(const std::vector<std::string>& options, const std::string& superuser,
                          const std::string& password) {
  Command command;
  command.argv = {paths_.bin("initdb"), "-D", paths_.data_dir, "--auth-local=trust", "--auth-host=md5"};
  if (!superuser.empty()) command.argv.push_back("--username=" + superuser);
  std::string pwfile;
  if (!password.empty()) {
    pwfile = paths_.data_dir + ".pwfile";
    PGT_TRY(writeFileAtomically(pwfile, password + "\n", 0600));
    command.argv.push_back("--pwfile=" + pwfile);
  }
  command.argv.insert(command.argv.end(), options.begin(), options.end());
  command.env_extra = {{"LC_ALL", "C.UTF-8"}};
  command.timeout = 300s;
  auto result = runner_.run(command);
  if (!pwfile.empty()) ::unlink(pwfile.c_str());
  if (!result.ok()) return result.error();
  if (result->exit_code != 0) return makeError(ErrorCode::kIo, "initdb failed: " + tailLines(result->output, 10));
  return okStatus();
}

std::optional<pid_t> livePostmasterPid(const std::string& data_dir) {
  std::ifstream in(data_dir + "/postmaster.pid");
  long pid = 0;
  std::string data_dir_line;
  if (!(in >> pid) || pid <= 0) return std::nullopt;
  in >> data_dir_line;
  std::error_code ec;
  // The second line names the data directory: make sure the live pid is
  // really this cluster's postmaster, not a recycled pid.
  if (!data_dir_line.empty() && fs::equivalent(data_dir_line, data_dir, ec) == false) return std::nullopt;
  if (!processAlive(static_cast<pid_t>(pid))) return std::nullopt;
  std::ifstream comm_file("/proc/" + std::to_string(pid) + "/comm");
  std::string comm;
  comm_file >> comm;
  if (!comm.empty() && comm != "postgres" && comm != "postmaster") return std::nullopt;
  return static_cast<pid_t>(pid);
}

std::optional<pid_t> Postmaster::livePidFromFile() const { return livePostmasterPid(paths_.data_dir); }

Status Postmaster::start(std::chrono::milliseconds timeout) {
  if (running()) return okStatus();
  if (auto pid = livePidFromFile()) {
    auto handle = ProcessHandle::adopt(*pid);
    if (handle.ok()) {
      process_ = std::move(*handle);
      adopted_ = true;
      return waitUntilAccepting(timeout);
    }
  }
  SpawnOptions spawn;
  spawn.argv = {paths_.bin("postgres"), "-D", paths_.data_dir};
  spawn.output_file = logFile();
  spawn.env_extra = {{"LC_ALL", "C.UTF-8"}};
  auto process = spawnProcess(spawn);
  if (!process.ok()) return process.error();
  process_ = std::move(*process);
  adopted_ = false;
  return waitUntilAccepting(timeout);
}

Status Postmaster::waitUntilAccepting(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // postmaster.pid's 8th line is the status: "ready" or "standby" once the
  // server accepts connections.
  while (std::chrono::steady_clock::now() < deadline) {
    if (!running()) {
      std::ifstream log(logFile());
      std::stringstream text;
      text << log.rdbuf();
      return makeError(ErrorCode::kIo, "postgres exited during startup: " + tailLines(text.str(), 5));
    }
    // The file must be our postmaster's: a crashed one leaves a stale file
    // that may still say "ready".
    std::ifstream in(paths_.data_dir + "/postmaster.pid");
    std::string line;
    long file_pid = 0;
    if (std::getline(in, line)) file_pid = std::atol(line.c_str());
    for (int i = 1; i < 8 && std::getline(in, line); ++i) {
    }
    const bool ours = process_ && file_pid == process_->pid();
    if (ours && (line.find("ready") != std::string::npos || line.find("standby") != std::string::npos)) {
      return okStatus();
    }
    std::this_thread::sleep_for(50ms);
  }
  return makeError(ErrorCode::kTimeout, "postgres did not accept connections within " +
                                            std::to_string(timeout.count()) + " ms");
}

bool Postmaster::running() { return process_ && process_->running(); }

int Postmaster::pidfd() { return running() ? process_->pidfd() : -1; }

std::optional<pid_t> Postmaster::pid() const {
  if (!process_) return std::nullopt;
  return process_->pid();
}

Status Postmaster::stop(StopMode mode, std::chrono::milliseconds timeout) {
  if (!running()) {
    // Perhaps a postmaster we never adopted (the agent restarted).
    if (auto live = livePidFromFile()) {
      auto handle = ProcessHandle::adopt(*live);
      if (!handle.ok()) return okStatus();
      process_ = std::move(*handle);
    } else {
      return okStatus();
    }
  }
  const int signo = mode == StopMode::kSmart ? SIGTERM : mode == StopMode::kFast ? SIGINT : SIGQUIT;
  PGT_TRY(process_->signal(signo));
  auto exited = process_->waitExit(timeout);
  if (!exited.ok()) {
    return makeError(ErrorCode::kTimeout, std::string("postgres did not stop (") + stopModeName(mode) + ") within " +
                                              std::to_string(timeout.count()) + " ms");
  }
  return okStatus();
}

Status Postmaster::reload() {
  if (!running()) return makeError(ErrorCode::kUnavailable, "postgres is not running");
  return process_->signal(SIGHUP);
}

Status Postmaster::promote(std::chrono::milliseconds timeout) {
  Command command;
  command.argv = {paths_.bin("pg_ctl"), "promote", "-D", paths_.data_dir, "-w", "-t",
                  std::to_string(std::max<long>(1, std::chrono::duration_cast<std::chrono::seconds>(timeout).count()))};
  command.timeout = timeout + 5s;
  auto result = runner_.run(command);
  if (!result.ok()) return result.error();
  if (result->exit_code != 0) return makeError(ErrorCode::kIo, "pg_ctl promote failed: " + tailLines(result->output, 5));
  return okStatus();
}

Result<CommandResult> runBasebackup(ProcessRunner& runner, const PgPaths& paths, const std::string& source_conninfo,
                                    const std::string& target_dir, std::chrono::milliseconds timeout,
                                    const std::vector<std::string>& extra_options) {
  Command command;
  command.argv = {paths.bin("pg_basebackup"), "-D", target_dir, "-d", source_conninfo, "-X", "stream",
                  "-c", "fast", "--no-password"};
  // The user's options (postgresql.basebackup) last: pg_basebackup takes the
  // last of a repeated option, so --checkpoint=spread or --wal-method win.
  command.argv.insert(command.argv.end(), extra_options.begin(), extra_options.end());
  command.timeout = timeout;
  return runner.run(command);
}

Result<CommandResult> runRewind(ProcessRunner& runner, const PgPaths& paths, const std::string& source_conninfo,
                                std::chrono::milliseconds timeout) {
  Command command;
  command.argv = {paths.bin("pg_rewind"), "-D", paths.data_dir, "--source-server=" + source_conninfo,
                  "--progress"};  // PG 13+ runs crash recovery first when needed
  command.timeout = timeout;
  return runner.run(command);
}

bool rewindBeganChangingTarget(std::string_view output) {
  // "need to copy N MB (total source directory size is M MB)" is printed
  // right before the file map is executed.
  return output.find("need to copy ") != std::string_view::npos;
}

std::optional<std::string> backupLabelStartWalFile(std::string_view backup_label) {
  const auto line = backup_label.find("START WAL LOCATION:");
  if (line == std::string_view::npos) return std::nullopt;
  const auto file = backup_label.find("(file ", line);
  const auto end = backup_label.find('\n', line);
  if (file == std::string_view::npos || (end != std::string_view::npos && file > end)) return std::nullopt;
  const std::string name(backup_label.substr(file + 6, 24));
  if (name.size() != 24 || name.find_first_not_of("0123456789ABCDEF") != std::string::npos) return std::nullopt;
  return name;
}

std::optional<Lsn> rewindForkPoint(std::string_view output) {
  constexpr std::string_view kSays = "servers diverged at WAL location ";
  const auto at = output.find(kSays);
  if (at == std::string_view::npos) return std::nullopt;
  const auto start = at + kSays.size();
  const auto end = output.find(' ', start);
  auto lsn = parseLsn(output.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
  if (!lsn.ok()) return std::nullopt;
  return *lsn;
}

bool rewoundWalReachable(const std::string& start_file, Lsn fork, const std::string& source_oldest_file,
                         const std::vector<std::string>& local_files, std::uint64_t segment_size) {
  const auto start = walSegmentNumber(start_file, segment_size);
  const auto source_oldest = walSegmentNumber(source_oldest_file, segment_size);
  if (!start || !source_oldest) return true;  // nothing to compare: assume so
  if (*source_oldest > fork / segment_size) return false;
  std::set<std::uint64_t> local;
  for (const auto& name : local_files) {
    if (auto n = walSegmentNumber(name, segment_size)) local.insert(*n);
  }
  for (std::uint64_t n = *start; n < *source_oldest; ++n) {
    if (!local.count(n)) return false;
  }
  return true;
}

std::string conninfo(const std::map<std::string, std::string>& fields) {
  std::string out;
  for (const auto& [key, value] : fields) {
    if (!out.empty()) out += ' ';
    std::string escaped;
    for (char c : value) {
      if (c == '\'' || c == '\\') escaped += '\\';
      escaped += c;
    }
    out += key + "='" + escaped + "'";
  }
  return out;
}

}  // namespace pgtandem::pg
