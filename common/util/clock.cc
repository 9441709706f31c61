#include "common/util/clock.h"

namespace pgtandem {

RealClock& RealClock::instance() {
  static RealClock clock;
  return clock;
}

}  // namespace pgtandem
