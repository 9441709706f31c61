// The real TarBackupSource: pg_basebackup writing one tar stream to a pipe.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "backup/base_backup.h"
#include "common/pg/pg_session.h"
#include "common/process/process.h"
#include "common/util/files.h"

extern char** environ;

namespace pgtandem::backup {

namespace {

class PgBasebackupSource : public TarBackupSource {
 public:
  PgBasebackupSource(std::string conninfo, std::string bin_dir)
      : conninfo_(std::move(conninfo)), bin_dir_(std::move(bin_dir)) {}
  ~PgBasebackupSource() override {
    if (pid_ > 0) {  // stopped early: the stream is not wanted any more
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    for (int fd : {out_, err_}) {
      if (fd >= 0) ::close(fd);
    }
  }

  Result<Facts> facts() override {
    auto session = pg::PgSession::connect(conninfo_);
    if (!session.ok()) return makeError(session.error().code, "cannot connect to PostgreSQL: " + session.error().message);
    auto rows = (*session)->query(
        "SELECT (SELECT system_identifier::text FROM pg_control_system()), current_setting('server_version_num'), "
        "(SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'), "
        "(SELECT sum(pg_database_size(oid))::bigint::text FROM pg_database), pg_is_in_recovery()::text");
    if (!rows.ok()) return rows.error();
    if (rows->size() != 1 || !(*rows)[0][0] || !(*rows)[0][1] || !(*rows)[0][2]) {
      return makeError(ErrorCode::kParse, "the server's system identifier or version came back empty");
    }
    Facts facts;
    facts.system_identifier = *(*rows)[0][0];
    facts.in_recovery = (*rows)[0][4].value_or("") == "true";
    try {
      facts.pg_version = std::stoi(*(*rows)[0][1]) / 10000;
      facts.wal_segment_size = std::stoull(*(*rows)[0][2]);
      facts.estimated_bytes = std::stoull((*rows)[0][3].value_or("0"));
    } catch (const std::exception&) {
      return makeError(ErrorCode::kParse, "server_version_num or wal_segment_size does not parse");
    }
    major_ = facts.pg_version;
    return facts;
  }

  Status start(const std::string& label, bool fast_checkpoint) override {
    // -X fetch reads the WAL from start to stop at the end, from the
    // server's pg_wal: under load a restartpoint may have removed it by
    // then. A temporary slot, held by this session until the stream is
    // done, keeps it (the copy method does the same).
    auto held = pg::PgSession::connect(conninfo_);
    if (!held.ok()) return makeError(held.error().code, "cannot connect to PostgreSQL: " + held.error().message);
    auto slot = (*held)->query("SELECT pg_create_physical_replication_slot('pgtandem_stream_" + std::to_string(::getpid()) +
                               "', true, true)");
    if (!slot.ok()) {
      return makeError(slot.error().code, "cannot reserve the WAL with a temporary replication slot (is "
                                          "max_replication_slots used up?): " + slot.error().message);
    }
    slot_session_ = std::move(*held);
    std::string program = bin_dir_.empty() ? "/usr/lib/postgresql/" + std::to_string(major_) + "/bin" : bin_dir_;
    program += "/pg_basebackup";
    std::error_code ec;
    if (bin_dir_.empty() && !std::filesystem::exists(program, ec)) program = "pg_basebackup";
    // -D - writes the tar to stdout; -X fetch puts the WAL from start to
    // stop in it; its manifest (for the stop LSN) is injected at the end.
    std::vector<std::string> args = {program, "-d", conninfo_, "-D", "-", "-Ft", "-X", "fetch", "-c",
                                     fast_checkpoint ? "fast" : "spread", "-l", label, "--manifest-checksums=NONE", "-w"};
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return fileError("create", "a pipe", errno);
    char err_template[] = "/tmp/dc-backup-pg_basebackup-XXXXXX";
    err_ = ::mkostemp(err_template, O_CLOEXEC);
    if (err_ < 0) {
      ::close(out[0]);
      ::close(out[1]);
      return fileError("create", err_template, errno);
    }
    ::unlink(err_template);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err_, STDERR_FILENO);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int spawned = ::posix_spawnp(&pid_, program.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    out_ = out[0];
    if (spawned != 0) {
      pid_ = -1;
      return makeError(ErrorCode::kNotFound, "cannot start " + program + ": " + std::strerror(spawned));
    }
    return okStatus();
  }

  Result<std::size_t> read(char* out, std::size_t max) override {
    for (;;) {
      const ssize_t n = ::read(out_, out, max);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fileError("read", "pg_basebackup's output", errno);
      return static_cast<std::size_t>(n);
    }
  }

  Status finish() override {
    if (pid_ <= 0) return makeError(ErrorCode::kInternal, "pg_basebackup was not started");
    // The tar's end-of-archive blocks came, but pg_basebackup may still be
    // writing its last padding: closing now would kill it with SIGPIPE in
    // that write. What is left after a normal end is small; more than 1 MB
    // means the stream was stopped early, and then it is cut.
    char rest[65536];
    for (std::size_t drained = 0; drained < (1u << 20);) {
      const ssize_t n = ::read(out_, rest, sizeof rest);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      drained += static_cast<std::size_t>(n);
    }
    ::close(out_);  // a stream stopped early: pg_basebackup gets EPIPE and ends
    out_ = -1;
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    slot_session_.reset();  // the slot goes with it
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return okStatus();
    std::string errors(64 * 1024, '\0');
    const ssize_t n = ::pread(err_, errors.data(), errors.size(), 0);
    errors.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return makeError(ErrorCode::kUnavailable,
                     "pg_basebackup failed (" +
                         (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                            : "signal " + std::to_string(WTERMSIG(status))) +
                         "): " + tailLines(errors, 5));
  }

 private:
  std::string conninfo_, bin_dir_;
  int major_ = 15;
  std::unique_ptr<pg::PgSession> slot_session_;  // holds the temporary slot while the stream runs
  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
};

}  // namespace

Result<std::unique_ptr<TarBackupSource>> pgBasebackupSource(const std::string& conninfo, const std::string& bin_dir) {
  return std::unique_ptr<TarBackupSource>(std::make_unique<PgBasebackupSource>(conninfo, bin_dir));
}

}  // namespace pgtandem::backup
