#include "backup/drill.h"

#include <boost/json.hpp>
#include <filesystem>

#include "backup/info_file.h"
#include "backup/manifest.h"
#include "backup/restore.h"
#include "common/pg/pg_session.h"
#include "common/pg/postgres.h"
#include "common/process/process.h"
#include "common/util/files.h"

#include <map>
#include <thread>

namespace pgtandem::backup {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

std::string drillPath(const std::string& stanza) { return stanza + "/drill.info"; }

// What the scratch server runs with besides the restored settings: a
// private socket and no TCP, archiving off, no TLS files, trust only on
// that socket (the directory is 0700), modest memory.
Status prepareScratch(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir + "/postgresql.conf", ec)) PGT_TRY(writeFileAtomically(dir + "/postgresql.conf", "", 0600));
  PGT_TRY(writeFileAtomically(dir + "/pgtandem_drill_hba.conf", "local all all trust\n", 0600));
  PGT_TRY(writeFileAtomically(dir + "/pgtandem_drill_ident.conf", "", 0600));
  const std::string settings =
      "\n# pgtandem restore drill\n"
      "port = 5432\nlisten_addresses = ''\nunix_socket_directories = '" + dir + "'\n"
      "archive_mode = off\narchive_command = ''\nssl = off\nshared_buffers = '128MB'\n"
      "hba_file = '" + dir + "/pgtandem_drill_hba.conf'\nident_file = '" + dir + "/pgtandem_drill_ident.conf'\n"
      "synchronous_standby_names = ''\nlogging_collector = off\nhot_standby = on\n";
  auto conf = readWholeFile(dir + "/postgresql.auto.conf", "configuration");
  return writeFileAtomically(dir + "/postgresql.auto.conf", (conf.ok() ? *conf : "") + settings, 0600);
}

json::object toJson(const DrillRecord& r) {
  return json::object{{"label", r.label}, {"passed", r.passed}, {"message", r.message}, {"started", r.started},
                      {"seconds", r.seconds}};
}

}  // namespace

Result<DrillRecord> runDrill(Repository& repo, const std::string& stanza, DrillServer& server,
                             const DrillOptions& options, const Clock& clock) {
  DrillRecord record;
  record.started = formatIsoTime(clock.wallNow());
  const auto t0 = clock.monotonicNow();
  Status outcome = [&]() -> Status {
    // Named before the restore, so that a failed one is recorded against it.
    record.label = options.label;
    if (record.label.empty()) {
      auto listing = listBackups(repo, stanza);
      if (!listing.ok()) return listing.error();
      if (listing->finished.empty()) return makeError(ErrorCode::kNotFound, "no finished backup to drill");
      record.label = listing->finished.back();
    }
    RestoreOptions restore;
    restore.to_dir = options.scratch_dir;
    restore.label = record.label;
    restore.process_max = options.process_max;
    restore.target.kind = TargetKind::kImmediate;  // consistent at the backup's end, from its own WAL
    restore.target.action = TargetAction::kPromote;
    restore.restore_command = "/bin/false";  // the drill never reads the archive either
    auto restored = restoreBackup(repo, stanza, restore, nullptr);
    if (!restored.ok()) return makeError(restored.error().code, "restore: " + restored.error().message);
    PGT_TRY(prepareScratch(options.scratch_dir));
    Status started = server.start(options.scratch_dir, options.timeout);
    if (!started.ok()) {
      (void)server.stop(options.scratch_dir);
      return makeError(started.error().code, "start: " + started.error().message);
    }
    auto answer = server.query(options.scratch_dir, options.check_query);
    Status stopped = server.stop(options.scratch_dir);
    if (!answer.ok()) return makeError(answer.error().code, "check query: " + answer.error().message);
    if (!stopped.ok()) return makeError(stopped.error().code, "stop: " + stopped.error().message);
    record.message = "check query answered " + *answer;
    return okStatus();
  }();
  record.passed = outcome.ok();
  if (!outcome.ok()) record.message = outcome.error().message;
  record.seconds = std::chrono::duration<double>(clock.monotonicNow() - t0).count();
  std::error_code ec;
  fs::remove_all(options.scratch_dir, ec);
  PGT_TRY(writeInfoFile(repo, drillPath(stanza), sealJson(toJson(record))));
  return record;
}

