#pragma once
// dc-backup's verbs, shared by the dc-backup binary and dcctl's backup
// verbs: each prints to the streams it is given and returns the exit code
// (0 done, 1 failed, 2 bad command line or configuration).

#include <ostream>
#include <string>

#include "backup/backup_config.h"
#include "backup/manifest.h"

namespace pgtandem::backup::verbs {

struct VerbIo {
  std::ostream& out;
  std::ostream& err;
  std::string program = "dc-backup";  // how messages name the command
  // backup and drill: one more line on `out`, their result as a JSON
  // object, for the coordinator's scheduled runs.
  bool json_result = false;
};

// What a verb cannot do without, beyond the repository and the stanza.
enum class Needs { kNothing, kPgData, kPgDataToCopy };

// The options, from --config and then the command line (`flags`, `method`).
Result<BackupConfig> settle(const VerbIo& io, const std::string& config_file, const BackupConfig& flags,
                            const std::string& method, Needs needs);

struct RestoreFlags {
  std::string to, label, time, lsn, xid, name, action = "promote", timeline, role;
  bool immediate = false;
};
struct DrillFlags {
  std::string label, scratch, query;
};

int stanzaCreate(const VerbIo& io, const BackupConfig& c);
int archivePush(const VerbIo& io, const BackupConfig& c, const std::string& config_file, const std::string& wal_path);
int archivePushWorker(const VerbIo& io, const BackupConfig& c, const std::string& pg_wal);
int archiveGet(const VerbIo& io, const BackupConfig& c, const std::string& config_file, const std::string& name,
               const std::string& dest);
int archiveGetWorker(const VerbIo& io, const BackupConfig& c, const std::string& after);
int takeBaseBackup(const VerbIo& io, const BackupConfig& c, BackupType type);
int restore(const VerbIo& io, const BackupConfig& c, const RestoreFlags& f);
int info(const VerbIo& io, const BackupConfig& c);
int verify(const VerbIo& io, const BackupConfig& c);
int expireVerb(const VerbIo& io, const BackupConfig& c, bool dry_run);
int drillVerb(const VerbIo& io, const BackupConfig& c, const DrillFlags& f);
int metricsVerb(const VerbIo& io, const BackupConfig& c, const std::string& output);

// The dc-backup binary: this one when it is dc-backup, else the one beside
// it (dcctl), else dc-backup from the PATH. For archive-get in
// restore_command and the asynchronous workers.
std::string dcBackupProgram();

}  // namespace pgtandem::backup::verbs
