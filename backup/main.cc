// dc-backup: pgtandem's backups (issue 17). This first part keeps a WAL
// archive in a repository:
//
//   dc-backup stanza-create --repo DIR --stanza NAME --pg-data DATA_DIR
//   archive_command = 'dc-backup archive-push --repo DIR --stanza NAME %p'
//   restore_command = 'dc-backup archive-get --repo DIR --stanza NAME %f %p'
//   dc-backup verify --repo DIR --stanza NAME     (exit 1 on a bad file or a gap)
//
// Every verb takes --config FILE (backup/backup_config.h) instead of, or
// under, --repo and --stanza. Exit codes: 0 done; 1 failed (for
// archive-get: not in the archive, which PostgreSQL takes as "not there
// yet"); 2 bad command line or configuration.

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "backup/backup_config.h"
#include "backup/cluster_identity.h"
#include "backup/repository.h"
#include "backup/stanza.h"
#include "backup/wal_archive.h"
#include "common/util/clock.h"
#include "common/util/files.h"

namespace {

using namespace pgtandem;
using namespace pgtandem::backup;

int fail(const std::string& verb, const Error& error) {
  std::cerr << "dc-backup " << verb << ": " << error.message << "\n";
  return 1;
}

int stanzaCreate(const std::string& location, const std::string& stanza, const std::string& data_dir) {
  auto repo = openRepository(location);
  if (!repo.ok()) return fail("stanza-create", repo.error());
  auto identity = readClusterIdentity(data_dir);
  if (!identity.ok()) return fail("stanza-create", identity.error());
  StanzaInfo info{identity->system_identifier, identity->pg_version, formatIsoTime(RealClock::instance().wallNow())};
  if (auto created = createStanza(**repo, stanza, info); !created.ok()) return fail("stanza-create", created.error());
  std::cout << "stanza " << stanza << " in " << location << ": system " << info.system_identifier << ", PostgreSQL "
            << info.pg_version << "\n";
  return 0;
}

int archivePush(const std::string& location, const std::string& stanza, const std::string& wal_path) {
  auto repo = openRepository(location);
  if (!repo.ok()) return fail("archive-push", repo.error());
  auto bytes = readWholeFile(wal_path, "WAL");
  if (!bytes.ok()) return fail("archive-push", bytes.error());
  const std::string name = std::filesystem::path(wal_path).filename().string();
  auto pushed = pushWal(**repo, stanza, name, *bytes);
  if (!pushed.ok()) return fail("archive-push", pushed.error());
  if (pushed->already_archived) std::cerr << "dc-backup archive-push: " << name << " was already archived (same checksum)\n";
  return 0;
}

int archiveGet(const std::string& location, const std::string& stanza, const std::string& name, const std::string& dest) {
  auto repo = openRepository(location);
  if (!repo.ok()) return fail("archive-get", repo.error());
  auto bytes = getWal(**repo, stanza, name);
  if (!bytes.ok()) {
    // Asked for files that do not exist yet all the time: say it only once.
    if (bytes.error().code == ErrorCode::kNotFound) return 1;
    return fail("archive-get", bytes.error());
  }
  if (auto written = writeFileAtomically(dest, *bytes, 0600); !written.ok()) return fail("archive-get", written.error());
  return 0;
}

int verify(const std::string& location, const std::string& stanza) {
  auto repo = openRepository(location);
  if (!repo.ok()) return fail("verify", repo.error());
  auto report = verifyWalArchive(**repo, stanza);
  if (!report.ok()) return fail("verify", report.error());
  for (const auto& bad : report->bad_files) std::cout << "bad file: " << bad << "\n";
  for (const auto& gap : report->gaps) std::cout << "gap: " << gap << "\n";
  std::cout << "stanza " << stanza << ": " << report->files_checked << " WAL files checked, " << report->bad_files.size()
            << " bad, " << report->gaps.size() << " gaps\n";
  return report->clean() ? 0 : 1;
}

// The options, from --config and then the command line; `needs` names the
// settings the verb cannot do without.
Result<BackupConfig> settle(const std::string& config_file, const BackupConfig& flags, bool needs_pg_data) {
  BackupConfig c;
  if (!config_file.empty()) {
    auto loaded = loadBackupConfig(config_file);
    if (!loaded.ok()) return loaded.error();
    c = std::move(*loaded);
    for (const auto& warning : c.warnings) std::cerr << "dc-backup: warning: " << warning << "\n";
  }
  if (!flags.repo.empty()) c.repo = flags.repo;
  if (!flags.stanza.empty()) c.stanza = flags.stanza;
  if (!flags.pg_data.empty()) c.pg_data = flags.pg_data;
  if (c.repo.empty()) return makeError(ErrorCode::kConfig, "no repository: give --repo, or repo: in --config");
  if (c.stanza.empty()) return makeError(ErrorCode::kConfig, "no stanza: give --stanza, or stanza: in --config");
  if (needs_pg_data && c.pg_data.empty()) {
    return makeError(ErrorCode::kConfig, "no data directory: give --pg-data, or pg_data: in --config");
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dc-backup: pgtandem's WAL archive and backups"};
  app.require_subcommand(1);
  std::string config_file, wal_path, wal_name, dest;
  BackupConfig flags;
  auto common = [&](CLI::App* verb) {
    verb->add_option("--config", config_file, "a YAML file with repo, stanza and pg_data");
    verb->add_option("--repo", flags.repo, "the repository: an absolute local path");
    verb->add_option("--stanza", flags.stanza, "the stanza (the cluster's name in the repository)");
  };
  auto* create = app.add_subcommand("stanza-create", "create a stanza for the cluster in a data directory");
  common(create);
  create->add_option("--pg-data", flags.pg_data, "the cluster's data directory");
  auto* push = app.add_subcommand("archive-push", "archive one WAL file (archive_command, %p)");
  common(push);
  push->add_option("wal", wal_path, "the WAL file's path")->required();
  auto* get = app.add_subcommand("archive-get", "fetch one WAL file (restore_command, %f %p)");
  common(get);
  get->add_option("name", wal_name, "the WAL file's name (%f)")->required();
  get->add_option("destination", dest, "where to write it (%p)")->required();
  auto* check = app.add_subcommand("verify", "read every archived file back; name damaged files and gaps");
  common(check);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  const std::string verb = create->parsed() ? "stanza-create"
                           : push->parsed() ? "archive-push"
                           : check->parsed() ? "verify"
                                             : "archive-get";
  auto settled = settle(config_file, flags, create->parsed());
  if (!settled.ok()) {
    std::cerr << "dc-backup " << verb << ": " << settled.error().message << "\n";
    return 2;
  }
  if (create->parsed()) return stanzaCreate(settled->repo, settled->stanza, settled->pg_data);
  if (push->parsed()) return archivePush(settled->repo, settled->stanza, wal_path);
  if (check->parsed()) return verify(settled->repo, settled->stanza);
  return archiveGet(settled->repo, settled->stanza, wal_name, dest);
}
