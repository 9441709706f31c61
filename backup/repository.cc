#include "backup/repository.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "common/util/files.h"

namespace pgtandem::backup {

namespace fs = std::filesystem;

namespace {

// Paths stay inside the repository: no absolute paths, no "..".
bool safeRelative(const std::string& path) {
  if (path.empty() || path.front() == '/') return false;
  for (const auto& part : fs::path(path)) {
    if (part == "..") return false;
  }
  return true;
}

}  // namespace

Result<std::string> LocalRepository::read(const std::string& path) {
  if (!safeRelative(path)) return makeError(ErrorCode::kInvalidArgument, "not a repository path: " + path);
  const std::string full = root_ + "/" + path;
  std::error_code ec;
  if (!fs::exists(full, ec)) return makeError(ErrorCode::kNotFound, full + " does not exist");
  return readWholeFile(full, "repository");
}

Status LocalRepository::write(const std::string& path, const std::string& bytes) {
  if (!safeRelative(path)) return makeError(ErrorCode::kInvalidArgument, "not a repository path: " + path);
  const fs::path full = fs::path(root_) / path;
  std::error_code ec;
  fs::create_directories(full.parent_path(), ec);
  if (ec) return makeError(ErrorCode::kIo, "cannot create " + full.parent_path().string() + ": " + ec.message());
  return writeFileAtomically(full.string(), bytes, 0640);
}

Result<std::vector<std::string>> LocalRepository::list(const std::string& dir) {
  if (!safeRelative(dir)) return makeError(ErrorCode::kInvalidArgument, "not a repository path: " + dir);
  std::vector<std::string> names;
  std::error_code ec;
  const fs::path full = fs::path(root_) / dir;
  if (!fs::exists(full, ec)) return names;
  for (const auto& entry : fs::directory_iterator(full, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) continue;  // a write under way
    names.push_back(name);
  }
  if (ec) return makeError(ErrorCode::kIo, "cannot list " + full.string() + ": " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::unique_ptr<Repository>> openRepository(const std::string& location) {
  if (location.rfind("sftp://", 0) == 0) {
    return makeError(ErrorCode::kInvalidArgument, "SFTP repositories are not built yet: " + location);
  }
  if (location.empty() || location.front() != '/') {
    return makeError(ErrorCode::kInvalidArgument, "the repository must be an absolute path: '" + location + "'");
  }
  std::error_code ec;
  if (!fs::is_directory(location, ec)) {
    return makeError(ErrorCode::kNotFound, "the repository " + location + " is not a directory");
  }
  return std::unique_ptr<Repository>(std::make_unique<LocalRepository>(location));
}

}  // namespace pgtandem::backup
