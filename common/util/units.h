#pragma once
// Sizes for people: "1.2 GB".

#include <cstdint>
#include <string>

namespace pgtandem {

// Binary units (1 kB = 1024 B), one decimal above bytes.
std::string formatBytes(std::uint64_t bytes);

}  // namespace pgtandem
