#pragma once
// Whole small files (certificates, keys) read into memory.

#include <string>

#include "common/util/result.h"

namespace pgtandem {

// The file's bytes; the error says "cannot read <what> file <path>".
Result<std::string> readWholeFile(const std::string& path, const std::string& what);

}  // namespace pgtandem
