#include "backup/backup_config.h"

#include <fstream>
#include <sstream>

#include "common/config/yaml_reader.h"

namespace pgtandem::backup {

Result<BackupConfig> parseBackupConfig(const std::string& yaml_text, const std::string& file) {
  auto loaded = config::loadYamlMapping(yaml_text, file);
  if (!loaded.ok()) return loaded.error();
  YAML::Node root = *loaded;
  config::Reader r(file);
  BackupConfig c;
  r.checkKeys(root, "", {"repo", "stanza", "pg_data"});
  r.readString(root, "repo", "", c.repo);
  r.readString(root, "stanza", "", c.stanza);
  r.readString(root, "pg_data", "", c.pg_data);
  if (!c.repo.empty() && c.repo.front() != '/' && c.repo.rfind("sftp://", 0) != 0) {
    r.error(config::at(root, "repo"), "repo", "must be an absolute path, got '" + c.repo + "'");
  }
  PGT_TRY(r.errorsAsStatus());
  for (const auto& warning : r.warnings_) c.warnings.push_back(warning.toString());
  return c;
}

Result<BackupConfig> loadBackupConfig(const std::string& path) {
  auto text = config::readConfigText(path, "configuration file");
  if (!text.ok()) return text.error();
  return parseBackupConfig(*text, path);
}

}  // namespace pgtandem::backup
