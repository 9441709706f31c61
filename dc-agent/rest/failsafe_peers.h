#pragma once
// failsafe.h's FailsafePeers over HTTP: POST /failsafe to each member's REST
// API, with the credentials and certificates one member uses with another
// (patroni.yml's ctl section, or restapi's).

#include <memory>

#include "common/config/config.h"
#include "dc-agent/ha/failsafe.h"

namespace pgtandem::rest {

std::unique_ptr<agent::FailsafePeers> makeHttpFailsafePeers(const config::Config& config);

}  // namespace pgtandem::rest
