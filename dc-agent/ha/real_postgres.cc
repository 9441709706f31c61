#include "dc-agent/ha/real_postgres.h"

#include <signal.h>
#include <sys/stat.h>

#include <cstring>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/util/files.h"
#include "common/util/log.h"

namespace pgtandem::agent {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr auto kStartTimeout = 120s;
constexpr auto kStopTimeout = 60s;
constexpr auto kStandbyStartWait = 5s;

std::string readFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

Status writeText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) return makeError(ErrorCode::kIo, "cannot write " + path);
  out << text;
  return out ? okStatus() : makeError(ErrorCode::kIo, "cannot write " + path);
}

}  // namespace

RealPostgres::RealPostgres(const config::Config& config, ProcessRunner& runner)
    : config_(config),
      runner_(runner),
      paths_{config.postgresql.bin_dir.empty() ? "/usr/lib/postgresql/15/bin" : config.postgresql.bin_dir,
             config.postgresql.data_dir},
      postmaster_(paths_, runner),
      dynamic_parameters_(config.bootstrap.dcs.parameters),
      query_timeout_s_(std::max(1, config.bootstrap.dcs.retry_timeout)) {
  auto [host, port] = pg::splitHostPort(config.postgresql.listen, 5432);
  host_ = host;
  port_ = port;
}

pg::ServerSettings RealPostgres::serverSettings() const {
  pg::ServerSettings s;
  s.port = port_;
  s.listen_addresses = host_ == "*" || host_ == "0.0.0.0" ? "*" : host_;
  // Settings an HA member needs, unless the user set them.
  s.parameters = {{"wal_level", "replica"}, {"hot_standby", "on"}, {"max_wal_senders", "10"},
                  {"max_replication_slots", "10"}, {"wal_keep_size", "128MB"}};
  if (config_.bootstrap.dcs.use_pg_rewind || config_.postgresql.use_pg_rewind) s.parameters["wal_log_hints"] = "on";
  for (const auto& [k, v] : dynamic_parameters_) s.parameters[k] = v;
  for (const auto& [k, v] : config_.postgresql.parameters) s.parameters[k] = v;
  // Our name, for the other DC's members to check theirs against.
  s.parameters["pgtandem.member_name"] = config_.name;
  // Only the agent sets it, from the synchronous-mode plan.
  s.parameters.erase("synchronous_standby_names");
  if (!synchronous_standby_names_.empty()) s.parameters["synchronous_standby_names"] = synchronous_standby_names_;
  if (auto it = s.parameters.find("unix_socket_directories"); it != s.parameters.end()) {
    s.unix_socket_directories = it->second;
    s.parameters.erase(it);
  }
  return s;
}

// The agent's own queries must not hang the HA loop (and with it the lease
// renewal) on a stuck server: bounded by retry_timeout.
std::string RealPostgres::statementTimeoutOption() const {
  return "-c statement_timeout=" + std::to_string(query_timeout_s_.load() * 1000);
}

void RealPostgres::setQueryTimeout(std::chrono::seconds timeout) {
  const int seconds = std::max<int>(1, static_cast<int>(timeout.count()));
  query_timeout_s_ = seconds;  // session() reconnects with it (on the thread that owns PostgreSQL)
}

void RealPostgres::refuseWritesNow() const {
  if (auto pid = pg::livePostmasterPid(paths_.data_dir)) {
    if (::kill(*pid, SIGINT) != 0) spdlog::error("cannot signal the postmaster {}: {}", *pid, std::strerror(errno));
  }
}

std::string RealPostgres::localConninfo() const {
  std::map<std::string, std::string> fields{{"host", host_ == "*" || host_ == "0.0.0.0" ? "127.0.0.1" : host_},
                                            {"port", std::to_string(port_)},
                                            {"dbname", "postgres"},
                                            {"connect_timeout", "3"},
                                            {"options", statementTimeoutOption()},
                                            {"user", config_.postgresql.superuser.username}};
  if (!config_.postgresql.superuser.password.empty()) fields["password"] = config_.postgresql.superuser.password;
  return pg::conninfo(fields);
}

Result<std::string> RealPostgres::memberConninfo(const dcs::MemberInfo& member, bool replication_user,
                                                 bool bounded) const {
  auto url = pg::parseConnUrl(member.conn_url);
  if (!url.ok()) return url.error();
  const auto& who = replication_user ? config_.postgresql.replication : config_.postgresql.superuser;
  std::map<std::string, std::string> fields{{"host", url->first}, {"port", std::to_string(url->second)},
                                            {"user", who.username}, {"dbname", "postgres"},
                                            {"connect_timeout", "5"}};
  // Not for replication connections: primary_conninfo must not limit the
  // walreceiver's statements.
  if (!replication_user && bounded) fields["options"] = statementTimeoutOption();
  if (!who.password.empty()) fields["password"] = who.password;
  // Several hosts (standby_cluster.host "a,b"): only the writable one is
  // the primary to follow, as in Patroni 3.3+.
  if (url->first.find(',') != std::string::npos) fields["target_session_attrs"] = "read-write";
  return pg::conninfo(fields);
}

