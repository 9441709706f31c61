#include "common/process/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace pgtandem {

namespace {

int pidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

std::string errnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

using SteadyClock = std::chrono::steady_clock;

// Builds the environment for a child: ours, with `extra` added or replaced.
std::vector<std::string> mergedEnvironment(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string::npos && extra.count(entry.substr(0, eq))) continue;
    env.push_back(std::move(entry));
  }
  for (const auto& [key, value] : extra) env.push_back(key + "=" + value);
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Forks and execs; `stdout_fd` becomes the child's stdout and stderr.
// Everything the child needs is prepared before fork(), since only
// async-signal-safe calls are allowed between fork() and exec().
Result<pid_t> forkExec(const std::vector<std::string>& argv_in, const std::map<std::string, std::string>& env_extra,
                       const std::string& cwd, int stdout_fd, bool new_session) {
  if (argv_in.empty()) return makeError(ErrorCode::kInvalidArgument, "empty command");
  std::vector<std::string> argv_copy = argv_in;
  std::vector<std::string> env = mergedEnvironment(env_extra);
  auto argv = pointers(argv_copy);
  auto envp = pointers(env);
  int error_pipe[2];
  if (::pipe2(error_pipe, O_CLOEXEC) != 0) return makeError(ErrorCode::kIo, errnoText("pipe"));
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(error_pipe[0]);
    ::close(error_pipe[1]);
    return makeError(ErrorCode::kIo, errnoText("fork"));
  }
  if (pid == 0) {
    ::close(error_pipe[0]);
    if (new_session) ::setsid();
    else ::setpgid(0, 0);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    if (stdout_fd >= 0) {
      ::dup2(stdout_fd, 1);
      ::dup2(stdout_fd, 2);
    }
    // Undo signal settings inherited from the agent (it ignores SIGPIPE).
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) {
      int err = errno;
      (void)!::write(error_pipe[1], &err, sizeof err);
      ::_exit(127);
    }
    ::execve(argv[0], argv.data(), envp.data());
    int err = errno;
    (void)!::write(error_pipe[1], &err, sizeof err);
    ::_exit(127);
  }
  ::close(error_pipe[1]);
  int child_errno = 0;
  const auto n = ::read(error_pipe[0], &child_errno, sizeof child_errno);
  ::close(error_pipe[0]);
  if (n == sizeof child_errno) {
    ::waitpid(pid, nullptr, 0);
    errno = child_errno;
    return makeError(ErrorCode::kIo, errnoText("cannot start " + argv_in[0]));
  }
  return pid;
}

}  // namespace

ProcessHandle::ProcessHandle(pid_t pid, int pidfd, bool is_child) : pid_(pid), pidfd_(pidfd), is_child_(is_child) {}

ProcessHandle::~ProcessHandle() {
  if (pidfd_ >= 0) ::close(pidfd_);
}

Result<std::unique_ptr<ProcessHandle>> ProcessHandle::adopt(pid_t pid) {
  const int fd = pidfdOpen(pid);
  if (fd < 0) {
    if (errno == ESRCH) return makeError(ErrorCode::kNotFound, "process " + std::to_string(pid) + " does not exist");
    return makeError(ErrorCode::kIo, errnoText("pidfd_open " + std::to_string(pid)));
  }
  return std::make_unique<ProcessHandle>(pid, fd, false);
}

void ProcessHandle::reapIfChild() {
  if (!is_child_ || exited_) return;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exited_ = true;
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
}

bool ProcessHandle::running() {
  if (exited_) return false;
  pollfd p{pidfd_, POLLIN, 0};
  if (::poll(&p, 1, 0) > 0) {
    reapIfChild();
    exited_ = true;
  }
  return !exited_;
}

Result<int> ProcessHandle::waitExit(std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  while (!exited_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    pollfd p{pidfd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::max<long>(0, left.count())));
    if (r > 0) {
      reapIfChild();
      exited_ = true;
      break;
    }
    if (r < 0 && errno == EINTR) continue;
    if (SteadyClock::now() >= deadline) {
      return makeError(ErrorCode::kTimeout, "process " + std::to_string(pid_) + " still running");
    }
  }
  return exit_status_;
}

Status ProcessHandle::signal(int signo) {
  if (!running()) return okStatus();
  // pidfd_send_signal cannot hit a recycled pid.
  if (::syscall(SYS_pidfd_send_signal, pidfd_, signo, nullptr, 0) != 0 && errno != ESRCH) {
    return makeError(ErrorCode::kIo, errnoText("signal " + std::to_string(signo) + " to " + std::to_string(pid_)));
  }
  return okStatus();
}

Result<std::unique_ptr<ProcessHandle>> spawnProcess(const SpawnOptions& options) {
  int out = -1;
  if (!options.output_file.empty()) {
    out = ::open(options.output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (out < 0) return makeError(ErrorCode::kIo, errnoText("open " + options.output_file));
  } else {
    out = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  }
  auto pid = forkExec(options.argv, options.env_extra, options.cwd, out, options.new_session);
  if (out >= 0) ::close(out);
  if (!pid.ok()) return pid.error();
  const int fd = pidfdOpen(*pid);
  if (fd < 0) {
    ::kill(*pid, SIGKILL);
    ::waitpid(*pid, nullptr, 0);
    return makeError(ErrorCode::kIo, errnoText("pidfd_open"));
  }
  return std::make_unique<ProcessHandle>(*pid, fd, true);
}

Result<CommandResult> PosixProcessRunner::run(const Command& command) {
  constexpr std::size_t kMaxOutput = 1 << 20;
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return makeError(ErrorCode::kIo, errnoText("pipe"));
  // Own process group, so a timeout kills the command's children too.
  auto pid = forkExec(command.argv, command.env_extra, command.cwd, pipe_fds[1], false);
  ::close(pipe_fds[1]);
  if (!pid.ok()) {
    ::close(pipe_fds[0]);
    return pid.error();
  }
  CommandResult result;
  const auto deadline = SteadyClock::now() + command.timeout;
  char buffer[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(-*pid, SIGKILL);
      break;
    }
    pollfd p{pipe_fds[0], POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 1000)));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    const auto n = ::read(pipe_fds[0], buffer, sizeof buffer);
    if (n <= 0) break;  // EOF: the command (and its children) closed the pipe
    if (result.output.size() < kMaxOutput) result.output.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  bool reaped = false;
  // After EOF the process may still be exiting; wait, bounded by the timeout.
  while (!reaped) {
    const pid_t r = ::waitpid(*pid, &status, WNOHANG);
    if (r == *pid) {
      reaped = true;
    } else if (r < 0) {
      break;
    } else if (result.timed_out || SteadyClock::now() >= deadline) {
      ::kill(-*pid, SIGKILL);
      result.timed_out = true;
      reaped = ::waitpid(*pid, &status, 0) == *pid;
      break;
    } else {
      ::usleep(5'000);
    }
  }
  result.exit_code = (reaped && !result.timed_out && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string tailLines(const std::string& text, std::size_t max_lines) {
  std::size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  std::size_t lines = 0;
  while (pos > 0) {
    const auto nl = text.rfind('\n', pos - 1);
    if (nl == std::string::npos) return text;
    if (++lines >= max_lines) return text.substr(nl + 1);
    pos = nl;
  }
  return text;
}

}  // namespace pgtandem
