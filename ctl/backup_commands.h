#pragma once
// dcctl's backup verbs: `dcctl backup list|info|create|verify|restore|
// expire|drill` run dc-backup's own verbs (backup/verbs.h) on the
// repository of a dc-backup configuration; `list` prints a table
// (-f pretty|json|yaml|tsv). `dcctl backup dump` takes a logical dump of a
// cluster from one of its replicas: pg_dumpall --globals-only, then pg_dump
// -Fd -j N of every database, all restorable with pg_restore -j N.

#include <ostream>
#include <string>
#include <vector>

#include "backup/manifest.h"
#include "backup/verbs.h"
#include "ctl/ctl_context.h"
#include "ctl/table.h"

namespace pgtandem::ctl {

struct BackupRequest {
  std::string verb;         // list, info, create, verify, restore, expire, drill
  std::string config_file;  // the dc-backup configuration
  backup::BackupConfig flags;
  std::string method, type = "full";
  backup::verbs::RestoreFlags restore;
  backup::verbs::DrillFlags drill;
  bool dry_run = false;
};

int backupCommand(const BackupRequest& request, Format format, std::ostream& out, std::ostream& err);

// The list's table, oldest first; unfinished backups last. Pure.
Table backupTable(const std::string& stanza, const std::vector<backup::BackupManifest>& finished,
                  const std::vector<std::string>& unfinished);

struct DumpOptions {
  std::string scope;
  std::string to;      // a new or empty directory
  std::string member;  // "": the running replica that has replayed the most
  int jobs = 2;
  bool allow_primary = false;
};

// The dump into `to`: globals.sql, <database>.dir for each database, and
// dump.info (member, time, databases). 0 done, 1 failed, 2 bad arguments.
int dumpCommand(Context& ctx, const DumpOptions& options);

}  // namespace pgtandem::ctl