pg::PgSession* RealPostgres::session() {
  if (session_ && session_timeout_s_ != query_timeout_s_.load()) dropSession();
  if (!session_) {
    session_timeout_s_ = query_timeout_s_.load();
    auto connected = pg::PgSession::connect(localConninfo());
    if (!connected.ok()) return nullptr;
    session_ = std::move(*connected);
  }
  return session_.get();
}

PgObservation RealPostgres::observe() {
  PgObservation o;
  std::error_code ec;
  o.data_initialized = fs::exists(paths_.data_dir + "/PG_VERSION", ec);
  if (!o.data_initialized) {
    system_id_.clear();
    return o;
  }
  if (system_id_.empty()) {
    if (auto control = pg::readControlData(runner_, paths_); control.ok()) system_id_ = control->system_identifier;
  }
  o.system_id = system_id_;
  if (!postmaster_.running() && postmaster_.livePidFromFile()) {
    // A postmaster left by a previous agent: adopt it, do not restart it.
    (void)postmaster_.start(5s);
  }
  o.running = postmaster_.running();
  const bool standby_signal = fs::exists(paths_.data_dir + "/standby.signal", ec);
  if (standby_signal) o.following = readFirstLine(followingFile());
  if (!o.running) {
    dropSession();
    // A primary's data directory (no standby.signal) that is not running:
    // if another member leads now, it must rewind before following.
    if (!standby_signal) {
      auto control = pg::readControlData(runner_, paths_);
      o.needs_rewind = control.ok() && (control->cluster_state == "shut down" || control->cluster_state == "in production");
    } else {
      o.needs_rewind = diverged_standby_;
    }
    return o;
  }
  pg::PgSession* s = session();
  if (!s) return o;  // starting up: running, role not known yet
  auto state = s->queryState();
  if (!state.ok()) {
    dropSession();
    return o;
  }
  o.primary = !state->in_recovery;
  o.timeline = state->timeline;
  o.receive_lsn = state->receive_lsn;
  o.replay_lsn = state->replay_lsn;
  o.synchronous_standby_names = synchronous_standby_names_;
  o.server_version = state->server_version;
  o.postmaster_start_time = state->postmaster_start_time;
  o.replayed_timestamp = state->replayed_timestamp;
  o.replay_paused = state->replay_paused;
  o.pending_restart = state->pending_restart;
  // New binaries under a running server (a minor upgrade installed): a
  // restart is pending, as Patroni reports it.
  if (const int installed = installedVersion(); installed > 0 && installed != state->server_version) {
    o.pending_restart.push_back("server_version");
  }
  for (const auto& slot : state->slots) {
    if (slot.type == "physical" && slot.restart_lsn) o.slot_positions[slot.name] = *slot.restart_lsn;
  }
  if (o.primary) {
    o.wal_position = state->current_lsn;
    o.following.clear();
    for (const auto& r : state->replication) {
      o.standbys.push_back({r.application_name, r.state, r.sync_state, r.usename, r.client_addr, r.sync_priority, r.flush_lsn});
    }
  } else {
    o.wal_position = std::max(state->receive_lsn.value_or(0), state->replay_lsn.value_or(0));
    o.streaming = state->wal_receiver_status == "streaming";
    o.upstream_lsn = state->sender_lsn;
    o.upstream_silence_seconds = state->upstream_silence_seconds;
  }
  return o;
}

Status RealPostgres::ensureStarted() {
  if (postmaster_.running()) return okStatus();
  dropSession();
  return postmaster_.start(kStartTimeout);
}

Status RealPostgres::ensureStartedAsStandby() {
  if (postmaster_.running()) return okStatus();
  dropSession();
  // A standby may need WAL from its upstream before it accepts connections;
  // waiting for that here would stall the HA loop. Running is enough.
  auto started = postmaster_.start(kStandbyStartWait);
  if (!started.ok() && started.error().code == ErrorCode::kTimeout && postmaster_.running()) return okStatus();
  // A standby that received WAL past the new leader's fork point (ahead of
  // the synchronous standby that was promoted) cannot start on the new
  // timeline: only a rewind brings it back (observe says so).
  if (!started.ok() && (started.error().message.find("does not contain minimum recovery point") != std::string::npos ||
                        started.error().message.find("is not a child of this server's history") != std::string::npos)) {
    spdlog::warn("this standby has WAL past the new timeline's fork point: it must rewind before it can follow");
    diverged_standby_ = true;
  }
  return started;
}

