#pragma once
// A DC's site key as the test sets it, for archive-push's guard.

#include "backup/site_guard.h"

namespace pgtandem::testing {

class FakeSiteSource : public backup::SiteSource {
 public:
  backup::SiteReading read() override {
    ++reads;
    return reading;
  }
  backup::SiteReading reading;
  int reads = 0;
};

}  // namespace pgtandem::testing
