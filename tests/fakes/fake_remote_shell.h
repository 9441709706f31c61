#pragma once
// A RemoteShell that records the commands it was given and answers as told.

#include <map>
#include <string>
#include <vector>

#include "common/ssh/ssh.h"

namespace pgtandem::testing {

class FakeRemoteShell final : public ssh::RemoteShell {
 public:
  Result<CommandResult> run(const ssh::SshTarget& target, const std::string& command,
                            std::chrono::milliseconds) override {
    ran.push_back(target.host + ": " + command);
    if (auto it = answers.find(target.host); it != answers.end()) return it->second;
    CommandResult ok;
    ok.exit_code = 0;
    return ok;
  }

  std::vector<std::string> ran;                                // "host: command", in order
  std::map<std::string, Result<CommandResult>> answers;        // by host; default: exit 0
};

}  // namespace pgtandem::testing