Result<std::string> RealPostgres::bootstrap() {
  std::error_code ec;
  fs::create_directories(fs::path(paths_.data_dir).parent_path(), ec);
  PGT_TRY(postmaster_.initdb(config_.bootstrap.initdb, config_.postgresql.superuser.username,
                             config_.postgresql.superuser.password));
  // pg_hba: bootstrap.pg_hba (Patroni), else postgresql.pg_hba.
  PGT_TRY(writeHba(config_.bootstrap.pg_hba.empty() ? config_.postgresql.pg_hba : config_.bootstrap.pg_hba));
  PGT_TRY(pg::writeServerSettings(paths_.data_dir, serverSettings()));
  auto recovery = pg::writeRecoverySettings(paths_.data_dir, pg::RecoverySettings{});
  if (!recovery.ok()) return recovery.error();
  PGT_TRY(ensureStarted());
  pg::PgSession* s = nullptr;
  for (int i = 0; i < 50 && !(s = session()); ++i) std::this_thread::sleep_for(100ms);
  if (!s) return makeError(ErrorCode::kUnavailable, "cannot connect to the new cluster");
  // The roles Patroni creates: replication and rewind users, then bootstrap.users.
  auto createRole = [&](const std::string& name, const std::string& password, const std::string& options) -> Status {
    if (name.empty() || name == config_.postgresql.superuser.username) return okStatus();
    std::string sql = "CREATE ROLE \"" + name + "\" WITH LOGIN " + options;
    if (!password.empty()) {
      std::string escaped;
      for (char c : password) escaped += c == '\'' ? std::string("''") : std::string(1, c);
      sql += " PASSWORD '" + escaped + "'";
    }
    return s->execute(sql);
  };
  PGT_TRY(createRole(config_.postgresql.replication.username, config_.postgresql.replication.password, "REPLICATION"));
  if (!config_.postgresql.rewind.username.empty()) {
    PGT_TRY(createRole(config_.postgresql.rewind.username, config_.postgresql.rewind.password, ""));
    const std::string who = "\"" + config_.postgresql.rewind.username + "\"";
    for (const char* fn : {"pg_catalog.pg_ls_dir(text, boolean, boolean)", "pg_catalog.pg_stat_file(text, boolean)",
                           "pg_catalog.pg_read_binary_file(text)", "pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)"}) {
      PGT_TRY(s->execute(std::string("GRANT EXECUTE ON FUNCTION ") + fn + " TO " + who));
    }
  }
  for (const auto& user : config_.bootstrap.users) {
    std::string options;
    for (const auto& o : user.options) options += o + " ";
    PGT_TRY(createRole(user.name, user.password, options));
  }
  if (!config_.bootstrap.post_bootstrap.empty()) {
    Command command;
    command.argv = {"/bin/sh", "-c", config_.bootstrap.post_bootstrap + " \"$0\"", localConninfo()};
    command.timeout = 300s;
    auto ran = runner_.run(command);
    if (!ran.ok()) return ran.error();
    if (ran->exit_code != 0) return makeError(ErrorCode::kIo, "post_bootstrap failed: " + tailLines(ran->output, 5));
  }
  auto control = pg::readControlData(runner_, paths_);
  if (!control.ok()) return control.error();
  system_id_ = control->system_identifier;
  return system_id_;
}

std::vector<config::ReplicaMethod> RealPostgres::replicaMethods() const {
  if (upstream_.replica_methods.empty()) return config_.postgresql.create_replica_methods;
  std::vector<config::ReplicaMethod> methods;
  for (const auto& name : upstream_.replica_methods) {
    if (name == "basebackup") {
      methods.push_back({name, {}});
    } else if (auto it = config_.postgresql.method_definitions.find(name); it != config_.postgresql.method_definitions.end()) {
      methods.push_back(it->second);
    } else {
      spdlog::warn("create_replica_methods names '{}', but postgresql.{} has no command: skipped", name, name);
    }
  }
  return methods;
}

