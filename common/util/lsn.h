#pragma once
// PostgreSQL's WAL positions as integers, and their "16/B374D848" text form.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/util/result.h"

namespace pgtandem {

using Lsn = std::int64_t;

Result<Lsn> parseLsn(std::string_view text);
std::string formatLsn(Lsn lsn);

}  // namespace pgtandem
