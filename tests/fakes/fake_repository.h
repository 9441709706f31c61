#pragma once
// A backup repository in memory, for unit tests of what is stored where.

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "backup/repository.h"

namespace pgtandem::testing {

class MemoryRepository : public backup::Repository {
 public:
  Result<std::string> read(const std::string& path) override {
    std::lock_guard lock(mutex);
    auto it = files.find(path);
    if (it == files.end()) return makeError(ErrorCode::kNotFound, path + " does not exist");
    return it->second;
  }
  Status write(const std::string& path, const std::string& bytes) override {
    std::lock_guard lock(mutex);
    if (fail_writes) return makeError(ErrorCode::kIo, "write refused by the test");
    files[path] = bytes;
    return okStatus();
  }
  Result<std::vector<std::string>> list(const std::string& dir) override {
    std::lock_guard lock(mutex);
    std::set<std::string> names;  // files, and directories that hold some
    const std::string prefix = dir + "/";
    for (const auto& [path, bytes] : files) {
      if (path.rfind(prefix, 0) != 0) continue;
      const auto slash = path.find('/', prefix.size());
      names.insert(path.substr(prefix.size(), slash == std::string::npos ? std::string::npos : slash - prefix.size()));
    }
    return std::vector<std::string>(names.begin(), names.end());
  }
  // Pieces gather in the writer; only commit() makes the file visible.
  class Writer : public backup::RepositoryWriter {
   public:
    Writer(MemoryRepository& repo, std::string path) : repo_(repo), path_(std::move(path)) {}
    Status append(std::string_view bytes) override {
      bytes_.append(bytes);
      return okStatus();
    }
    Status commit() override { return repo_.write(path_, bytes_); }
    Status commitAs(const std::string& path) override { return repo_.write(path, bytes_); }

   private:
    MemoryRepository& repo_;
    std::string path_, bytes_;
  };
  class Reader : public backup::RepositoryReader {
   public:
    explicit Reader(std::string bytes) : bytes_(std::move(bytes)) {}
    Result<std::size_t> readSome(char* data, std::size_t max) override {
      const std::size_t n = bytes_.copy(data, max, at_);
      at_ += n;
      return n;
    }

   private:
    std::string bytes_;
    std::size_t at_ = 0;
  };
  Result<std::unique_ptr<backup::RepositoryWriter>> create(const std::string& path) override {
    return std::unique_ptr<backup::RepositoryWriter>(std::make_unique<Writer>(*this, path));
  }
  Result<std::unique_ptr<backup::RepositoryReader>> open(const std::string& path) override {
    auto bytes = read(path);
    if (!bytes.ok()) return bytes.error();
    return std::unique_ptr<backup::RepositoryReader>(std::make_unique<Reader>(std::move(*bytes)));
  }
  Status remove(const std::string& path) override {
    std::lock_guard lock(mutex);
    files.erase(path);
    return okStatus();
  }
  Status removeTree(const std::string& dir) override {
    std::lock_guard lock(mutex);
    std::erase_if(files, [&](const auto& file) { return file.first.rfind(dir + "/", 0) == 0; });
    return okStatus();
  }
  std::string describe() const override { return "memory"; }

  std::mutex mutex;
  std::map<std::string, std::string> files;
  bool fail_writes = false;
};

}  // namespace pgtandem::testing