Status RealPostgres::clone(const dcs::MemberInfo& source) {
  // A source without an address (a standby cluster fed from an archive
  // only) leaves the methods that need no connection.
  std::string conninfo;
  if (!source.conn_url.empty()) {
    auto made = memberConninfo(source, true);
    if (!made.ok()) return made.error();
    conninfo = *made;
  }
  std::error_code ec;
  fs::create_directories(fs::path(paths_.data_dir).parent_path(), ec);
  // pg_basebackup wants an empty or missing directory; a failed earlier
  // attempt leaves one behind.
  if (fs::exists(paths_.data_dir, ec) && !fs::exists(paths_.data_dir + "/PG_VERSION", ec)) fs::remove_all(paths_.data_dir, ec);
  for (const auto& method : replicaMethods()) {
    if (method.name == "basebackup") {
      if (conninfo.empty()) {
        spdlog::warn("replica method basebackup needs a host to copy from: skipped");
        continue;
      }
      auto result = pg::runBasebackup(runner_, paths_, conninfo, paths_.data_dir, 3600s, config_.postgresql.basebackup);
      if (!result.ok()) return result.error();
      if (result->exit_code == 0) break;
      spdlog::warn("pg_basebackup from {} failed: {}", source.name, tailLines(result->output, 5));
      fs::remove_all(paths_.data_dir, ec);
      continue;
    }
    auto it = method.options.find("command");
    if (it == method.options.end()) continue;
    Command command;
    command.argv = {"/bin/sh", "-c", it->second + " --scope=\"$1\" --datadir=\"$2\" --role=replica --connstring=\"$3\"",
                    "sh", config_.scope, paths_.data_dir, conninfo};
    if (method.options.count("no_params") && method.options.at("no_params") == "true") {
      command.argv = {"/bin/sh", "-c", it->second};
    }
    command.timeout = 3600s;
    auto ran = runner_.run(command);
    if (ran.ok() && ran->exit_code == 0 && fs::exists(paths_.data_dir + "/PG_VERSION", ec)) {
      spdlog::info("created the data directory with replica method {}", method.name);
      break;
    }
    spdlog::warn("replica method {} failed: {}", method.name, ran.ok() ? tailLines(ran->output, 5) : ran.error().toString());
  }
  if (!fs::exists(paths_.data_dir + "/PG_VERSION", ec)) {
    return makeError(ErrorCode::kIo, "every create_replica_method failed");
  }
  ::chmod(paths_.data_dir.c_str(), 0700);
  system_id_.clear();
  PGT_TRY(pg::writeServerSettings(paths_.data_dir, serverSettings()));
  return follow(&source);
}

Status RealPostgres::startPrimary() {
  auto change = pg::writeRecoverySettings(paths_.data_dir, pg::RecoverySettings{});
  if (!change.ok()) return change.error();
  PGT_TRY(pg::writeServerSettings(paths_.data_dir, serverSettings()));
  return ensureStarted();
}

Result<Lsn> RealPostgres::lastCheckpoint() {
  auto control = pg::readControlData(runner_, paths_);
  if (!control.ok()) return control.error();
  return control->checkpoint_lsn;
}

Result<dcs::DemotionToken> RealPostgres::demotionToken() {
  if (postmaster_.running() || pg::livePostmasterPid(paths_.data_dir)) {
    return makeError(ErrorCode::kConflict, "PostgreSQL still runs: no demotion token before a clean stop");
  }
  auto control = pg::readControlData(runner_, paths_);
  if (!control.ok()) return control.error();
  if (control->cluster_state != "shut down") {
    return makeError(ErrorCode::kConflict, "PostgreSQL did not stop cleanly as a primary (cluster state: " +
                                               control->cluster_state + ")");
  }
  dcs::DemotionToken token;
  token.system_identifier = control->system_identifier;
  token.timeline = control->timeline;
  token.redo_lsn = control->redo_lsn;
  token.redo_wal_file = control->redo_wal_file;
  token.archived = true;  // true also when there is no archive to push to
  if (archived_redo_file_ != token.redo_wal_file) {
    auto pushed = archiveWalFile(token.redo_wal_file);
    if (!pushed.ok()) {
      spdlog::warn("could not archive {} (the shutdown checkpoint's WAL file): {}", token.redo_wal_file,
                   pushed.error().toString());
      token.archived = false;
    } else if (*pushed) {
      spdlog::info("archived {}, the WAL file of the shutdown checkpoint", token.redo_wal_file);
      archived_redo_file_ = token.redo_wal_file;
    }
  }
  return token;
}

