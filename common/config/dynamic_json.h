#pragma once
// The dynamic configuration as Patroni stores it in the DCS /config key.

#include <string>

#include "common/config/config.h"

namespace pgtandem::config {

// Patroni's /config JSON for `dynamic` (ttl, loop_wait, postgresql: {...},
// standby_cluster, slots, ...).
std::string toJson(const DynamicConfig& dynamic);

// Reads /config. Keys left out keep the values of `defaults`; a value of the
// wrong type is an error naming it. `pause` is returned separately since it
// is not part of the bootstrap configuration.
struct DynamicState {
  DynamicConfig config;
  bool pause = false;
};
Result<DynamicState> parseDynamicJson(const std::string& json, const DynamicConfig& defaults);

}  // namespace pgtandem::config
