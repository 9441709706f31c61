#pragma once
// PostgreSQL's WAL positions as integers, and their "16/B374D848" text form.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/util/result.h"

namespace pgtandem {

using Lsn = std::int64_t;

Result<Lsn> parseLsn(std::string_view text);
std::string formatLsn(Lsn lsn);

// WAL file names ("000000010000000000000005": timeline, then the segment
// number in two halves) for segments of `segment_size` bytes.
constexpr std::uint64_t kDefaultWalSegmentSize = 16 * 1024 * 1024;
// The segment number of a 24-character name; nothing for other names.
std::optional<std::uint64_t> walSegmentNumber(std::string_view file, std::uint64_t segment_size);
// The name of segment `number` on `timeline` (8 hex digits).
std::string walSegmentName(std::string_view timeline, std::uint64_t number, std::uint64_t segment_size);

}  // namespace pgtandem
