#pragma once
// A backup repository in memory, for unit tests of what is stored where.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "backup/repository.h"

namespace pgtandem::testing {

class MemoryRepository : public backup::Repository {
 public:
  Result<std::string> read(const std::string& path) override {
    auto it = files.find(path);
    if (it == files.end()) return makeError(ErrorCode::kNotFound, path + " does not exist");
    return it->second;
  }
  Status write(const std::string& path, const std::string& bytes) override {
    if (fail_writes) return makeError(ErrorCode::kIo, "write refused by the test");
    files[path] = bytes;
    return okStatus();
  }
  Result<std::vector<std::string>> list(const std::string& dir) override {
    std::set<std::string> names;  // files, and directories that hold some
    const std::string prefix = dir + "/";
    for (const auto& [path, bytes] : files) {
      if (path.rfind(prefix, 0) != 0) continue;
      const auto slash = path.find('/', prefix.size());
      names.insert(path.substr(prefix.size(), slash == std::string::npos ? std::string::npos : slash - prefix.size()));
    }
    return std::vector<std::string>(names.begin(), names.end());
  }
  std::string describe() const override { return "memory"; }

  std::map<std::string, std::string> files;
  bool fail_writes = false;
};

}  // namespace pgtandem::testing
