#pragma once
// A real sshd on loopback for tests, started by the test with keys made for
// it: the host key, a client key in authorized_keys (root may log in with
// it), known_hosts files with the right key, another key, and none.

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "common/process/process.h"
#include "tests/support/ports.h"

namespace pgtandem::testing {

class Sshd {
 public:
  // Keys and configuration in `dir`; false (with `why`) when sshd is missing
  // or a key cannot be made.
  bool prepare(const std::string& dir, std::string& why) {
    dir_ = dir;
    if (!std::filesystem::exists("/usr/sbin/sshd")) {
      why = "openssh-server is not installed";
      return false;
    }
    for (const char* key : {"host_key", "client_key", "other_host_key"}) {
      if (std::system(("ssh-keygen -q -t ed25519 -N '' -f " + dir_ + "/" + key).c_str()) != 0) {
        why = std::string("ssh-keygen failed for ") + key;
        return false;
      }
    }
    std::filesystem::copy_file(dir_ + "/client_key.pub", dir_ + "/authorized_keys");
    port_ = freeLoopbackPort();
    std::ofstream(dir_ + "/sshd_config") << "Port " << port_ << "\nListenAddress 127.0.0.1\nHostKey " << dir_
                                         << "/host_key\nPidFile " << dir_ << "/sshd.pid\nAuthorizedKeysFile " << dir_
                                         << "/authorized_keys\nPermitRootLogin prohibit-password\n"
                                            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
                                            "StrictModes no\nSubsystem sftp internal-sftp\nLogLevel ERROR\n";
    std::filesystem::create_directories("/run/sshd");  // sshd's privilege separation directory
    knownHosts(dir_ + "/known_hosts", "host_key");
    knownHosts(dir_ + "/wrong_known_hosts", "other_host_key");
    std::ofstream(dir_ + "/empty_known_hosts") << "";
    return true;
  }

  // Starts it and waits until it listens (10 s at most).
  bool start() {
    SpawnOptions sshd;
    sshd.argv = {"/usr/sbin/sshd", "-D", "-e", "-f", dir_ + "/sshd_config"};
    sshd.output_file = dir_ + "/sshd.log";
    auto started = spawnProcess(sshd);
    if (!started.ok()) return false;
    process_ = std::move(*started);
    return waitForPort("127.0.0.1", port_, std::chrono::seconds(10));
  }

  void stop() {
    if (!process_) return;
    (void)process_->signal(SIGTERM);
    (void)process_->waitExit(std::chrono::seconds(10));
    process_.reset();
  }

  ~Sshd() { stop(); }

  int port() const { return port_; }
  std::string clientKey() const { return dir_ + "/client_key"; }
  std::string knownHostsFile() const { return dir_ + "/known_hosts"; }
  std::string wrongKnownHostsFile() const { return dir_ + "/wrong_known_hosts"; }
  std::string emptyKnownHostsFile() const { return dir_ + "/empty_known_hosts"; }
  std::string log() const {
    std::ifstream in(dir_ + "/sshd.log");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  void knownHosts(const std::string& file, const std::string& key) {
    std::ifstream in(dir_ + "/" + key + ".pub");
    std::string pub((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    pub = pub.substr(0, pub.rfind(' '));  // "ssh-ed25519 AAAA..." without the comment
    std::ofstream(file) << "[127.0.0.1]:" << port_ << " " << pub << "\n";
  }

  std::string dir_;
  int port_ = 0;
  std::unique_ptr<ProcessHandle> process_;
};

}  // namespace pgtandem::testing
