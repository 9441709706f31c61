#pragma once
// Starting and watching OS processes. A ProcessHandle wraps a pidfd, so the
// death of a process is noticed at once (poll on the fd) whether it is our
// child or a process we adopted (a postmaster left by a previous agent).

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/util/result.h"

namespace pgtandem {

struct SpawnOptions {
  std::vector<std::string> argv;                 // argv[0] is the program path
  std::map<std::string, std::string> env_extra;  // added to (or replacing in) our environment
  std::string cwd;                               // empty: inherit
  std::string output_file;                       // stdout+stderr appended here; empty: /dev/null
  bool new_session = true;                       // setsid(): our signals do not reach it
};

class ProcessHandle {
 public:
  // Takes over `pid` (a child of ours when `is_child`) and its pidfd.
  ProcessHandle(pid_t pid, int pidfd, bool is_child);
  ~ProcessHandle();
  ProcessHandle(const ProcessHandle&) = delete;
  ProcessHandle& operator=(const ProcessHandle&) = delete;

  // Opens a handle on a process we did not start. kNotFound if it is gone.
  static Result<std::unique_ptr<ProcessHandle>> adopt(pid_t pid);

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_; }
  bool isChild() const { return is_child_; }

  // True until the process has exited. Never blocks.
  bool running();
  // Waits up to `timeout` for the exit. Returns the exit status (of a child;
  // -1 for an adopted process), or kTimeout.
  Result<int> waitExit(std::chrono::milliseconds timeout);
  // Sends a signal; a process that already exited is not an error.
  Status signal(int signo);

 private:
  void reapIfChild();

  pid_t pid_;
  int pidfd_;
  bool is_child_;
  bool exited_ = false;
  int exit_status_ = -1;
};

Result<std::unique_ptr<ProcessHandle>> spawnProcess(const SpawnOptions& options);

struct CommandResult {
  int exit_code = -1;   // -1 when killed by a signal or on timeout
  bool timed_out = false;
  std::string output;   // stdout and stderr, interleaved, capped in size
};

struct Command {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env_extra;
  std::chrono::milliseconds timeout{60'000};
  std::string cwd;
};

// Runs commands to completion: the I/O boundary for initdb, pg_basebackup,
// pg_rewind, pg_controldata, callbacks and custom replica methods.
class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // Runs the command, killing it (and its process group) at the timeout.
  // An error only when it could not be started; a non-zero exit is a result.
  virtual Result<CommandResult> run(const Command& command) = 0;
};

class PosixProcessRunner final : public ProcessRunner {
 public:
  Result<CommandResult> run(const Command& command) override;
};

// The last `max_lines` lines of `text`, for error messages.
std::string tailLines(const std::string& text, std::size_t max_lines);

}  // namespace pgtandem
