#pragma once
// The dynamic configuration as Patroni stores it in the DCS /config key.

#include <optional>
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

// The /config a snapshot holds, or nothing when the key is missing or does
// not parse. What to use instead is the caller's decision: the agent keeps
// its last good one, a reader shows the defaults.
std::optional<DynamicState> storedDynamic(const std::optional<std::string>& config_json, const DynamicConfig& defaults);

// Checks a whole /config document before it is written: it parses, every
// value has the right type, and the timings keep loop_wait + 2*retry_timeout
// <= ttl. The error says what is wrong.
Status validateDynamicJson(const std::string& json, const DynamicConfig& defaults);

// RFC 7386 JSON merge patch: `null` deletes, objects merge, anything else
// replaces. A `base` that is not a JSON object counts as {}. Errors when
// `patch` is not valid JSON.
Result<std::string> applyMergePatch(const std::string& base, const std::string& patch);

}  // namespace pgtandem::config
