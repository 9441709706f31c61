#include "common/ssh/ssh.h"

#include <algorithm>

#include "common/ssh/libssh_session.h"

namespace pgtandem::ssh {

std::string SshTarget::describe() const {
  return (user.empty() ? "" : user + "@") + host + ":" + std::to_string(port);
}

Result<Session> openSession(const SshTarget& target, const SshOptions& options, const std::string& what) {
  Session s(ssh_new());
  if (!s) return makeError(ErrorCode::kInternal, "libssh: cannot create a session");
  const std::string where = target.host + ":" + std::to_string(target.port);
  const int port = target.port;
  const long timeout = options.connect_timeout_seconds;
  ssh_options_set(s.get(), SSH_OPTIONS_HOST, target.host.c_str());
  ssh_options_set(s.get(), SSH_OPTIONS_PORT, &port);
  ssh_options_set(s.get(), SSH_OPTIONS_TIMEOUT, &timeout);
  if (!target.user.empty()) ssh_options_set(s.get(), SSH_OPTIONS_USER, target.user.c_str());
  if (!options.known_hosts.empty()) {
    ssh_options_set(s.get(), SSH_OPTIONS_KNOWNHOSTS, options.known_hosts.c_str());
    ssh_options_set(s.get(), SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
  }
  if (ssh_connect(s.get()) != SSH_OK) {
    return makeError(ErrorCode::kUnavailable, "cannot reach " + what + " " + where + ": " + ssh_get_error(s.get()));
  }
  const std::string known = options.known_hosts.empty() ? "~/.ssh/known_hosts" : options.known_hosts;
  switch (ssh_session_is_known_server(s.get())) {
    case SSH_KNOWN_HOSTS_OK: break;
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER:
      return makeError(ErrorCode::kPermissionDenied, "the host key of " + where + " is not the one in " + known +
                                                         ": refusing to connect (a changed key may be an attack)");
    case SSH_KNOWN_HOSTS_NOT_FOUND:
    case SSH_KNOWN_HOSTS_UNKNOWN:
      return makeError(ErrorCode::kPermissionDenied, where + " is not in " + known + ": add its host key (ssh-keyscan -p " +
                                                         std::to_string(target.port) + " " + target.host + ")");
    case SSH_KNOWN_HOSTS_ERROR:
      return makeError(ErrorCode::kIo, "cannot check the host key of " + where + ": " + ssh_get_error(s.get()));
  }
  int auth = SSH_AUTH_DENIED;
  if (!options.key_file.empty()) {
    ssh_key key = nullptr;
    if (ssh_pki_import_privkey_file(options.key_file.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK) {
      return makeError(ErrorCode::kUnauthenticated, "cannot read the private key " + options.key_file +
                                                        " (missing, unreadable, or protected by a passphrase)");
    }
    auth = ssh_userauth_publickey(s.get(), nullptr, key);
    ssh_key_free(key);
  } else {
    auth = ssh_userauth_publickey_auto(s.get(), nullptr, nullptr);
  }
  if (auth != SSH_AUTH_SUCCESS) {
    return makeError(ErrorCode::kUnauthenticated, "key authentication to " + target.describe() + " failed" +
                                                      (options.key_file.empty() ? "" : " with " + options.key_file));
  }
  return s;
}

namespace {

constexpr std::size_t kOutputCap = 1 << 20;

// 'text' for sh, single quotes closed around each quote.
std::string shellQuoted(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

void keep(std::string& output, const char* bytes, int n) {
  if (output.size() < kOutputCap) output.append(bytes, std::min<std::size_t>(static_cast<std::size_t>(n), kOutputCap - output.size()));
}

struct ChannelDeleter {
  void operator()(ssh_channel c) const {
    ssh_channel_close(c);
    ssh_channel_free(c);
  }
};

class LibsshRemoteShell final : public RemoteShell {
 public:
  explicit LibsshRemoteShell(SshOptions options) : options_(std::move(options)) {}

  Result<CommandResult> run(const SshTarget& target, const std::string& command,
                            std::chrono::milliseconds timeout) override {
    auto session = openSession(target, options_, "the host");
    if (!session.ok()) return session.error();
    std::unique_ptr<std::remove_pointer_t<ssh_channel>, ChannelDeleter> channel(ssh_channel_new(session->get()));
    // Bounded on the remote host itself: sshd does not pass a client's
    // signal on, and a closed channel does not stop a command without a
    // terminal. coreutils' timeout sends TERM, then KILL 5 s later.
    const auto seconds = std::max<std::int64_t>(1, (timeout.count() + 999) / 1000);
    const std::string bounded = "timeout -k 5 " + std::to_string(seconds) + " sh -c " + shellQuoted(command);
    if (!channel || ssh_channel_open_session(channel.get()) != SSH_OK ||
        ssh_channel_request_exec(channel.get(), bounded.c_str()) != SSH_OK) {
      return makeError(ErrorCode::kUnavailable,
                       "cannot run a command on " + target.describe() + ": " + ssh_get_error(session->get()));
    }
    CommandResult result;
    // Ours, a little later: the remote timeout answers first.
    const auto deadline = std::chrono::steady_clock::now() + timeout + std::chrono::seconds(10);
    char buffer[16384];
    while (!ssh_channel_is_eof(channel.get())) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        result.timed_out = true;
        return result;
      }
      for (int is_stderr : {0, 1}) {
        const int n = ssh_channel_read_timeout(channel.get(), buffer, sizeof buffer, is_stderr,
                                               static_cast<int>(std::min<std::int64_t>(left.count(), 200)));
        if (n == SSH_ERROR) {
          return makeError(ErrorCode::kUnavailable, "the connection to " + target.describe() +
                                                        " broke during the command: " + ssh_get_error(session->get()));
        }
        if (n > 0) keep(result.output, buffer, n);
      }
    }
    // What is left on stderr after stdout's end.
    for (int n; (n = ssh_channel_read_nonblocking(channel.get(), buffer, sizeof buffer, 1)) > 0;) keep(result.output, buffer, n);
    ssh_channel_send_eof(channel.get());
    result.exit_code = ssh_channel_get_exit_status(channel.get());
    if (result.exit_code == 124 || result.exit_code == 137) {  // timeout's: TERM, or KILL after it
      result.timed_out = true;
      result.exit_code = -1;
    }
    return result;
  }

 private:
  const SshOptions options_;
};

}  // namespace

std::unique_ptr<RemoteShell> makeLibsshRemoteShell(SshOptions options) {
  return std::make_unique<LibsshRemoteShell>(std::move(options));
}

}  // namespace pgtandem::ssh
