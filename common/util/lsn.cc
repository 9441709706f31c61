#include "common/util/lsn.h"

#include <cstdio>
#include <stdexcept>

namespace pgtandem {

Result<Lsn> parseLsn(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= text.size()) {
    return makeError(ErrorCode::kParse, "not an LSN: '" + std::string(text) + "'");
  }
  try {
    std::size_t used_hi = 0, used_lo = 0;
    const std::string hi(text.substr(0, slash)), lo(text.substr(slash + 1));
    const auto high = std::stoull(hi, &used_hi, 16);
    const auto low = std::stoull(lo, &used_lo, 16);
    if (used_hi != hi.size() || used_lo != lo.size() || high > 0xffffffffULL || low > 0xffffffffULL) {
      throw std::invalid_argument("lsn");
    }
    return static_cast<Lsn>((high << 32) | low);
  } catch (...) {
    return makeError(ErrorCode::kParse, "not an LSN: '" + std::string(text) + "'");
  }
}

std::string formatLsn(Lsn lsn) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%X/%X", static_cast<unsigned>(static_cast<std::uint64_t>(lsn) >> 32),
                static_cast<unsigned>(lsn & 0xffffffff));
  return buffer;
}

std::optional<std::uint64_t> walSegmentNumber(std::string_view file, std::uint64_t segment_size) {
  if (file.size() != 24 || file.find_first_not_of("0123456789ABCDEF") != std::string_view::npos || segment_size == 0) {
    return std::nullopt;
  }
  const std::uint64_t log = std::stoull(std::string(file.substr(8, 8)), nullptr, 16);
  const std::uint64_t seg = std::stoull(std::string(file.substr(16, 8)), nullptr, 16);
  return log * (0x100000000ULL / segment_size) + seg;
}

std::string walSegmentName(std::string_view timeline, std::uint64_t number, std::uint64_t segment_size) {
  const std::uint64_t per_log = 0x100000000ULL / segment_size;
  char name[25];
  std::snprintf(name, sizeof name, "%.8s%08llX%08llX", std::string(timeline).c_str(),
                static_cast<unsigned long long>(number / per_log), static_cast<unsigned long long>(number % per_log));
  return name;
}

}  // namespace pgtandem
