// dc-backup: pgtandem's backups (issue 17). This first part keeps a WAL
// archive in a repository:
//
//   dc-backup stanza-create --repo DIR --stanza NAME --pg-data DATA_DIR
//   archive_command = 'dc-backup archive-push --repo DIR --stanza NAME %p'
//   restore_command = 'dc-backup archive-get --repo DIR --stanza NAME %f %p'
//
// Exit codes: 0 done; 1 failed (for archive-get: not in the archive, which
// PostgreSQL takes as "not there yet"); 2 bad command line.

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dc-backup: pgtandem's WAL archive and backups"};
  app.require_subcommand(1);
  std::string repo, stanza, data_dir, wal_path, wal_name, dest;
  auto common = [&](CLI::App* verb) {
    verb->add_option("--repo", repo, "the repository: an absolute local path")->required();
    verb->add_option("--stanza", stanza, "the stanza (the cluster's name in the repository)")->required();
  };
  auto* create = app.add_subcommand("stanza-create", "create a stanza for the cluster in a data directory");
  common(create);
  create->add_option("--pg-data", data_dir, "the cluster's data directory")->required();
  auto* push = app.add_subcommand("archive-push", "archive one WAL file (archive_command, %p)");
  common(push);
  push->add_option("wal", wal_path, "the WAL file's path")->required();
  auto* get = app.add_subcommand("archive-get", "fetch one WAL file (restore_command, %f %p)");
  common(get);
  get->add_option("name", wal_name, "the WAL file's name (%f)")->required();
  get->add_option("destination", dest, "where to write it (%p)")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (create->parsed()) return stanzaCreate(repo, stanza, data_dir);
  if (push->parsed()) return archivePush(repo, stanza, wal_path);
  return archiveGet(repo, stanza, wal_name, dest);
}
