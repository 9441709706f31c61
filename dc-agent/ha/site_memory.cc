#include "dc-agent/ha/site_memory.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/util/files.h"

namespace pgtandem::agent {
namespace {

namespace fs = std::filesystem;

class FileSiteMemory final : public SiteMemory {
 public:
  FileSiteMemory(std::string data_dir, std::string identity) : data_dir_(std::move(data_dir)), identity_(std::move(identity)) {}

  bool seen() override {
    std::ifstream in(path());
    std::string first;
    return std::getline(in, first) && first == identity_;
  }

  Status remember() override {
    std::error_code ec;
    // Before bootstrap or a clone there is nowhere to keep it: the next cycle tries again.
    if (!fs::is_directory(data_dir_, ec)) return makeError(ErrorCode::kNotFound, data_dir_ + " does not exist yet");
    return writeFileAtomically(path(), identity_ + "\n" +
                                           "This member has seen its DC's site key: while the key is missing it behaves as fenced.\n"
                                           "See docs/site-operations.md (fail closed) before deleting this file.\n",
                               0600);
  }

 private:
  std::string path() const { return data_dir_ + "/pgtandem.site_seen"; }
  std::string data_dir_;
  std::string identity_;
};

}  // namespace

std::unique_ptr<SiteMemory> makeFileSiteMemory(const std::string& data_dir, const std::string& dcs_identity) {
  return std::make_unique<FileSiteMemory>(data_dir, dcs_identity);
}

std::string dcsIdentity(const std::vector<std::string>& etcd_hosts, const std::string& namespace_, const std::string& scope) {
  std::vector<std::string> hosts = etcd_hosts;
  std::sort(hosts.begin(), hosts.end());
  std::string identity = namespace_ + scope + " at";
  for (const auto& h : hosts) identity += " " + h;
  return identity;
}

}  // namespace pgtandem::agent
