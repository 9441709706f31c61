#include "backup/sftp_repository.h"

#include <fcntl.h>
#include <libssh/sftp.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

#include <unistd.h>

#include "common/ssh/libssh_session.h"

namespace pgtandem::backup {

namespace {

// One SSH connection and its SFTP channel. libssh sessions are not
// thread-safe: every call holds the mutex (backup workers share it).
struct Connection {
  ssh::Session session;
  ssh_session ssh = nullptr;  // session.get()
  sftp_session sftp = nullptr;
  std::mutex mutex;
  std::string root, where;
  bool can_fsync = false;

  ~Connection() {
    if (sftp) sftp_free(sftp);
  }
  std::string full(const std::string& path) const { return root + "/" + path; }
  Error failure(const std::string& what, const std::string& path) {
    const int code = sftp_get_error(sftp);
    const ErrorCode kind = code == SSH_FX_NO_SUCH_FILE ? ErrorCode::kNotFound
                           : code == SSH_FX_PERMISSION_DENIED ? ErrorCode::kPermissionDenied
                                                              : ErrorCode::kIo;
    return makeError(kind, "cannot " + what + " " + where + path + ": " + ssh_get_error(ssh) + " (sftp error " +
                               std::to_string(code) + ")");
  }
  // mkdir -p of `dir` (relative); existing directories are fine.
  Status makeDirectories(const std::string& dir) {
    std::string at = root;
    std::size_t start = 0;
    while (start < dir.size()) {
      const auto slash = dir.find('/', start);
      at += "/" + dir.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      if (sftp_mkdir(sftp, at.c_str(), 0750) != 0) {
        sftp_attributes st = sftp_stat(sftp, at.c_str());
        const bool directory = st && st->type == SSH_FILEXFER_TYPE_DIRECTORY;
        if (st) sftp_attributes_free(st);
        if (!directory) return failure("create directory", at.substr(root.size() + 1));
      }
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    return okStatus();
  }
};

class SftpWriter : public RepositoryWriter {
 public:
  SftpWriter(std::shared_ptr<Connection> c, std::string path, std::string temp, sftp_file file)
      : c_(std::move(c)), path_(std::move(path)), temp_(std::move(temp)), file_(file) {}
  ~SftpWriter() override {
    std::lock_guard lock(c_->mutex);
    if (file_) sftp_close(file_);
    if (!committed_) sftp_unlink(c_->sftp, c_->full(temp_).c_str());
  }
  Status append(std::string_view bytes) override {
    std::lock_guard lock(c_->mutex);
    while (!bytes.empty()) {
      const ssize_t n = sftp_write(file_, bytes.data(), std::min<std::size_t>(bytes.size(), 64 * 1024));
      if (n <= 0) return c_->failure("write", temp_);
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return okStatus();
  }
  Status commit() override { return commitAs(path_); }
  Status commitAs(const std::string& path) override {
    if (!isRepositoryPath(path)) return makeError(ErrorCode::kInvalidArgument, "not a repository path: " + path);
    std::lock_guard lock(c_->mutex);
    if (c_->can_fsync && sftp_fsync(file_) != 0) return c_->failure("flush", temp_);
    const int closed = sftp_close(file_);
    file_ = nullptr;
    if (closed != 0) return c_->failure("close", temp_);
    const auto slash = path.rfind('/');
    if (slash != std::string::npos) PGT_TRY(c_->makeDirectories(path.substr(0, slash)));
    // SFTP's rename does not replace: an info file rewritten loses its old
    // copy first (its .copy stays readable meanwhile).
    sftp_unlink(c_->sftp, c_->full(path).c_str());
    if (sftp_rename(c_->sftp, c_->full(temp_).c_str(), c_->full(path).c_str()) != 0) return c_->failure("rename", temp_);
    committed_ = true;
    return okStatus();
  }

 private:
  std::shared_ptr<Connection> c_;
  std::string path_, temp_;
  sftp_file file_;
  bool committed_ = false;
};

class SftpReader : public RepositoryReader {
 public:
  SftpReader(std::shared_ptr<Connection> c, std::string path, sftp_file file)
      : c_(std::move(c)), path_(std::move(path)), file_(file) {}
  ~SftpReader() override {
    std::lock_guard lock(c_->mutex);
    sftp_close(file_);
  }
  Result<std::size_t> readSome(char* data, std::size_t max) override {
    std::lock_guard lock(c_->mutex);
    const ssize_t n = sftp_read(file_, data, std::min<std::size_t>(max, 64 * 1024));
    if (n < 0) return c_->failure("read", path_);
    return static_cast<std::size_t>(n);
  }

