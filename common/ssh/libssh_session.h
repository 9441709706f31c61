#pragma once
// The connection shared by the SFTP repository and the remote shell:
// connect, check the host key, authenticate with a key. Include only from
// .cc files (it brings libssh's header).

#include <libssh/libssh.h>

#include <memory>
#include <string>

#include "common/ssh/ssh.h"

namespace pgtandem::ssh {

struct SessionDeleter {
  void operator()(ssh_session s) const {
    ssh_disconnect(s);
    ssh_free(s);
  }
};
using Session = std::unique_ptr<std::remove_pointer_t<ssh_session>, SessionDeleter>;

// `what` names the peer in messages ("the SFTP repository host").
Result<Session> openSession(const SshTarget& target, const SshOptions& options, const std::string& what);

}  // namespace pgtandem::ssh
