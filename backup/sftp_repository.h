#pragma once
// A repository on another host over SFTP (libssh): key authentication, the
// host key checked against known_hosts (an unknown or changed key is an
// error, never accepted), no secret in any message. Writes go to a
// temporary name, are flushed (fsync@openssh.com when the server has it)
// and renamed. libssh stays out of this header.

#include <memory>
#include <string>

#include "backup/repository.h"

namespace pgtandem::backup {

struct SftpLocation {
  std::string user, host;
  int port = 22;
  std::string path;  // absolute, on the remote host
};

// "sftp://user@host:port/path" (user and port optional).
Result<SftpLocation> parseSftpLocation(const std::string& url);

struct SftpOptions {
  std::string key_file;     // "": the user's default keys (~/.ssh/id_*) and ssh-agent
  std::string known_hosts;  // "": ~/.ssh/known_hosts
  int timeout_seconds = 10;
};

Result<std::unique_ptr<Repository>> openSftpRepository(const SftpLocation& location, const SftpOptions& options);

}  // namespace pgtandem::backup