Result<bool> RealPostgres::archiveWalFile(const std::string& file_name) {
  const auto parameters = serverSettings().parameters;
  auto param = [&](const char* name) {
    auto it = parameters.find(name);
    return it == parameters.end() ? std::string() : it->second;
  };
  const std::string mode = param("archive_mode");
  const std::string archive_command = param("archive_command");
  if ((mode != "on" && mode != "always") || archive_command.empty()) return false;
  // %p is relative to the data directory, as the archiver runs it.
  std::string expanded;
  for (std::size_t i = 0; i < archive_command.size(); ++i) {
    if (archive_command[i] != '%' || i + 1 == archive_command.size()) {
      expanded += archive_command[i];
      continue;
    }
    const char next = archive_command[++i];
    if (next == 'p') expanded += "pg_wal/" + file_name;
    else if (next == 'f') expanded += file_name;
    else if (next == '%') expanded += '%';
    else expanded += std::string("%") + next;
  }
  Command command;
  command.argv = {"/bin/sh", "-c", expanded};
  command.cwd = paths_.data_dir;
  command.timeout = std::chrono::seconds(60);
  auto result = runner_.run(command);
  if (!result.ok()) return result.error();
  if (result->exit_code != 0) {
    return makeError(ErrorCode::kIo, "archive_command exited with " + std::to_string(result->exit_code) + ": " +
                                         tailLines(result->output, 3));
  }
  return true;
}

Result<TimelineHistoryFile> RealPostgres::ownTimelineHistory(int timeline) {
  const std::string path = paths_.data_dir + "/pg_wal/" + pg::historyFileName(timeline);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return makeError(ErrorCode::kNotFound, path + ": " + std::strerror(errno));
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) return makeError(ErrorCode::kIo, "cannot read " + path);
  auto lines = pg::parseTimelineHistory(text.str());
  if (!lines) return makeError(ErrorCode::kParse, path + " does not parse as a timeline history");
  return TimelineHistoryFile{std::move(*lines), WallTime(std::chrono::seconds(st.st_mtime))};
}

Result<Lsn> RealPostgres::receivedBy(const dcs::MemberInfo& member) {
  auto conninfo = memberConninfo(member, false);
  if (!conninfo.ok()) return conninfo.error();
  auto remote = pg::PgSession::connect(*conninfo);
  if (!remote.ok()) return remote.error();
  auto state = (*remote)->queryState();
  if (!state.ok()) return state.error();
  return std::max(state->receive_lsn.value_or(0), state->replay_lsn.value_or(0));
}

// The agent's quick questions to another member (or the other DC's
// primary) must not hold the loop: a short connect timeout.
Result<std::unique_ptr<pg::PgSession>> RealPostgres::askMember(const dcs::MemberInfo& member) const {
  auto conninfo = memberConninfo(member, false);
  if (!conninfo.ok()) return conninfo.error();
  return pg::PgSession::connect(*conninfo + " connect_timeout=2");
}

PeerState RealPostgres::probe(const dcs::MemberInfo& member) {
  PeerState peer;
  auto remote = askMember(member);
  if (!remote.ok()) return peer;
  auto state = (*remote)->queryState();
  if (!state.ok()) return peer;
  peer.reachable = true;
  peer.primary = !state->in_recovery;
  peer.timeline = state->timeline;
  peer.wal_position = peer.primary ? state->current_lsn
                                   : std::max(state->receive_lsn.value_or(0), state->replay_lsn.value_or(0));
  return peer;
}

Result<standby::RemoteNames> RealPostgres::namesAt(const dcs::MemberInfo& remote) {
  auto session = askMember(remote);
  if (!session.ok()) return session.error();
  auto rows = (*session)->query(
      "SELECT 'p', coalesce(current_setting('pgtandem.member_name', true), '') "
      "UNION ALL SELECT 'r', application_name FROM pg_stat_replication WHERE application_name <> ''");
  if (!rows.ok()) return rows.error();
  standby::RemoteNames names;
  for (const auto& row : *rows) {
    if (row.size() < 2 || !row[0] || !row[1]) continue;
    if (*row[0] == "p") {
      names.primary = *row[1];
    } else {
      names.application_names.push_back(*row[1]);
    }
  }
  return names;
}

Result<Lsn> RealPostgres::forkPoint(const dcs::MemberInfo& member, int their_timeline, int ours) {
  auto remote = askMember(member);
  if (!remote.ok()) return remote.error();
  auto rows = (*remote)->query("SELECT pg_read_file('pg_wal/" + pg::historyFileName(their_timeline) + "')");
  if (!rows.ok()) return rows.error();
  if (rows->empty() || rows->front().empty() || !rows->front()[0]) {
    return makeError(ErrorCode::kNotFound, "no history file for timeline " + std::to_string(their_timeline));
  }
  auto fork = pg::timelineForkPoint(*rows->front()[0], ours);
  if (!fork) return makeError(ErrorCode::kParse, "cannot read " + pg::historyFileName(their_timeline));
  return *fork;
}

