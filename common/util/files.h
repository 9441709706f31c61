#pragma once
// Whole small files: certificates and keys read into memory, settings and
// markers written so that a crash leaves the old or the new content, never half.

#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/util/result.h"

namespace pgtandem {

// The file's bytes; the error says "cannot read <what> file <path>".
Result<std::string> readWholeFile(const std::string& path, const std::string& what);

// Writes `<path>.tmp`, fsyncs it, renames it over `path` and fsyncs the directory.
Status writeFileAtomically(const std::string& path, const std::string& content, mode_t mode = 0600);

// "cannot <what> <path>: <strerror(error)>", kIo.
Error fileError(const std::string& what, const std::string& path, int error);

// All of `bytes` to `fd` (short writes and EINTR retried); `path` names it in the error.
Status writeAll(int fd, std::string_view bytes, const std::string& path);

// Another pgtandem program: this one when it is `name`, else the one beside
// this binary (installed), else `<build_folder>/<name>` in the build tree,
// else `name` from the PATH.
std::string siblingProgram(const std::string& name, const std::string& build_folder);

}  // namespace pgtandem
