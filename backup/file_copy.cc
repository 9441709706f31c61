#include "backup/file_copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "backup/codec.h"
#include "common/util/files.h"

namespace pgtandem::backup {

namespace {

constexpr std::size_t kChunk = 1 << 20;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

}  // namespace

Result<CopiedFile> storeStream(Repository& repo, const std::string& stored_path, const ReadPiece& read,
                               int compress_level, int compress_workers, ProgressMeter* progress,
                               const std::string& unless_checksum) {
  auto writer = repo.create(stored_path);
  if (!writer.ok()) return writer.error();
  CopiedFile copied;
  Sha256 sha;
  Compressor compressor(compress_level, compress_workers);
  std::string chunk(kChunk, '\0');
  for (;;) {
    auto n = read(chunk.data(), chunk.size());
    if (!n.ok()) return n.error();
    if (*n == 0) break;
    const std::string_view piece(chunk.data(), *n);
    sha.update(piece);
    PGT_TRY((*writer)->append(compressor.feed(piece)));
    copied.size += *n;
    if (progress) progress->advance(*n);
  }
  PGT_TRY((*writer)->append(compressor.finish()));
  copied.checksum = sha.hex();
  if (!unless_checksum.empty() && copied.checksum == unless_checksum) {
    copied.stored = false;  // the writer goes uncommitted: its temporary file is removed
    return copied;
  }
  PGT_TRY((*writer)->commit());
  return copied;
}

Result<CopiedFile> storeFile(Repository& repo, const std::string& stored_path, const std::string& local_path,
                             int compress_level, ProgressMeter* progress, const std::string& unless_checksum) {
  Fd fd(::open(local_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0 && errno == ENOENT) return makeError(ErrorCode::kNotFound, local_path + " no longer exists");
  if (fd.get() < 0) return fileError("read", local_path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fileError("stat", local_path, errno);
  auto readLocal = [&](char* out, std::size_t max) -> Result<std::size_t> {
    for (;;) {
      const ssize_t n = ::read(fd.get(), out, max);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fileError("read", local_path, errno);
      return static_cast<std::size_t>(n);
    }
  };
  auto copied = storeStream(repo, stored_path, readLocal, compress_level, 1, progress, unless_checksum);
  if (!copied.ok()) return copied.error();
  copied->mode = st.st_mode & 07777;
  copied->mtime = st.st_mtime;
  return copied;
}

Result<CopiedFile> fetchFile(Repository& repo, const std::string& stored_path, const std::string& local_path,
                             unsigned mode, ProgressMeter* progress, Flush flush) {
  auto reader = repo.open(stored_path);
  if (!reader.ok()) return reader.error();
  Fd fd(local_path.empty() ? -1 : ::open(local_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!local_path.empty() && fd.get() < 0) return fileError("create", local_path, errno);
  CopiedFile copied;
  copied.mode = mode;
  Sha256 sha;
  Decompressor decompressor;
  std::string frame(kChunk, '\0');
  auto sink = [&](std::string_view bytes) -> Status {
    sha.update(bytes);
    if (fd.get() >= 0) PGT_TRY(writeAll(fd.get(), bytes, local_path));
    copied.size += bytes.size();
    if (progress) progress->advance(bytes.size());
    return okStatus();
  };
  for (;;) {
    auto n = (*reader)->readSome(frame.data(), frame.size());
    if (!n.ok()) return n.error();
    if (*n == 0) break;
    auto fed = decompressor.feed(std::string_view(frame.data(), *n), sink);
    if (!fed.ok()) {
      if (fed.error().code == ErrorCode::kParse) return makeError(ErrorCode::kParse, stored_path + ": " + fed.error().message);
      return fed.error();
    }
  }
  if (!decompressor.done()) return makeError(ErrorCode::kParse, stored_path + ": the zstd frame is cut short");
  if (fd.get() >= 0) {
    if (flush == Flush::kFile && ::fsync(fd.get()) != 0) return fileError("flush", local_path, errno);
    if (::close(fd.release()) != 0) return fileError("close", local_path, errno);
  }
  copied.checksum = sha.hex();
  return copied;
}

}  // namespace pgtandem::backup
