#pragma once
// `dc-backup verify` for base backups: every stored file read back against
// its manifest entry (size and SHA-256), and every WAL file from the
// backup's start to its stop present and valid, in the backup or else in
// the archive.

#include <string>
#include <vector>

#include "backup/manifest.h"
#include "backup/repository.h"

namespace pgtandem::backup {

struct BackupVerifyReport {
  std::string label;
  int files_checked = 0;
  std::vector<std::string> bad_files;  // "<stored path>: <why>"
  std::vector<std::string> gaps;       // "WAL file ... missing"
  bool clean() const { return bad_files.empty() && gaps.empty(); }
};

BackupVerifyReport verifyBackup(Repository& repo, const std::string& stanza, const BackupManifest& manifest,
                                int process_max);

}  // namespace pgtandem::backup
