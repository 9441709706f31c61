#pragma once
// The coordinator's view of the DCs' PostgreSQL and REST APIs (SitePeers),
// answered from fields a test sets: restartpoints, health, /primary codes,
// members that do not answer.

#include <map>
#include <set>
#include <string>

#include "coordinator/site_peers.h"

namespace pgtandem::testing {

using coordinator::ControlPoint;
using coordinator::PrimaryHealth;
using coordinator::Site;
using coordinator::SitePeers;

class FakePeers final : public SitePeers {
 public:
  PrimaryHealth health;
  pgtandem::Lsn standby_redo = 1000;  // where DC2's standby leader's restartpoint lands
  bool dr1_in_recovery = true;
  std::map<std::string, int> primary_codes;  // member -> /primary status
  int checkpoints = 0;

  Status checkpoint(const Site&, const dcs::MemberInfo&) override {
    ++checkpoints;
    return okStatus();
  }
  Result<PrimaryHealth> primaryHealth(const Site&, const dcs::MemberInfo&) override { return health; }
  Result<ControlPoint> restartpoint(const Site&, const dcs::MemberInfo&) override {
    return ControlPoint{"7000", 1, standby_redo, dr1_in_recovery, standby_redo + 120};
  }
  Result<bool> inRecovery(const Site&, const dcs::MemberInfo& m) override {
    return m.name == "dr1" ? dr1_in_recovery : true;
  }
  std::set<std::string> unreachable;  // members whose REST API does not answer
  Result<int> primaryCheck(const dcs::MemberInfo& m) override {
    if (unreachable.count(m.name)) return makeError(ErrorCode::kUnavailable, "connection timed out");
    auto it = primary_codes.find(m.name);
    return it == primary_codes.end() ? 503 : it->second;
  }
};

}  // namespace pgtandem::testing
