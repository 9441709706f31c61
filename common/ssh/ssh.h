#pragma once
// Commands on other hosts over SSH (libssh): key authentication, the host
// key checked against known_hosts (an unknown or changed key is an error,
// never accepted), no secret in any message. The I/O boundary for remote
// steps such as a package install; a test double is in
// tests/fakes/fake_remote_shell.h. libssh stays out of this header.

#include <chrono>
#include <memory>
#include <string>

#include "common/process/process.h"
#include "common/util/result.h"

namespace pgtandem::ssh {

struct SshTarget {
  std::string user;  // "": the local user's name
  std::string host;
  int port = 22;
  std::string describe() const;  // "user@host:port"
};

struct SshOptions {
  std::string key_file;     // "": the user's default keys (~/.ssh/id_*) and ssh-agent
  std::string known_hosts;  // "": ~/.ssh/known_hosts
  int connect_timeout_seconds = 10;
};

class RemoteShell {
 public:
  virtual ~RemoteShell() = default;
  // Runs `command` with sh on the remote host; its exit code and its output
  // (stdout and stderr, capped at 1 MB). At the timeout the remote host's
  // coreutils `timeout` stops it (TERM, then KILL): exit_code -1, timed_out
  // (as for a command that exits 124 or 137 itself). An error only when
  // the command could not be run at all (no connection, host key,
  // authentication).
  virtual Result<CommandResult> run(const SshTarget& target, const std::string& command,
                                    std::chrono::milliseconds timeout) = 0;
};

// A new connection for each command.
std::unique_ptr<RemoteShell> makeLibsshRemoteShell(SshOptions options);

}  // namespace pgtandem::ssh