Status RealPostgres::setDynamicParameters(const std::map<std::string, std::string>& parameters) {
  if (parameters == dynamic_parameters_) return okStatus();
  dynamic_parameters_ = parameters;
  // A stopped server gets them with its next start.
  if (!postmaster_.running()) return okStatus();
  PGT_TRY(pg::writeServerSettings(paths_.data_dir, serverSettings()));
  return postmaster_.reload();
}

Status RealPostgres::setSynchronousStandbyNames(const std::string& value) {
  synchronous_standby_names_ = value;
  PGT_TRY(pg::writeServerSettings(paths_.data_dir, serverSettings()));
  if (!postmaster_.running()) return okStatus();
  PGT_TRY(postmaster_.reload());
  if (!value.empty()) releaseWaitingCommits();
  return okStatus();
}

// Commits waiting for a standby that is gone are released only by a reply
// of the new synchronous standby, and a standby replies when it gets new
// WAL or every wal_receiver_status_interval (10 s): with every writer
// waiting there is no new WAL. Once a walsender counts the new standby as
// synchronous, one commit that waits for nobody gives it WAL to answer.
void RealPostgres::releaseWaitingCommits() {
  pg::PgSession* s = session();
  if (!s) return;
  for (int i = 0; i < 20; ++i) {  // the walsenders reload within milliseconds; bounded at 1 s
    auto rows = s->query("SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')");
    if (!rows.ok()) return;
    if (!rows->empty() && rows->front()[0] && *rows->front()[0] != "0") {
      if (auto nudged = s->execute("BEGIN; SET LOCAL synchronous_commit = local; SELECT txid_current(); COMMIT");
          !nudged.ok()) {
        spdlog::debug("could not write the WAL that releases waiting commits: {}", nudged.error().toString());
      }
      return;
    }
    std::this_thread::sleep_for(50ms);
  }
}

Status RealPostgres::follow(const dcs::MemberInfo* upstream) {
  synchronous_standby_names_.clear();  // a standby has no synchronous standbys
  pg::RecoverySettings settings;
  settings.standby = true;
  // An upstream without an address: a standby cluster replaying its archive only.
  if (upstream && !upstream->conn_url.empty()) {
    auto conninfo = memberConninfo(*upstream, true);
    if (!conninfo.ok()) return conninfo.error();
    settings.primary_conninfo = *conninfo + " application_name='" + config_.name + "'";
    settings.primary_slot_name = upstream_.slot;
  }
  settings.restore_command = upstream_.restore_command;
  settings.archive_cleanup_command = upstream_.archive_cleanup_command;
  settings.recovery_min_apply_delay = upstream_.recovery_min_apply_delay;
  // A running primary must stop before it can become a standby.
  if (postmaster_.running()) {
    pg::PgSession* s = session();
    auto state = s ? s->queryState() : Result<pg::ServerState>(makeError(ErrorCode::kUnavailable, "no session"));
    if (state.ok() && !state->in_recovery) PGT_TRY(demote());
  }
  PGT_TRY(pg::writeServerSettings(paths_.data_dir, serverSettings()));
  auto change = pg::writeRecoverySettings(paths_.data_dir, settings);
  if (!change.ok()) return change.error();
  PGT_TRY(writeText(followingFile(), upstream ? upstream->name + "\n" : "\n"));
  if (!postmaster_.running()) return ensureStartedAsStandby();
  if (*change == pg::ConfigChange::kReload) return postmaster_.reload();
  if (*change == pg::ConfigChange::kRestart) {
    PGT_TRY(demote());
    return ensureStartedAsStandby();
  }
  return okStatus();
}

Status RealPostgres::promote() {
  PGT_TRY(ensureStarted());
  pg::PgSession* s = session();
  if (s) {
    auto state = s->queryState();
    if (state.ok() && !state->in_recovery) return okStatus();  // already a primary
  }
  PGT_TRY(postmaster_.promote(60s));
  std::error_code ec;
  fs::remove(followingFile(), ec);
  dropSession();
  // Until a checkpoint runs, pg_control still names the old timeline, and a
  // pg_rewind against this server would wrongly find "no rewind required"
  // (Patroni #3367). Checkpoint now.
  if (pg::PgSession* fresh = session()) {
    if (auto checkpoint = fresh->execute("CHECKPOINT"); !checkpoint.ok()) {
      spdlog::warn("checkpoint after promote failed: {}", checkpoint.error().toString());
    }
  }
  return okStatus();
}

Status RealPostgres::demote() {
  dropSession();
  auto stopped = postmaster_.stop(pg::StopMode::kFast, kStopTimeout);
  if (stopped.ok()) return okStatus();
  spdlog::warn("fast shutdown timed out; using immediate: {}", stopped.error().toString());
  return postmaster_.stop(pg::StopMode::kImmediate, kStopTimeout);
}

