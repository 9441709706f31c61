#include "dc-agent/ha/callbacks.h"

#include <signal.h>

#include "common/util/log.h"

namespace pgtandem::agent {

ScriptCallbacks::ScriptCallbacks(std::map<std::string, std::string> commands, std::string scope, ProcessRunner& runner)
    : commands_(std::move(commands)), scope_(std::move(scope)), runner_(runner) {}

ScriptCallbacks::~ScriptCallbacks() {
  std::lock_guard lock(mutex_);
  if (running_ && running_->running()) (void)running_->waitExit(std::chrono::seconds(5));
}

void ScriptCallbacks::setCommands(std::map<std::string, std::string> commands) {
  std::lock_guard lock(mutex_);
  commands_ = std::move(commands);
}

std::string ScriptCallbacks::commandFor(const std::string& action) {
  std::lock_guard lock(mutex_);
  auto it = commands_.find(action);
  return it == commands_.end() ? "" : it->second;
}

void ScriptCallbacks::notify(const std::string& action, const std::string& role) {
  const std::string command = commandFor(action);
  if (command.empty()) return;
  std::lock_guard lock(mutex_);
  if (running_ && running_->running()) {
    spdlog::info("callback still running; stopping it for {}", action);
    (void)running_->signal(SIGKILL);
    (void)running_->waitExit(std::chrono::seconds(5));
  }
  SpawnOptions spawn;
  // Through the shell, so a command line with arguments works as in Patroni.
  spawn.argv = {"/bin/sh", "-c", command + " \"$@\"", "sh", action, role, scope_};
  auto started = spawnProcess(spawn);
  if (!started.ok()) {
    spdlog::warn("callback {} could not start: {}", action, started.error().toString());
    running_.reset();
    return;
  }
  running_ = std::move(*started);
}

Status ScriptCallbacks::prePromote() {
  const std::string script = commandFor("pre_promote");
  if (script.empty()) return okStatus();
  Command command;
  command.argv = {"/bin/sh", "-c", script + " \"$@\"", "sh", "pre_promote", "primary", scope_};
  command.timeout = std::chrono::seconds(60);
  auto ran = runner_.run(command);
  if (!ran.ok()) return ran.error();
  if (ran->exit_code != 0) {
    return makeError(ErrorCode::kIo, "pre_promote exited with " + std::to_string(ran->exit_code) + ": " +
                                         tailLines(ran->output, 3));
  }
  return okStatus();
}

}  // namespace pgtandem::agent
