#pragma once
// Where a backup repository keeps its files. Paths are relative to the
// repository's root and '/'-separated. One real implementation per kind of
// storage (a local directory here; SFTP next) and a test double
// (tests/fakes/memory_repository.h).

#include <memory>
#include <string>
#include <vector>

#include "common/util/result.h"

namespace pgtandem::backup {

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
  std::string describe() const override { return root_; }

 private:
  std::string root_;
};

// The repository at `location`: a local path (sftp:// is not built yet).
Result<std::unique_ptr<Repository>> openRepository(const std::string& location);

}  // namespace pgtandem::backup
