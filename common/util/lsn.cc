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

}  // namespace pgtandem