Status RealPostgres::restart() {
  std::error_code ec;
  const bool standby = fs::exists(paths_.data_dir + "/standby.signal", ec);
  PGT_TRY(demote());
  PGT_TRY(pg::writeServerSettings(paths_.data_dir, serverSettings()));
  return standby ? ensureStartedAsStandby() : ensureStarted();
}

// With local trust for the agent's own socket connections. Empty: the
// file is left as it is.
Status RealPostgres::writeHba(const std::vector<std::string>& lines) {
  if (lines.empty()) return okStatus();
  std::string text = "# Written by pgtandem from postgresql.pg_hba (bootstrap.pg_hba at bootstrap)\nlocal all all trust\n";
  for (const auto& line : lines) text += line + "\n";
  return writeText(paths_.data_dir + "/pg_hba.conf", text);
}

// As Patroni's reload: postgresql.conf and pg_hba.conf from the agent's
// configuration as it is now (patroni.yml may have been re-read), then
// PostgreSQL re-reads them.
Status RealPostgres::reload() {
  if (!postmaster_.running()) return makeError(ErrorCode::kUnavailable, "PostgreSQL is not running");
  PGT_TRY(pg::writeServerSettings(paths_.data_dir, serverSettings()));
  PGT_TRY(writeHba(config_.postgresql.pg_hba));
  return postmaster_.reload();
}

Status RealPostgres::removeData() {
  if (postmaster_.running()) return makeError(ErrorCode::kConflict, "PostgreSQL is still running");
  dropSession();
  std::error_code ec;
  fs::remove_all(paths_.data_dir, ec);
  if (ec) return makeError(ErrorCode::kIo, "cannot remove " + paths_.data_dir + ": " + ec.message());
  system_id_.clear();
  return okStatus();
}

Status RealPostgres::syncSlots(const std::set<std::string>& wanted, const std::map<std::string, Lsn>& advance) {
  pg::PgSession* s = session();
  if (!s) return makeError(ErrorCode::kUnavailable, "no connection to PostgreSQL");
  auto state = s->queryState();
  if (!state.ok()) {
    dropSession();
    return state.error();
  }
  std::set<std::string> existing;
  for (const auto& slot : state->slots) {
    if (slot.type != "physical") continue;
    existing.insert(slot.name);
    if (!wanted.count(slot.name) && !slot.active) {
      PGT_TRY(s->execute("SELECT pg_drop_replication_slot('" + slot.name + "')"));
      spdlog::info("dropped replication slot {}", slot.name);
    }
  }
  for (const auto& name : wanted) {
    if (existing.count(name)) continue;
    // Names come from slotNameFor() or /config; refuse anything odd rather
    // than quote it into SQL.
    if (name.empty() || name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos) {
      spdlog::warn("not creating replication slot '{}': invalid name", name);
      continue;
    }
    PGT_TRY(s->execute("SELECT pg_create_physical_replication_slot('" + name + "', true)"));
    spdlog::info("created replication slot {}", name);
  }
  for (const auto& [name, position] : advance) {
    const auto slot = std::find_if(state->slots.begin(), state->slots.end(), [&](const auto& r) { return r.name == name; });
    // Just created (reserved at our replay position), or already there.
    if (slot == state->slots.end() || !slot->restart_lsn || *slot->restart_lsn >= position || slot->active) continue;
    auto moved = s->execute("SELECT pg_replication_slot_advance('" + name + "', '" + pg::formatLsn(position) + "')");
    if (!moved.ok()) spdlog::warn("could not advance replication slot {}: {}", name, moved.error().toString());
  }
  return okStatus();
}

