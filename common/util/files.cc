#include "common/util/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
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

Error fileError(const std::string& what, const std::string& path, int error) {
  return makeError(ErrorCode::kIo, "cannot " + what + " " + path + ": " + std::strerror(error));
}

Status writeAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fileError("write", path, errno);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return okStatus();
}

namespace {

Status syncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return makeError(ErrorCode::kIo, "cannot open " + path + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (rc != 0) return makeError(ErrorCode::kIo, "cannot fsync " + path + ": " + std::strerror(saved));
  return okStatus();
}

}  // namespace

Status writeFileAtomically(const std::string& path, const std::string& content, mode_t mode) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return makeError(ErrorCode::kIo, "cannot write " + tmp + ": " + std::strerror(errno));
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int saved = errno;
      ::close(fd);
      return makeError(ErrorCode::kIo, "cannot write " + tmp + ": " + std::strerror(saved));
    }
    written += static_cast<size_t>(n);
  }
  // open() applies the umask; the mode asked for is the one wanted.
  const bool ok = ::fchmod(fd, mode) == 0 && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) return makeError(ErrorCode::kIo, "cannot write " + tmp + ": " + std::strerror(saved));
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return makeError(ErrorCode::kIo, "cannot rename " + tmp + ": " + ec.message());
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return syncPath(dir.empty() ? "." : dir, O_RDONLY | O_DIRECTORY);
}

std::string siblingProgram(const std::string& name, const std::string& build_folder) {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return name;
  if (self.filename() == name) return self.string();
  for (const auto& candidate : {self.parent_path() / name, self.parent_path().parent_path() / build_folder / name}) {
    if (std::filesystem::exists(candidate, ec)) return candidate.string();
  }
  return name;
}

}  // namespace pgtandem
