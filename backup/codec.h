#pragma once
// What a repository stores: SHA-256 checksums (hex) and zstd frames.

#include <string>
#include <string_view>

#include "common/util/result.h"

namespace pgtandem::backup {

std::string sha256Hex(std::string_view bytes);
std::string compress(std::string_view bytes, int level = 3);
// The original bytes; kParse for anything that is not one whole zstd frame.
Result<std::string> decompress(std::string_view frame);

}  // namespace pgtandem::backup
