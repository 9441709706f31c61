#pragma once
// Patroni's user callbacks: `<command> <action> <role> <scope>`.
// on_start, on_stop, on_restart, on_reload and on_role_change run in the
// background, one at a time: a new one stops a still-running one (as in
// Patroni). pre_promote runs to completion before a promotion, and a
// non-zero exit cancels the promotion.

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/process/process.h"

namespace pgtandem::agent {

class Callbacks {
 public:
  virtual ~Callbacks() = default;
  // action: on_start, on_stop, on_restart, on_reload, on_role_change.
  // role: primary, replica, standby_leader, demoted.
  virtual void notify(const std::string& action, const std::string& role) = 0;
  // Runs pre_promote; an error when it fails (or cannot run).
  virtual Status prePromote() = 0;
};

class ScriptCallbacks final : public Callbacks {
 public:
  ScriptCallbacks(std::map<std::string, std::string> commands, std::string scope, ProcessRunner& runner);
  ~ScriptCallbacks() override;
  void notify(const std::string& action, const std::string& role) override;
  Status prePromote() override;
  // patroni.yml re-read: the callbacks from now on.
  void setCommands(std::map<std::string, std::string> commands);

 private:
  std::string commandFor(const std::string& action);

  std::map<std::string, std::string> commands_;
  std::string scope_;
  ProcessRunner& runner_;
  std::mutex mutex_;
  std::unique_ptr<ProcessHandle> running_;
};

}  // namespace pgtandem::agent
