#include "backup/repository.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "backup/sftp_repository.h"
#include "common/util/files.h"

namespace pgtandem::backup {

namespace fs = std::filesystem;

namespace {

void fsyncDirectory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
}

class LocalWriter : public RepositoryWriter {
 public:
  LocalWriter(fs::path root, fs::path final_path, fs::path temp_path, int fd)
      : root_(std::move(root)), final_(std::move(final_path)), temp_(std::move(temp_path)), fd_(fd) {}
  ~LocalWriter() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
  }
  Status append(std::string_view bytes) override { return writeAll(fd_, bytes, temp_.string()); }
  Status commitAs(const std::string& path) override {
    if (!isRepositoryPath(path)) return makeError(ErrorCode::kInvalidArgument, "not a repository path: " + path);
    final_ = root_ / path;
    std::error_code ec;
    fs::create_directories(final_.parent_path(), ec);
    if (ec) return makeError(ErrorCode::kIo, "cannot create " + final_.parent_path().string() + ": " + ec.message());
    return commit();
  }
  Status commit() override {
    if (::fsync(fd_) != 0) return fileError("flush", temp_.string(), errno);
    ::close(fd_);
    fd_ = -1;
    if (::rename(temp_.c_str(), final_.c_str()) != 0) return fileError("rename", temp_.string(), errno);
    committed_ = true;
    fsyncDirectory(final_.parent_path());
    return okStatus();
  }

 private:
  fs::path root_, final_, temp_;
  int fd_;
  bool committed_ = false;
};

class LocalReader : public RepositoryReader {
 public:
  LocalReader(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~LocalReader() override { ::close(fd_); }
  Result<std::size_t> readSome(char* data, std::size_t max) override {
    ssize_t n;
    do {
      n = ::read(fd_, data, max);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return fileError("read", path_, errno);
    return static_cast<std::size_t>(n);
  }

 private:
  std::string path_;
  int fd_;
};

}  // namespace

bool isRepositoryPath(const std::string& path) {
  if (path.empty() || path.front() == '/') return false;
  for (const auto& part : fs::path(path)) {
    if (part == "..") return false;
  }
  return true;
}

Result<std::unique_ptr<RepositoryWriter>> LocalRepository::create(const std::string& path) {
  if (!isRepositoryPath(path)) return makeError(ErrorCode::kInvalidArgument, "not a repository path: " + path);
  const fs::path full = fs::path(root_) / path;
  std::error_code ec;
  fs::create_directories(full.parent_path(), ec);
  if (ec) return makeError(ErrorCode::kIo, "cannot create " + full.parent_path().string() + ": " + ec.message());
  // A name of its own per writer: two pushes of one file may race.
  static std::atomic<unsigned> counter{0};
  const fs::path temp = full.string() + "." + std::to_string(::getpid()) + "." + std::to_string(counter++) + ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return fileError("write", temp.string(), errno);
  return std::unique_ptr<RepositoryWriter>(std::make_unique<LocalWriter>(root_, full, temp, fd));
}

Result<std::unique_ptr<RepositoryReader>> LocalRepository::open(const std::string& path) {
  if (!isRepositoryPath(path)) return makeError(ErrorCode::kInvalidArgument, "not a repository path: " + path);
  const std::string full = root_ + "/" + path;
  const int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return makeError(ErrorCode::kNotFound, full + " does not exist");
  if (fd < 0) return fileError("read", full, errno);
  return std::unique_ptr<RepositoryReader>(std::make_unique<LocalReader>(full, fd));
}

Result<std::string> LocalRepository::read(const std::string& path) {
  if (!isRepositoryPath(path)) return makeError(ErrorCode::kInvalidArgument, "not a repository path: " + path);
  const std::string full = root_ + "/" + path;
  std::error_code ec;
  if (!fs::exists(full, ec)) return makeError(ErrorCode::kNotFound, full + " does not exist");
  return readWholeFile(full, "repository");
}

Status LocalRepository::write(const std::string& path, const std::string& bytes) {
  if (!isRepositoryPath(path)) return makeError(ErrorCode::kInvalidArgument, "not a repository path: " + path);
  const fs::path full = fs::path(root_) / path;
  std::error_code ec;
  fs::create_directories(full.parent_path(), ec);
  if (ec) return makeError(ErrorCode::kIo, "cannot create " + full.parent_path().string() + ": " + ec.message());
  return writeFileAtomically(full.string(), bytes, 0640);
}

Status LocalRepository::remove(const std::string& path) {
  if (!isRepositoryPath(path)) return makeError(ErrorCode::kInvalidArgument, "not a repository path: " + path);
  const std::string full = root_ + "/" + path;
  if (::unlink(full.c_str()) != 0 && errno != ENOENT) return fileError("remove", full, errno);
  return okStatus();
}

Status LocalRepository::removeTree(const std::string& dir) {
  if (!isRepositoryPath(dir)) return makeError(ErrorCode::kInvalidArgument, "not a repository path: " + dir);
  std::error_code ec;
  fs::remove_all(root_ + "/" + dir, ec);
  if (ec) return makeError(ErrorCode::kIo, "cannot remove " + root_ + "/" + dir + ": " + ec.message());
  return okStatus();
}

Result<std::vector<std::string>> LocalRepository::list(const std::string& dir) {
  if (!isRepositoryPath(dir)) return makeError(ErrorCode::kInvalidArgument, "not a repository path: " + dir);
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

Result<std::unique_ptr<Repository>> openRepository(const std::string& location, const RepositoryOptions& options) {
  if (location.rfind("sftp://", 0) == 0) {
    auto parsed = parseSftpLocation(location);
    if (!parsed.ok()) return parsed.error();
    return openSftpRepository(*parsed, SftpOptions{options.sftp_key_file, options.sftp_known_hosts, 10});
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
