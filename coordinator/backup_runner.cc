#include "coordinator/backup_runner.h"

#include <signal.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <sstream>

#include "common/pg/postgres.h"
#include "common/process/process.h"
#include "common/util/files.h"
#include "common/util/log.h"

namespace pgtandem::coordinator {

namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

class DcBackupRunner final : public BackupRunner {
 public:
  DcBackupRunner(const BackupSchedules& schedules, std::function<bool()> stopping)
      : config_(schedules.config), stopping_(std::move(stopping)) {}

  Result<BackupRunResult> backup(ScheduledKind kind, const Site& site, const dcs::MemberInfo& member) override {
    if (kind == ScheduledKind::kDrill) return makeError(ErrorCode::kInvalidArgument, "a drill is not a backup");
    auto where = pg::parseConnUrl(member.conn_url);
    if (!where.ok()) return makeError(where.error().code, member.name + " in " + site.name + ": " + where.error().message);
    return run({"backup", "--method", "pg_basebackup", "--type", scheduledKindName(kind), "--pg-host", where->first,
                "--pg-port", std::to_string(where->second)},
               "the backup of " + member.name + " in " + site.name);
  }

  Result<BackupRunResult> drill() override { return run({"drill"}, "the drill"); }

 private:
  Result<BackupRunResult> run(std::vector<std::string> verb, const std::string& what) {
    SpawnOptions spawn;
    // setpriv: the child dies with this thread (--pdeathsig), and runs as
    // postgres when we are root.
    spawn.argv = {"/usr/bin/setpriv", "--pdeathsig", "TERM"};
    if (::geteuid() == 0) {
      for (const char* arg : {"--reuid=postgres", "--regid=postgres", "--init-groups", "--reset-env"}) spawn.argv.push_back(arg);
    }
    spawn.argv.push_back("--");
    spawn.argv.push_back(siblingProgram("dc-backup", "backup"));
    spawn.argv.push_back(verb.front());
    spawn.argv.push_back("--config");
    spawn.argv.push_back(config_);
    for (std::size_t i = 1; i < verb.size(); ++i) spawn.argv.push_back(verb[i]);
    spawn.argv.push_back("--json");
    char output[] = "/tmp/pgtandem-scheduled-XXXXXX";
    const int fd = ::mkstemp(output);
    if (fd < 0) return makeError(ErrorCode::kIo, "cannot create a temporary file for " + what + "'s output");
    ::close(fd);
    spawn.output_file = output;
    auto child = spawnProcess(spawn);
    if (!child.ok()) {
      ::unlink(output);
      return makeError(child.error().code, "cannot start dc-backup for " + what + ": " + child.error().message);
    }
    spdlog::info("started {} (pid {})", what, (*child)->pid());
    std::optional<int> code;
    bool stopped = false;
    while (!code) {
      if (auto exited = (*child)->waitExit(1s); exited.ok()) {
        code = *exited;
      } else if (!stopped && stopping_ && stopping_()) {
        stopped = true;
        (void)::kill(-(*child)->pid(), SIGTERM);  // its process group: pg_basebackup too
      }
    }
    auto text = readWholeFile(output, "dc-backup output");
    ::unlink(output);
    const std::string out = text.ok() ? *text : "";
    if (stopped) return makeError(ErrorCode::kUnavailable, what + " was stopped: the coordinator is stopping");
    // The result is the last line that is a JSON object.
    std::vector<std::string> lines;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    json::object result;
    for (auto line = lines.rbegin(); line != lines.rend() && result.empty(); ++line) {
      if (line->empty() || line->front() != '{') continue;
      json::error_code ec;
      json::value parsed = json::parse(*line, ec);
      if (!ec && parsed.is_object()) result = parsed.as_object();
    }
    auto text_of = [&](const char* key) {
      const json::value* v = result.if_contains(key);
      return v && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    auto number_of = [&](const char* key) -> std::int64_t {
      const json::value* v = result.if_contains(key);
      return v && v->is_int64() ? v->as_int64() : v && v->is_uint64() ? static_cast<std::int64_t>(v->as_uint64()) : 0;
    };
    if (*code != 0) {
      const std::string message = text_of("message");
      return makeError(ErrorCode::kConflict, what + " failed (exit " + std::to_string(*code) + "): " +
                                                 (message.empty() ? tailLines(out, 3) : message));
    }
    if (result.empty()) return makeError(ErrorCode::kParse, what + " gave no result line: " + tailLines(out, 3));
    return BackupRunResult{text_of("label"), number_of("bytes"), number_of("copied_bytes")};
  }

  const std::string config_;
  std::function<bool()> stopping_;
};

}  // namespace

std::unique_ptr<BackupRunner> makeDcBackupRunner(const BackupSchedules& schedules, std::function<bool()> stopping) {
  return std::make_unique<DcBackupRunner>(schedules, std::move(stopping));
}

}  // namespace pgtandem::coordinator
