#pragma once
// dc-backup's configuration file (--config), so that archive_command and
// restore_command stay short:
//
//   repo: /srv/pgtandem-repo          # an absolute path (sftp:// next)
//   stanza: main
//   pg_data: /var/lib/postgresql/15/main   # for stanza-create
//
// Errors name the file, the line and the key; unknown keys are warnings.
// Options on the command line override the file.

#include <string>
#include <vector>

#include "common/util/result.h"

namespace pgtandem::backup {

struct BackupConfig {
  std::string repo;
  std::string stanza;
  std::string pg_data;
  std::vector<std::string> warnings;  // "file:line: key: message"
};

Result<BackupConfig> parseBackupConfig(const std::string& yaml_text, const std::string& file);
Result<BackupConfig> loadBackupConfig(const std::string& path);

}  // namespace pgtandem::backup
