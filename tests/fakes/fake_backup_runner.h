#pragma once
// A BackupRunner that records what it was asked and answers as told.

#include <string>
#include <vector>

#include "coordinator/backup_runner.h"

namespace pgtandem::testing {

class FakeBackupRunner final : public coordinator::BackupRunner {
 public:
  struct Call {
    coordinator::ScheduledKind kind;
    std::string site, member;
  };

  Result<coordinator::BackupRunResult> backup(coordinator::ScheduledKind kind, const coordinator::Site& site,
                                              const dcs::MemberInfo& member) override {
    calls.push_back({kind, site.name, member.name});
    return answer;
  }
  Result<coordinator::BackupRunResult> drill() override {
    calls.push_back({coordinator::ScheduledKind::kDrill, "", ""});
    return answer;
  }

  std::vector<Call> calls;
  Result<coordinator::BackupRunResult> answer = coordinator::BackupRunResult{"20261204-010000F", 2048, 1024};
};

}  // namespace pgtandem::testing