 private:
  std::shared_ptr<Connection> c_;
  std::string path_;
  sftp_file file_;
};

class SftpRepository : public Repository {
 public:
  explicit SftpRepository(std::shared_ptr<Connection> c) : c_(std::move(c)) {}

  Result<std::string> read(const std::string& path) override {
    auto reader = open(path);
    if (!reader.ok()) return reader.error();
    std::string out, buffer(64 * 1024, '\0');
    for (;;) {
      auto n = (*reader)->readSome(buffer.data(), buffer.size());
      if (!n.ok()) return n.error();
      if (*n == 0) return out;
      out.append(buffer.data(), *n);
    }
  }
  Status write(const std::string& path, const std::string& bytes) override {
    auto writer = create(path);
    if (!writer.ok()) return writer.error();
    PGT_TRY((*writer)->append(bytes));
    return (*writer)->commit();
  }
  Result<std::vector<std::string>> list(const std::string& dir) override {
    if (!isRepositoryPath(dir)) return makeError(ErrorCode::kInvalidArgument, "not a repository path: " + dir);
    std::lock_guard lock(c_->mutex);
    std::vector<std::string> names;
    sftp_dir handle = sftp_opendir(c_->sftp, c_->full(dir).c_str());
    if (!handle) {
      if (sftp_get_error(c_->sftp) == SSH_FX_NO_SUCH_FILE) return names;
      return c_->failure("list", dir);
    }
    while (sftp_attributes entry = sftp_readdir(c_->sftp, handle)) {
      const std::string name = entry->name ? entry->name : "";
      sftp_attributes_free(entry);
      if (name == "." || name == ".." || (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0)) continue;
      names.push_back(name);
    }
    sftp_closedir(handle);
    std::sort(names.begin(), names.end());
    return names;
  }
  Result<std::unique_ptr<RepositoryWriter>> create(const std::string& path) override {
    if (!isRepositoryPath(path)) return makeError(ErrorCode::kInvalidArgument, "not a repository path: " + path);
    static std::atomic<unsigned> counter{0};
    const std::string temp = path + "." + std::to_string(::getpid()) + "." + std::to_string(counter++) + ".tmp";
    std::lock_guard lock(c_->mutex);
    const auto slash = path.rfind('/');
    if (slash != std::string::npos) PGT_TRY(c_->makeDirectories(path.substr(0, slash)));
    sftp_file file = sftp_open(c_->sftp, c_->full(temp).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (!file) return c_->failure("write", temp);
    return std::unique_ptr<RepositoryWriter>(std::make_unique<SftpWriter>(c_, path, temp, file));
  }
  Result<std::unique_ptr<RepositoryReader>> open(const std::string& path) override {
    if (!isRepositoryPath(path)) return makeError(ErrorCode::kInvalidArgument, "not a repository path: " + path);
    std::lock_guard lock(c_->mutex);
    sftp_file file = sftp_open(c_->sftp, c_->full(path).c_str(), O_RDONLY, 0);
    if (!file) return c_->failure("read", path);
    return std::unique_ptr<RepositoryReader>(std::make_unique<SftpReader>(c_, path, file));
  }
  Status remove(const std::string& path) override {
    if (!isRepositoryPath(path)) return makeError(ErrorCode::kInvalidArgument, "not a repository path: " + path);
    std::lock_guard lock(c_->mutex);
    if (sftp_unlink(c_->sftp, c_->full(path).c_str()) != 0 && sftp_get_error(c_->sftp) != SSH_FX_NO_SUCH_FILE) {
      return c_->failure("remove", path);
    }
    return okStatus();
  }
  Status removeTree(const std::string& dir) override {
    if (!isRepositoryPath(dir)) return makeError(ErrorCode::kInvalidArgument, "not a repository path: " + dir);
    std::lock_guard lock(c_->mutex);
    return removeTreeLocked(dir, 0);
  }
  std::string describe() const override { return c_->where + c_->root; }

 private:
  Status removeTreeLocked(const std::string& dir, int depth) {
    if (depth > 32) return makeError(ErrorCode::kIo, "cannot remove " + c_->where + dir + ": nested too deep");
    sftp_dir handle = sftp_opendir(c_->sftp, c_->full(dir).c_str());
    if (!handle) {
      if (sftp_get_error(c_->sftp) == SSH_FX_NO_SUCH_FILE) return okStatus();
      return c_->failure("list", dir);
    }
    std::vector<std::pair<std::string, bool>> children;  // name, is a directory
    while (sftp_attributes entry = sftp_readdir(c_->sftp, handle)) {
      const std::string name = entry->name ? entry->name : "";
      if (name != "." && name != "..") children.emplace_back(name, entry->type == SSH_FILEXFER_TYPE_DIRECTORY);
      sftp_attributes_free(entry);
    }
    sftp_closedir(handle);
    for (const auto& [name, directory] : children) {
      const std::string child = dir + "/" + name;
      if (directory) {
        PGT_TRY(removeTreeLocked(child, depth + 1));
      } else if (sftp_unlink(c_->sftp, c_->full(child).c_str()) != 0 &&
                 sftp_get_error(c_->sftp) != SSH_FX_NO_SUCH_FILE) {
        return c_->failure("remove", child);
      }
    }
    if (sftp_rmdir(c_->sftp, c_->full(dir).c_str()) != 0 && sftp_get_error(c_->sftp) != SSH_FX_NO_SUCH_FILE) {
      return c_->failure("remove directory", dir);
    }
    return okStatus();
  }

  std::shared_ptr<Connection> c_;
};

}  // namespace

Result<SftpLocation> parseSftpLocation(const std::string& url) {
  const std::string scheme = "sftp://";
  if (url.rfind(scheme, 0) != 0) return makeError(ErrorCode::kInvalidArgument, "not an sftp:// location: " + url);
  const std::string rest = url.substr(scheme.size());
  const auto slash = rest.find('/');
  if (slash == std::string::npos || slash + 1 >= rest.size()) {
    return makeError(ErrorCode::kInvalidArgument, "'" + url + "': give sftp://user@host:port/absolute/path");
  }
  SftpLocation location;
  std::string authority = rest.substr(0, slash);
  location.path = rest.substr(slash);
  while (location.path.size() > 1 && location.path.back() == '/') location.path.pop_back();
  if (const auto at = authority.find('@'); at != std::string::npos) {
    location.user = authority.substr(0, at);
    authority = authority.substr(at + 1);
  }
  if (const auto colon = authority.rfind(':'); colon != std::string::npos) {
    const std::string port = authority.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port) < 1 || std::stoi(port) > 65535) {
      return makeError(ErrorCode::kInvalidArgument, "'" + url + "': port '" + port + "' is not a port number");
    }
    location.port = std::stoi(port);
    authority = authority.substr(0, colon);
  }
  if (authority.empty()) return makeError(ErrorCode::kInvalidArgument, "'" + url + "' names no host");
  location.host = authority;
  return location;
}

Result<std::unique_ptr<Repository>> openSftpRepository(const SftpLocation& location, const SftpOptions& options) {
  auto c = std::make_shared<Connection>();
  c->root = location.path;
  c->where = (location.user.empty() ? "" : location.user + "@") + location.host + ":" + std::to_string(location.port) + ":";
  const std::string target = location.host + ":" + std::to_string(location.port);
  auto session = ssh::openSession({location.user, location.host, location.port},
                                  {options.key_file, options.known_hosts, options.timeout_seconds},
                                  "the SFTP repository host");
  if (!session.ok()) return session.error();
  c->session = std::move(*session);
  c->ssh = c->session.get();
  c->sftp = sftp_new(c->ssh);
  if (!c->sftp || sftp_init(c->sftp) != SSH_OK) {
    return makeError(ErrorCode::kUnavailable, "no SFTP on " + target + ": " + ssh_get_error(c->ssh));
  }
  c->can_fsync = sftp_extension_supported(c->sftp, "fsync@openssh.com", "1") == 1;
  sftp_attributes st = sftp_stat(c->sftp, c->root.c_str());
  const bool directory = st && st->type == SSH_FILEXFER_TYPE_DIRECTORY;
  if (st) sftp_attributes_free(st);
  if (!directory) return makeError(ErrorCode::kNotFound, "the repository " + c->where + c->root + " is not a directory");
  return std::unique_ptr<Repository>(std::make_unique<SftpRepository>(c));
}

}  // namespace pgtandem::backup
