#include "common/util/log.h"

#include <algorithm>
#include <string>

namespace pgtandem {

bool setLogLevel(std::string_view level_name) {
  std::string upper(level_name);
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  spdlog::level::level_enum level;
  if (upper == "DEBUG") level = spdlog::level::debug;
  else if (upper == "INFO") level = spdlog::level::info;
  else if (upper == "WARNING" || upper == "WARN") level = spdlog::level::warn;
  else if (upper == "ERROR") level = spdlog::level::err;
  else if (upper == "CRITICAL" || upper == "FATAL") level = spdlog::level::critical;
  else return false;
  spdlog::set_level(level);
  return true;
}

}  // namespace pgtandem
