// dc-backup: pgtandem's backups: a WAL archive, full, diff and incr base
// backups in a repository, restore and PITR, verify, expire, drills and
// metrics. The verbs themselves are in backup/verbs.cc (dcctl runs them too).
//
//   dc-backup stanza-create --repo DIR --stanza NAME --pg-data DATA_DIR
//   archive_command = 'dc-backup archive-push --repo DIR --stanza NAME %p'
//   restore_command = 'dc-backup archive-get --repo DIR --stanza NAME %f %p'
//   dc-backup backup --repo DIR --stanza NAME --pg-data DATA_DIR [--pg-host H --pg-port P]
//   dc-backup restore --repo DIR --stanza NAME --to NEW_DIR [--target-time T ...]
//   dc-backup info --repo DIR --stanza NAME
//   dc-backup verify --repo DIR --stanza NAME     (exit 1 on a bad file or a gap)
//   dc-backup expire|drill|metrics --config FILE
//
// Every verb takes --config FILE (backup/backup_config.h) instead of, or
// under, --repo and --stanza. Exit codes: 0 done; 1 failed (for
// archive-get: not in the archive, which PostgreSQL takes as "not there
// yet"); 2 bad command line or configuration.

#include <CLI/CLI.hpp>
#include <iostream>

#include "backup/backup_config.h"
#include "backup/verbs.h"

using namespace pgtandem;
using namespace pgtandem::backup;
using namespace pgtandem::backup::verbs;

