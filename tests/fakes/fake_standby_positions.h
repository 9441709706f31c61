#pragma once
// Archive-fed standby DCs' replay positions, as the test sets them.

#include <map>
#include <string>

#include "backup/expire.h"

namespace pgtandem::testing {

class FakeStandbyPositions : public backup::StandbyPositions {
 public:
  Result<Lsn> replayed(const backup::StandbyDc& dc) override {
    ++reads;
    const auto it = positions.find(dc.name);
    if (it == positions.end()) return makeError(ErrorCode::kUnavailable, dc.name + ": etcd did not answer (the test)");
    return it->second;
  }
  std::map<std::string, Lsn> positions;  // a DC left out cannot be read
  int reads = 0;
};

}  // namespace pgtandem::testing