Status RealPostgres::rewind(const dcs::MemberInfo& source) {
  diverged_standby_ = false;  // a failed start after this says so again
  if (!(config_.bootstrap.dcs.use_pg_rewind || config_.postgresql.use_pg_rewind)) {
    // Without pg_rewind the only way back is a fresh clone.
    spdlog::warn("use_pg_rewind is off: removing the data directory to re-clone from {}", source.name);
    return removedForReclone("use_pg_rewind is off");
  }
  // pg_rewind and the checkpoint are long operations with their own limits.
  auto conninfo = memberConninfo(source, false, /*bounded=*/false);
  if (!conninfo.ok()) return conninfo.error();
  // The source must have checkpointed since its promotion, or pg_rewind
  // reads its old timeline from pg_control and rewinds nothing.
  auto source_session = pg::PgSession::connect(*conninfo);
  if (!source_session.ok()) return source_session.error();
  PGT_TRY((*source_session)->execute("CHECKPOINT"));
  // pg_rewind's crash recovery pass starts postgres in single-user mode,
  // which reads our postgresql.conf.
  PGT_TRY(pg::writeServerSettings(paths_.data_dir, serverSettings()));
  auto result = pg::runRewind(runner_, paths_, *conninfo, 3600s);
  if (!result.ok()) return result.error();
  if (result->exit_code != 0) {
    spdlog::warn("pg_rewind from {} failed: {}", source.name, tailLines(result->output, 5));
    if (pg::rewindBeganChangingTarget(result->output)) {
      // Interrupted mid-copy (e.g. the source went away): part of our WAL is
      // now the source's, so nothing but a clone can use this directory.
      spdlog::warn("pg_rewind had begun changing the data directory when it failed: removing it to re-clone from {}",
                   source.name);
      return removedForReclone("pg_rewind failed after it began changing the data directory");
    }
    if (config_.postgresql.remove_data_directory_on_rewind_failure) return removedForReclone("pg_rewind failed");
    return makeError(ErrorCode::kIo, "pg_rewind failed: " + tailLines(result->output, 3));
  }
  spdlog::info("rewound from {}", source.name);
  PGT_TRY(refuseRewindTheSourceCannotFeed(source, *conninfo, result->output));
  // pg_rewind copied the source's configuration and signal files.
  return pg::writeServerSettings(paths_.data_dir, serverSettings());
}

// A rewound directory replays from the last common checkpoint: the WAL
// before the fork from its own pg_wal or the source, after it only from the
// source (or with restore_command). A source that no longer has it (cloned
// since, or recycled) leaves it never consistent: clone instead, saying why.
Status RealPostgres::refuseRewindTheSourceCannotFeed(const dcs::MemberInfo& source, const std::string& conninfo,
                                                     const std::string& rewind_output) {
  if (!upstream_.restore_command.empty()) return okStatus();  // the archive has it
  auto label = readWholeFile(paths_.data_dir + "/backup_label", "backup_label");
  const auto start = label.ok() ? pg::backupLabelStartWalFile(*label) : std::nullopt;
  const auto fork = pg::rewindForkPoint(rewind_output);
  auto control = pg::readControlData(runner_, paths_);
  if (!start || !fork || !control.ok()) return okStatus();
  const auto size_field = control->raw.find("Bytes per WAL segment");
  const std::uint64_t segment_size = size_field == control->raw.end()
                                         ? kDefaultWalSegmentSize
                                         : std::strtoull(size_field->second.c_str(), nullptr, 10);
  auto session = pg::PgSession::connect(conninfo);
  auto oldest = session.ok() ? (*session)->query("SELECT min(f) FROM pg_ls_dir('pg_wal') AS f WHERE f ~ '^[0-9A-F]{24}$'")
                             : Result<pg::PgSession::Rows>(session.error());
  if (!oldest.ok() || oldest->empty() || !oldest->front().at(0)) {
    spdlog::warn("cannot tell whether {} still has the WAL the rewound data directory needs: {}", source.name,
                 oldest.ok() ? "no WAL files listed" : oldest.error().toString());
    return okStatus();
  }
  std::vector<std::string> local;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(paths_.data_dir + "/pg_wal", ec)) local.push_back(entry.path().filename());
  const std::string& source_oldest = *oldest->front().at(0);
  if (pg::rewoundWalReachable(*start, *fork, source_oldest, local, segment_size)) return okStatus();
  spdlog::warn("the rewound data directory replays from WAL file {}, and from the fork at {} on only {} could send it, "
               "but its oldest WAL file is {}: the WAL in between is gone; removing the data directory to re-clone",
               *start, pg::formatLsn(*fork), source.name, source_oldest);
  return removedForReclone("the rewind source lacks the WAL to replay");
}

Status RealPostgres::removedForReclone(const std::string& why) {
  std::error_code ec;
  fs::remove_all(paths_.data_dir, ec);
  return makeError(ErrorCode::kIo, why + "; data directory removed for a re-clone");
}

int RealPostgres::installedVersion() {
  struct stat st {};
  if (::stat((paths_.bin_dir + "/postgres").c_str(), &st) != 0) return 0;
  const InstalledBinary now{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                            static_cast<std::uint64_t>(st.st_size), static_cast<std::int64_t>(st.st_mtime), 0};
  if (now.device != installed_.device || now.inode != installed_.inode || now.size != installed_.size ||
      now.mtime != installed_.mtime) {
    installed_ = now;
    auto version = pg::installedVersion(runner_, paths_.bin_dir);
    if (!version.ok()) spdlog::warn("cannot tell the installed PostgreSQL version: {}", version.error().message);
    installed_.version = version.ok() ? *version : 0;
  }
  return installed_.version;
}

}  // namespace pgtandem::agent
