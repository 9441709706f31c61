#include "backup/cluster_identity.h"

#include <cstdint>
#include <cstring>

#include "common/util/files.h"

namespace pgtandem::backup {

Result<ClusterIdentity> readClusterIdentity(const std::string& data_dir) {
  auto control = readWholeFile(data_dir + "/global/pg_control", "pg_control");
  if (!control.ok()) return control.error();
  auto version = readWholeFile(data_dir + "/PG_VERSION", "PG_VERSION");
  if (!version.ok()) return version.error();
  // ControlFileData starts with the 64-bit system identifier.
  if (control->size() < sizeof(std::uint64_t)) {
    return makeError(ErrorCode::kParse, data_dir + "/global/pg_control is too short");
  }
  std::uint64_t id = 0;
  std::memcpy(&id, control->data(), sizeof id);
  ClusterIdentity out;
  out.system_identifier = std::to_string(id);
  out.pg_version = std::atoi(version->c_str());
  if (out.pg_version <= 0) return makeError(ErrorCode::kParse, data_dir + "/PG_VERSION does not hold a version");
  return out;
}

}  // namespace pgtandem::backup