namespace {

class PgDrillServer : public DrillServer {
 public:
  PgDrillServer(std::string bin_dir, std::string user) : bin_dir_(std::move(bin_dir)), user_(std::move(user)) {}

  Status start(const std::string& dir, std::chrono::seconds timeout) override {
    auto ran = pgCtl(dir, {"start", "-w", "-t", std::to_string(timeout.count()), "-l", dir + "/pgtandem_drill.log"},
                     timeout + std::chrono::seconds(10));
    if (!ran.ok()) return ran.error();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string last;
    while (std::chrono::steady_clock::now() < deadline) {
      auto recovering = query(dir, "SELECT pg_is_in_recovery()::text");
      if (recovering.ok() && *recovering == "false") return okStatus();
      last = recovering.ok() ? "still in recovery" : recovering.error().message;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return makeError(ErrorCode::kTimeout, "the server did not finish recovery within " +
                                              std::to_string(timeout.count()) + " s (" + last + "); its log: " +
                                              tailLines(readWholeFile(dir + "/pgtandem_drill.log", "log").valueOr(""), 5));
  }

  Result<std::string> query(const std::string& dir, const std::string& sql) override {
    std::map<std::string, std::string> fields{{"host", dir}, {"port", "5432"}, {"dbname", "postgres"},
                                              {"application_name", "dc-backup drill"}, {"connect_timeout", "5"}};
    if (!user_.empty()) fields["user"] = user_;
    auto session = pg::PgSession::connect(pg::conninfo(fields));
    if (!session.ok()) return session.error();
    auto rows = (*session)->query(sql);
    if (!rows.ok()) return rows.error();
    if (rows->empty() || (*rows)[0].empty()) return std::string("(no rows)");
    return (*rows)[0][0].value_or("NULL");
  }

  Status stop(const std::string& dir) override {
    auto ran = pgCtl(dir, {"stop", "-m", "fast", "-w", "-t", "60"}, std::chrono::seconds(70));
    return ran.ok() ? okStatus() : ran.error();
  }

 private:
  Result<std::string> pgCtl(const std::string& dir, const std::vector<std::string>& args, std::chrono::seconds timeout) {
    std::string bin = bin_dir_;
    if (bin.empty()) {
      auto version = readWholeFile(dir + "/PG_VERSION", "PG_VERSION");
      if (!version.ok()) return version.error();
      bin = "/usr/lib/postgresql/" + version->substr(0, version->find('\n')) + "/bin";
    }
    Command command;
    command.argv = {bin + "/pg_ctl", "-D", dir};
    command.argv.insert(command.argv.end(), args.begin(), args.end());
    command.timeout = timeout;
    PosixProcessRunner runner;
    auto ran = runner.run(command);
    if (!ran.ok()) return ran.error();
    if (ran->exit_code != 0) {
      return makeError(ErrorCode::kUnavailable, "pg_ctl " + args.front() + " failed: " + tailLines(ran->output, 5) +
                                                    tailLines(readWholeFile(dir + "/pgtandem_drill.log", "log").valueOr(""), 5));
    }
    return ran->output;
  }

  std::string bin_dir_, user_;
};

}  // namespace

std::unique_ptr<DrillServer> pgDrillServer(const std::string& bin_dir, const std::string& user) {
  return std::make_unique<PgDrillServer>(bin_dir, user);
}

Result<DrillRecord> readDrillRecord(Repository& repo, const std::string& stanza) {
  auto sealed = readInfoFile(repo, drillPath(stanza));
  if (!sealed.ok()) return sealed.error();
  DrillRecord r;
  const auto text = [&](const char* key) {
    const json::value* v = sealed->if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  r.label = text("label");
  r.message = text("message");
  r.started = text("started");
  const json::value* passed = sealed->if_contains("passed");
  r.passed = passed && passed->is_bool() && passed->as_bool();
  const json::value* seconds = sealed->if_contains("seconds");
  r.seconds = seconds && seconds->is_number() ? seconds->to_number<double>() : 0;
  return r;
}

}  // namespace pgtandem::backup
