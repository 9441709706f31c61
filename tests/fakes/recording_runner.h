#pragma once
// A ProcessRunner that runs nothing: it records each command and answers
// with a chosen result.

#include <vector>

#include "common/process/process.h"

namespace pgtandem::testing {

class RecordingRunner final : public ProcessRunner {
 public:
  Result<CommandResult> run(const Command& command) override {
    commands.push_back(command);
    return answer;
  }
  std::vector<Command> commands;
  CommandResult answer{};
};

}  // namespace pgtandem::testing
