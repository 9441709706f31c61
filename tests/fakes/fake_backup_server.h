#pragma once
// The PostgreSQL side of a base backup, scripted: start and stop return
// what the test set, and `during_copy` runs between them (files changed
// while the copy runs).

#include <functional>
#include <string>

#include "backup/base_backup.h"

namespace pgtandem::testing {

class FakeBackupServer : public backup::BackupServer {
 public:
  Result<bool> inRecovery() override { return started.in_recovery; }
  Result<Started> start(const std::string& label, bool fast_checkpoint) override {
    started_label = label;
    fast = fast_checkpoint;
    if (fail_start) return makeError(ErrorCode::kUnavailable, "start refused by the test");
    return started;
  }
  Result<Stopped> stop() override {
    ++stops;
    if (fail_stop) return makeError(ErrorCode::kUnavailable, "stop refused by the test");
    return stopped;
  }

  Started started;
  Stopped stopped;
  bool fail_start = false, fail_stop = false;
  std::string started_label;
  bool fast = false;
  int stops = 0;
};

}  // namespace pgtandem::testing
