#pragma once
// Logging goes through spdlog's default logger. Components log each error
// once, where it is handled, not at every layer it passes through.

#include <spdlog/spdlog.h>

namespace pgtandem {

// Sets the default logger's level from a Patroni-style name (DEBUG, INFO,
// WARNING, ERROR, CRITICAL); unknown names leave the level unchanged and
// return false.
bool setLogLevel(std::string_view level_name);

}  // namespace pgtandem
