#pragma once
// Runs the dc-backup binary under test (DC_BACKUP_BIN): its exit code and
// what it printed (stdout and stderr).

#include <string>
#include <utility>
#include <vector>

#include "common/process/process.h"

namespace pgtandem::testing {

inline std::pair<int, std::string> runDcBackup(ProcessRunner& runner, const std::vector<std::string>& args) {
  Command command;
  command.argv = {DC_BACKUP_BIN};
  command.argv.insert(command.argv.end(), args.begin(), args.end());
  auto ran = runner.run(command);
  if (!ran.ok()) return {-1, ran.error().toString()};
  return {ran->exit_code, ran->output};
}

}  // namespace pgtandem::testing
