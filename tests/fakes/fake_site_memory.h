#pragma once
// A SiteMemory that outlives the agents a test restarts (the file in the
// data directory, without the file).

#include "dc-agent/ha/site_memory.h"

namespace pgtandem::testing {

class FakeSiteMemory final : public agent::SiteMemory {
 public:
  bool seen() override { return seen_; }
  Status remember() override {
    seen_ = true;
    return okStatus();
  }

 private:
  bool seen_ = false;
};

}  // namespace pgtandem::testing
