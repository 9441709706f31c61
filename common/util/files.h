#pragma once
// Whole small files: certificates and keys read into memory, settings and
// markers written so that a crash leaves the old or the new content, never half.

#include <sys/types.h>

#include <string>

#include "common/util/result.h"

namespace pgtandem {

// The file's bytes; the error says "cannot read <what> file <path>".
Result<std::string> readWholeFile(const std::string& path, const std::string& what);

// Writes `<path>.tmp`, fsyncs it, renames it over `path` and fsyncs the directory.
Status writeFileAtomically(const std::string& path, const std::string& content, mode_t mode = 0600);

}  // namespace pgtandem
