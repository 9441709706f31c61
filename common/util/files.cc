#include "common/util/files.h"

#include <fstream>
#include <sstream>

namespace pgtandem {

Result<std::string> readWholeFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError(ErrorCode::kConfig, "cannot read " + what + " file " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return makeError(ErrorCode::kConfig, "cannot read " + what + " file " + path);
  return buffer.str();
}

}  // namespace pgtandem