int main(int argc, char** argv) {
  CLI::App app{"dc-backup: pgtandem's WAL archive and backups"};
  app.require_subcommand(1);
  std::string config_file, wal_path, wal_name, dest, pg_wal_dir, method, backup_type = "full";
  BackupConfig flags;
  RestoreFlags restore_flags;
  auto common = [&](CLI::App* verb) {
    verb->add_option("--config", config_file, "a YAML file with repo, stanza, pg_data, ...");
    verb->add_option("--repo", flags.repo, "the repository: an absolute local path or sftp://user@host:port/path");
    verb->add_option("--stanza", flags.stanza, "the stanza (the cluster's name in the repository)");
  };
  auto workers = [&](CLI::App* verb) {
    verb->add_option("--process-max", flags.process_max, "parallel workers (default 2)")->check(CLI::Range(1, 64));
  };
  auto* create = app.add_subcommand("stanza-create", "create a stanza for the cluster in a data directory");
  common(create);
  create->add_option("--pg-data", flags.pg_data, "the cluster's data directory");
  auto* push = app.add_subcommand("archive-push", "archive one WAL file (archive_command, %p)");
  common(push);
  push->add_option("wal", wal_path, "the WAL file's path")->required();
  auto* push_worker = app.add_subcommand("archive-push-worker", "push the WAL marked ready (started by archive-push)");
  push_worker->add_option("--config", config_file, "the configuration, with archive_async and spool_path")->required();
  push_worker->add_option("--pg-wal", pg_wal_dir, "the pg_wal directory whose ready files it pushes")->required();
  auto* get = app.add_subcommand("archive-get", "fetch one WAL file (restore_command, %f %p)");
  common(get);
  get->add_option("name", wal_name, "the WAL file's name (%f)")->required();
  get->add_option("destination", dest, "where to write it (%p)")->required();
  auto* get_worker = app.add_subcommand("archive-get-worker", "fetch ahead for archive-get (started by archive-get)");
  get_worker->add_option("--config", config_file, "the configuration, with archive_async and spool_path")->required();
  get_worker->add_option("after", wal_name, "the segment PostgreSQL asked for last")->required();
  auto* take = app.add_subcommand("backup", "a base backup (full, diff or incr) of a member: a replica unless --allow-primary");
  common(take);
  workers(take);
  take->add_option("--pg-data", flags.pg_data, "the member's data directory");
  take->add_option("--pg-host", flags.pg_host, "its host or socket directory");
  take->add_option("--pg-port", flags.pg_port, "its port")->check(CLI::Range(1, 65535));
  take->add_option("--pg-user", flags.pg_user, "a superuser or a role with pg_backup_start rights");
  take->add_option("--compress-level", flags.compress_level, "zstd level (default 3)")->check(CLI::Range(1, 19));
  take->add_option("--type", backup_type, "full (default), diff (changes since the newest full) or incr (since the newest backup)")
      ->check(CLI::IsMember({"full", "diff", "incr"}));
  take->add_option("--method", method, "copy (default: on the member's host, in parallel) or pg_basebackup (from any host)");
  take->add_option("--pg-bin-dir", flags.pg_bin_dir, "where pg_basebackup is (default: the server's version's)");
  take->add_flag("--allow-primary", flags.allow_primary, "back up the member even when it is the primary");
  bool json_result = false;
  take->add_flag("--json", json_result, "end with the result as one line of JSON (label, bytes, copied_bytes)");
  auto* put_back = app.add_subcommand("restore", "restore a backup into an empty directory, to a point in time");
  common(put_back);
  workers(put_back);
  put_back->add_option("--to,--datadir", restore_flags.to, "the directory to restore into (empty or new)")->required();
  put_back->add_option("--set", restore_flags.label, "the backup's label (default: the newest that fits the target)");
  put_back->add_option("--target-time", restore_flags.time, "recover up to this time (2026-12-03 17:05:00+00)");
  put_back->add_option("--target-lsn", restore_flags.lsn, "recover up to this LSN");
  put_back->add_option("--target-xid", restore_flags.xid, "recover up to this transaction");
  put_back->add_option("--target-name", restore_flags.name, "recover up to this restore point");
  put_back->add_flag("--target-immediate", restore_flags.immediate, "stop as soon as the backup is consistent");
  put_back->add_option("--target-action", restore_flags.action, "at the target: promote (default), pause or shutdown");
  put_back->add_option("--target-timeline", restore_flags.timeline,
                       "latest, current or a number (default: the backup's own timeline)");
  // As a create_replica_methods command the agent adds --scope=, --role=
  // and --connstring= (Patroni's convention; the last may be empty, which
  // CLI11 refuses): taken out before parsing. --role makes a replica's
  // files only.
  put_back->add_option("--role", restore_flags.role, "set by the HA agent: restore files only, it writes how to follow");
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--role=", 0) == 0) {
      restore_flags.role = arg.substr(7);
    } else if (arg.rfind("--scope=", 0) != 0 && arg.rfind("--connstring=", 0) != 0) {
      args.push_back(argv[i]);
    }
  }
  auto* show = app.add_subcommand("info", "the stanza and its backups");
  common(show);
  auto* check = app.add_subcommand("verify", "read every archived file and backup back; name damaged files and gaps");
  common(check);
  workers(check);
  auto* prune = app.add_subcommand("expire", "remove the backups and WAL retention no longer needs (never what recovery needs)");
  common(prune);
  bool dry_run = false;
  std::string window_flag;
  prune->add_flag("--dry-run", dry_run, "print what would go, remove nothing");
  prune->add_option("--retention-full", flags.retention_full, "keep the newest N full backups and their chains")
      ->check(CLI::Range(1, 1000));
  prune->add_option("--retention-window", window_flag, "keep what restores to any time in this last while (7d, 36h)");
  auto* publish = app.add_subcommand("metrics", "the backups' Prometheus series (node_exporter textfile format)");
  common(publish);
  std::string metrics_output;
  publish->add_option("--output", metrics_output, "write them atomically to this file (default: standard output)");
  auto* rehearse = app.add_subcommand("drill", "restore the newest backup into a scratch directory, start it, check it");
  common(rehearse);
  workers(rehearse);
  DrillFlags drill_flags;
  rehearse->add_option("--set", drill_flags.label, "the backup to drill (default: the newest)");
  rehearse->add_option("--scratch", drill_flags.scratch, "where to restore (default /var/tmp/pgtandem-drill-<stanza>-<pid>)");
  rehearse->add_option("--query", drill_flags.query, "the check query (default: SELECT count(*) FROM pg_class)");
  rehearse->add_option("--pg-bin-dir", flags.pg_bin_dir, "PostgreSQL's binaries (default: the backup's version's)");
  rehearse->add_option("--pg-user", flags.pg_user, "the role the check connects as (default: the OS user's name)");
  rehearse->add_flag("--json", json_result, "end with the result as one line of JSON (label, passed, message)");
  try {
    app.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  CLI::App* chosen = app.get_subcommands().front();
  const std::string verb = chosen->get_name();
  VerbIo io{std::cout, std::cerr};
  io.json_result = json_result;
  auto settled = settle(io, config_file, flags, method,
                        create->parsed() ? Needs::kPgData : take->parsed() ? Needs::kPgDataToCopy : Needs::kNothing);
  if (!settled.ok()) {
    std::cerr << "dc-backup " << verb << ": " << settled.error().message << "\n";
    return 2;
  }
  if (create->parsed()) return stanzaCreate(io, *settled);
  if (push->parsed()) return archivePush(io, *settled, config_file, wal_path);
  if (push_worker->parsed()) return archivePushWorker(io, *settled, pg_wal_dir);
  if (take->parsed()) return takeBaseBackup(io, *settled, *parseBackupType(backup_type));
  if (put_back->parsed()) return restore(io, *settled, restore_flags);
  if (show->parsed()) return info(io, *settled);
  if (check->parsed()) return verify(io, *settled);
  if (rehearse->parsed()) return drillVerb(io, *settled, drill_flags);
  if (publish->parsed()) return metricsVerb(io, *settled, metrics_output);
  if (prune->parsed()) {
    BackupConfig c = *settled;
    if (!window_flag.empty()) {
      const auto parsed = parseDuration(window_flag);
      if (!parsed || parsed->count() <= 0) {
        std::cerr << "dc-backup expire: --retention-window '" << window_flag << "' is not a duration like 7d, 36h or 90m\n";
        return 2;
      }
      c.retention_window = *parsed;
    }
    return expireVerb(io, c, dry_run);
  }
  if (get_worker->parsed()) return archiveGetWorker(io, *settled, wal_name);
  return archiveGet(io, *settled, config_file, wal_name, dest);
}
