#pragma once
// Where a backup repository keeps its files. Paths are relative to the
// repository's root and '/'-separated. One real implementation per kind of
// storage (a local directory here; SFTP next) and a test double
// (tests/fakes/memory_repository.h).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/result.h"

namespace pgtandem::backup {

// A file being written in pieces (base backup files reach 1 GB). Nothing is
// visible under the final name until commit(); dropped uncommitted, the
// temporary file is removed.
class RepositoryWriter {
 public:
  virtual ~RepositoryWriter() = default;
  virtual Status append(std::string_view bytes) = 0;
  // Flushed to stable storage, then renamed over the final name.
  virtual Status commit() = 0;
  // The same under another name, chosen once the content is known (the WAL
  // archive names files after their checksum).
  virtual Status commitAs(const std::string& path) = 0;
};

// A stored file read in pieces: up to `max` bytes into `data`; 0 at the end.
class RepositoryReader {
 public:
  virtual ~RepositoryReader() = default;
  virtual Result<std::size_t> readSome(char* data, std::size_t max) = 0;
};

class Repository {
 public:
  virtual ~Repository() = default;
  // The file's bytes; kNotFound when there is none.
  virtual Result<std::string> read(const std::string& path) = 0;
  // Never a half file under `path`: the bytes go to a temporary name, are
  // flushed, and only then renamed over `path` (parents created).
  virtual Status write(const std::string& path, const std::string& bytes) = 0;
  // The names (not paths) of the files and directories directly in `dir`,
  // sorted; none when `dir` does not exist. Writes under way are not listed.
  virtual Result<std::vector<std::string>> list(const std::string& dir) = 0;
  // The same in pieces; several writers may run at once, one per path.
  virtual Result<std::unique_ptr<RepositoryWriter>> create(const std::string& path) = 0;
  // kNotFound when there is no such file.
  virtual Result<std::unique_ptr<RepositoryReader>> open(const std::string& path) = 0;
  // Removes a file; one already gone is no error.
  virtual Status remove(const std::string& path) = 0;
  // Removes `dir` and everything under it, temporary files included; a
  // directory already gone is no error.
  virtual Status removeTree(const std::string& dir) = 0;
  // For messages: the repository's location.
  virtual std::string describe() const = 0;
};

// A repository in a local directory, which must exist.
class LocalRepository : public Repository {
 public:
  explicit LocalRepository(std::string root) : root_(std::move(root)) {}
  Result<std::string> read(const std::string& path) override;
  Status write(const std::string& path, const std::string& bytes) override;
  Result<std::vector<std::string>> list(const std::string& dir) override;
  Result<std::unique_ptr<RepositoryWriter>> create(const std::string& path) override;
  Result<std::unique_ptr<RepositoryReader>> open(const std::string& path) override;
  Status remove(const std::string& path) override;
  Status removeTree(const std::string& dir) override;
  std::string describe() const override { return root_; }

 private:
  std::string root_;
};

// Whether `path` may name a file in a repository: relative, '/'-separated,
// no "..". Every implementation refuses the others (kInvalidArgument).
bool isRepositoryPath(const std::string& path);

struct RepositoryOptions {
  std::string sftp_key_file;     // sftp://: the private key ("": ~/.ssh/id_* and ssh-agent)
  std::string sftp_known_hosts;  // sftp://: known_hosts ("": ~/.ssh/known_hosts)
};

// The repository at `location`: an absolute local path, or
// sftp://user@host:port/path (backup/sftp_repository.h).
Result<std::unique_ptr<Repository>> openRepository(const std::string& location, const RepositoryOptions& options = {});

}  // namespace pgtandem::backup
