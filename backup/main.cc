// dc-backup: pgtandem's backups (issue 17): a WAL archive and base backups
// in a repository.
//
//   dc-backup stanza-create --repo DIR --stanza NAME --pg-data DATA_DIR
//   archive_command = 'dc-backup archive-push --repo DIR --stanza NAME %p'
//   restore_command = 'dc-backup archive-get --repo DIR --stanza NAME %f %p'
//   dc-backup backup --repo DIR --stanza NAME --pg-data DATA_DIR [--pg-host H --pg-port P]
//   dc-backup restore --repo DIR --stanza NAME --to NEW_DIR [--target-time T ...]
//   dc-backup info --repo DIR --stanza NAME
//   dc-backup verify --repo DIR --stanza NAME     (exit 1 on a bad file or a gap)
//
// Every verb takes --config FILE (backup/backup_config.h) instead of, or
// under, --repo and --stanza. Exit codes: 0 done; 1 failed (for
// archive-get: not in the archive, which PostgreSQL takes as "not there
// yet"); 2 bad command line or configuration.

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>

#include "backup/async_archive.h"
#include "backup/backup_metrics.h"
#include "backup/drill.h"
#include "backup/expire.h"
#include "backup/backup_config.h"
#include "backup/backup_verify.h"
#include "backup/base_backup.h"
#include "backup/cluster_identity.h"
#include "backup/repository.h"
#include "backup/restore.h"
#include "backup/site_source.h"
#include "backup/stanza.h"
#include "backup/wal_archive.h"
#include "common/util/clock.h"
#include "common/pg/postgres.h"
#include "common/process/process.h"
#include "common/util/files.h"

namespace {

using namespace pgtandem;
using namespace pgtandem::backup;

RepositoryOptions repositoryOptions(const BackupConfig& c) { return {c.sftp_key_file, c.sftp_known_hosts}; }

int fail(const std::string& verb, const Error& error) {
  std::cerr << "dc-backup " << verb << ": " << error.message << "\n";
  return 1;
}

int stanzaCreate(const BackupConfig& c) {
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail("stanza-create", repo.error());
  auto identity = readClusterIdentity(c.pg_data);
  if (!identity.ok()) return fail("stanza-create", identity.error());
  StanzaInfo info{identity->system_identifier, identity->pg_version, formatIsoTime(RealClock::instance().wallNow())};
  if (auto created = createStanza(**repo, c.stanza, info); !created.ok()) return fail("stanza-create", created.error());
  std::cout << "stanza " << c.stanza << " in " << c.repo << ": system " << info.system_identifier << ", PostgreSQL "
            << info.pg_version << "\n";
  return 0;
}

// archive-push's push itself, with the guard when site: is configured.
std::function<Result<PushResult>(const std::string&)> pusher(Repository& repo, const BackupConfig& c) {
  if (c.site_name.empty()) return [&repo, &c](const std::string& path) { return pushWalFile(repo, c.stanza, path); };
  std::shared_ptr<SiteSource> site = etcdSiteSource({c.site_etcd, c.site_namespace, c.site_scope});
  return [&repo, &c, site](const std::string& path) { return guardedPush(repo, c.stanza, path, *site, c.site_name); };
}

Spool spoolOf(const BackupConfig& c) { return Spool{c.spool_path, c.archive_push_queue_max}; }

// The asynchronous worker, started detached (a new session) so that it
// outlives this archive_command; it exits at once when one already runs.
void startWorker(const std::string& verb, const std::string& config_file, const std::vector<std::string>& extra) {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  SpawnOptions worker;
  worker.argv = {ec ? std::string("dc-backup") : self.string(), verb, "--config", config_file};
  worker.argv.insert(worker.argv.end(), extra.begin(), extra.end());
  worker.new_session = true;
  (void)spawnProcess(worker);
}

// How long archive_command waits for the asynchronous worker's word on its
// file before it fails (PostgreSQL retries); pgBackRest's archive-timeout.
constexpr std::chrono::seconds kAsyncPushWait{60};

int archivePush(const BackupConfig& c, const std::string& config_file, const std::string& wal_path) {
  const std::filesystem::path wal = std::filesystem::absolute(wal_path);
  std::error_code ec;
  const bool marked_ready =
      std::filesystem::exists(wal.parent_path() / "archive_status" / (wal.filename().string() + ".ready"), ec);
  // Asynchronous only for what PostgreSQL marked ready (the worker finds
  // the files there); any other file is pushed here and now.
  if (c.archive_async && marked_ready) {
    const Spool spool = spoolOf(c);
    const std::string pg_wal = wal.parent_path().string();
    auto pushed = awaitAsyncPush(spool, wal.string(), RealClock::instance(), kAsyncPushWait, [&] {
      if (!pushWorkerRunning(spool)) startWorker("archive-push-worker", config_file, {"--pg-wal", pg_wal});
    });
    if (!pushed.ok()) return fail("archive-push", pushed.error());
    return 0;
  }
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail("archive-push", repo.error());
  auto pushed = pusher(**repo, c)(wal_path);
  if (!pushed.ok()) return fail("archive-push", pushed.error());
  if (pushed->already_archived) {
    std::cerr << "dc-backup archive-push: " << std::filesystem::path(wal_path).filename().string()
              << " was already archived (same checksum)\n";
  }
  return 0;
}

int archivePushWorker(const BackupConfig& c, const std::string& pg_wal) {
  if (!c.archive_async) {
    std::cerr << "dc-backup archive-push-worker: archive_async is not set in the configuration\n";
    return 2;
  }
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail("archive-push-worker", repo.error());
  std::error_code ec;
  std::filesystem::create_directories(c.spool_path, ec);
  std::ofstream log(c.spool_path + "/worker.log", std::ios::app);
  auto ran = runPushWorker(spoolOf(c), pg_wal, c.process_max, pusher(**repo, c), RealClock::instance(),
                           std::chrono::seconds(2), std::chrono::seconds(1), log);
  if (!ran.ok()) return fail("archive-push-worker", ran.error());
  return 0;
}

int archiveGet(const BackupConfig& c, const std::string& config_file, const std::string& name, const std::string& dest) {
  if (c.archive_async) {
    auto taken = takePrefetched(spoolOf(c), name, dest);
    if (taken.ok() || taken.error().code != ErrorCode::kNotFound) {
      startWorker("archive-get-worker", config_file, {name});
      if (!taken.ok()) return fail("archive-get", taken.error());
      return 0;
    }
  }
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail("archive-get", repo.error());
  auto got = getWalFile(**repo, c.stanza, name, dest);
  if (!got.ok()) {
    // Asked for files that do not exist yet all the time: say nothing.
    if (got.error().code == ErrorCode::kNotFound) return 1;
    return fail("archive-get", got.error());
  }
  if (c.archive_async) startWorker("archive-get-worker", config_file, {name});
  return 0;
}

int archiveGetWorker(const BackupConfig& c, const std::string& after) {
  if (!c.archive_async) {
    std::cerr << "dc-backup archive-get-worker: archive_async is not set in the configuration\n";
    return 2;
  }
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail("archive-get-worker", repo.error());
  const int depth = static_cast<int>(std::max<std::uint64_t>(1, c.archive_get_queue_max / kDefaultWalSegmentSize));
  auto fetched = prefetchAfter(spoolOf(c), **repo, c.stanza, after, depth, kDefaultWalSegmentSize);
  if (!fetched.ok()) return fail("archive-get-worker", fetched.error());
  return 0;
}

int verify(const BackupConfig& c) {
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail("verify", repo.error());
  auto report = verifyWalArchive(**repo, c.stanza);
  if (!report.ok()) return fail("verify", report.error());
  bool clean = report->clean();
  for (const auto& bad : report->bad_files) std::cout << "bad file: " << bad << "\n";
  for (const auto& gap : report->gaps) std::cout << "gap: " << gap << "\n";
  std::cout << "stanza " << c.stanza << ": " << report->files_checked << " WAL files checked, " << report->bad_files.size()
            << " bad, " << report->gaps.size() << " gaps\n";
  auto listing = listBackups(**repo, c.stanza);
  if (!listing.ok()) return fail("verify", listing.error());
  for (const auto& label : listing->unfinished) std::cout << "backup " << label << ": unfinished (no manifest), never restored\n";
  for (const auto& label : listing->finished) {
    auto manifest = readManifest(**repo, c.stanza, label);
    if (!manifest.ok()) {
      std::cout << "bad file: " << manifest.error().message << "\n";
      clean = false;
      continue;
    }
    const auto checked = verifyBackup(**repo, c.stanza, *manifest, c.process_max);
    for (const auto& bad : checked.bad_files) std::cout << "bad file: " << bad << "\n";
    for (const auto& gap : checked.gaps) std::cout << "gap: " << gap << "\n";
    std::cout << "backup " << label << ": " << checked.files_checked << " files checked, " << checked.bad_files.size()
              << " bad, " << checked.gaps.size() << " gaps\n";
    clean = clean && checked.clean();
  }
  return clean ? 0 : 1;
}

std::string memberConninfo(const BackupConfig& c) {
  std::map<std::string, std::string> fields{{"dbname", "postgres"}, {"application_name", "dc-backup"}};
  if (!c.pg_host.empty()) fields["host"] = c.pg_host;
  if (c.pg_port > 0) fields["port"] = std::to_string(c.pg_port);
  if (!c.pg_user.empty()) fields["user"] = c.pg_user;
  return pg::conninfo(fields);
}

// metrics_file, refreshed after a verb that changes what it reports; a
// failure to write it is a warning, not the verb's failure.
void refreshMetrics(Repository& repo, const BackupConfig& c) {
  if (c.metrics_file.empty()) return;
  auto text = backupMetrics(repo, c.stanza);
  Status written = text.ok() ? writeFileAtomically(c.metrics_file, *text, 0644) : Status(text.error());
  if (!written.ok()) std::cerr << "dc-backup: warning: metrics_file " << c.metrics_file << ": " << written.error().message << "\n";
}

int metricsVerb(const BackupConfig& c, const std::string& output) {
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail("metrics", repo.error());
  auto text = backupMetrics(**repo, c.stanza);
  if (!text.ok()) return fail("metrics", text.error());
  if (output.empty()) {
    std::cout << *text;
    return 0;
  }
  if (auto written = writeFileAtomically(output, *text, 0644); !written.ok()) return fail("metrics", written.error());
  return 0;
}

int takeBaseBackup(const BackupConfig& c, BackupType type) {
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail("backup", repo.error());
  BackupOptions options;
  options.data_dir = c.pg_data;
  options.process_max = c.process_max;
  options.compress_level = c.compress_level;
  options.allow_primary = c.allow_primary;
  options.type = type;
  const bool terminal = ::isatty(STDERR_FILENO) == 1;
  ProgressMeter progress(std::cerr, terminal, RealClock::instance(), "backup", 0);
  Result<BackupManifest> taken = makeError(ErrorCode::kInternal, "no backup taken");
  if (c.backup_method == BackupMethod::kPgBasebackup) {
    auto source = pgBasebackupSource(memberConninfo(c), c.pg_bin_dir);
    if (!source.ok()) return fail("backup", source.error());
    taken = takeStreamedBackup(**repo, c.stanza, **source, options, RealClock::instance(), &progress);
  } else {
    auto server = connectBackupServer(memberConninfo(c));
    if (!server.ok()) return fail("backup", server.error());
    taken = takeBackup(**repo, c.stanza, **server, options, RealClock::instance(), &progress);
  }
  if (!taken.ok()) {
    (void)recordBackupFailure(**repo, c.stanza, type, taken.error().message, RealClock::instance());
    refreshMetrics(**repo, c);
    return fail("backup", taken.error());
  }
  refreshMetrics(**repo, c);
  std::cout << "backup " << taken->label << " of stanza " << c.stanza << ": " << taken->describeType() << ", "
            << formatBytes(taken->totalBytes()) << " (" << formatBytes(taken->copiedBytes()) << " copied) from a "
            << (taken->from_replica ? "replica" : "primary") << ", WAL " << taken->start_wal << " to " << taken->stop_wal
            << ", " << taken->start_time << " to " << taken->stop_time << "\n";
  return 0;
}

struct DrillFlags {
  std::string label, scratch, query;
};

int drillVerb(const BackupConfig& c, const DrillFlags& f) {
  if (::geteuid() == 0) {
    std::cerr << "dc-backup drill: PostgreSQL refuses to run as root: run the drill as the postgres user\n";
    return 2;
  }
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail("drill", repo.error());
  DrillOptions options;
  options.label = f.label;
  options.process_max = c.process_max;
  options.scratch_dir = f.scratch.empty() ? "/var/tmp/pgtandem-drill-" + c.stanza + "-" + std::to_string(::getpid()) : f.scratch;
  if (!f.query.empty()) options.check_query = f.query;
  auto server = pgDrillServer(c.pg_bin_dir, c.pg_user);
  auto record = runDrill(**repo, c.stanza, *server, options, RealClock::instance());
  if (!record.ok()) return fail("drill", record.error());
  refreshMetrics(**repo, c);
  std::cout << "drill of backup " << (record->label.empty() ? "(none)" : record->label) << ": "
            << (record->passed ? "passed" : "FAILED") << " in " << static_cast<int>(record->seconds + 0.5) << " s: "
            << record->message << "\n";
  return record->passed ? 0 : 1;
}

int expireVerb(const BackupConfig& c, bool dry_run) {
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail("expire", repo.error());
  RetentionPolicy policy;
  policy.full_count = c.retention_full;
  policy.window = c.retention_window;
  std::vector<StandbyDc> standbys;
  for (const auto& s : c.keep_wal_for) standbys.push_back({s.name, {s.etcd, s.namespace_, s.scope}});
  auto positions = etcdStandbyPositions();
  auto done = expire(**repo, c.stanza, policy, standbys, *positions, RealClock::instance(), dry_run, std::cout);
  if (!done.ok()) return fail("expire", done.error());
  if (!dry_run) refreshMetrics(**repo, c);
  return 0;
}

struct RestoreFlags {
  std::string to, label, time, lsn, xid, name, action = "promote", timeline, role;
  bool immediate = false;
};

int restore(const BackupConfig& c, const RestoreFlags& f) {
  RestoreOptions options;
  options.to_dir = f.to;
  options.label = f.label;
  options.process_max = c.process_max;
  options.as_replica = !f.role.empty();
  int targets = 0;
  auto target = [&](const std::string& value, TargetKind kind) {
    if (value.empty()) return;
    ++targets;
    options.target.kind = kind;
    options.target.value = value;
  };
  target(f.time, TargetKind::kTime);
  target(f.lsn, TargetKind::kLsn);
  target(f.xid, TargetKind::kXid);
  target(f.name, TargetKind::kName);
  if (f.immediate) {
    ++targets;
    options.target.kind = TargetKind::kImmediate;
  }
  if (targets > 1) {
    std::cerr << "dc-backup restore: give at most one of --target-time, --target-lsn, --target-xid, --target-name, "
                 "--target-immediate\n";
    return 2;
  }
  bool action_ok = false;
  options.target.action = parseTargetAction(f.action, action_ok);
  if (!action_ok) {
    std::cerr << "dc-backup restore: --target-action '" << f.action << "': give promote, pause or shutdown\n";
    return 2;
  }
  options.target.timeline = f.timeline;
  if (auto checked = checkRecoveryTarget(options.target); !checked.ok()) {
    std::cerr << "dc-backup restore: " << checked.error().message << "\n";
    return 2;
  }
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  options.restore_command =
      (ec ? std::string("dc-backup") : self.string()) + " archive-get --repo " + c.repo + " --stanza " + c.stanza + " %f %p";
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail("restore", repo.error());
  ProgressMeter progress(std::cerr, ::isatty(STDERR_FILENO) == 1, RealClock::instance(), "restore", 0);
  auto restored = restoreBackup(**repo, c.stanza, options, &progress);
  if (!restored.ok()) return fail("restore", restored.error());
  std::cout << "restored backup " << restored->label << " of stanza " << c.stanza << " into " << f.to
            << (options.as_replica ? " (as a replica: the agent writes how it follows)" : "") << "\n";
  return 0;
}

int info(const BackupConfig& c) {
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail("info", repo.error());
  auto stanza = readStanza(**repo, c.stanza);
  if (!stanza.ok()) return fail("info", stanza.error());
  std::cout << "stanza " << c.stanza << ": system " << stanza->system_identifier << ", PostgreSQL " << stanza->pg_version
            << "\n";
  auto listing = listBackups(**repo, c.stanza);
  if (!listing.ok()) return fail("info", listing.error());
  for (const auto& label : listing->finished) {
    auto m = readManifest(**repo, c.stanza, label);
    if (!m.ok()) {
      std::cout << "  " << label << ": " << m.error().message << "\n";
      continue;
    }
    std::cout << "  " << label << ": " << m->describeType() << ", " << formatBytes(m->totalBytes()) << " ("
              << formatBytes(m->copiedBytes()) << " copied), from a "
              << (m->from_replica ? "replica" : "primary") << ", " << m->start_time << " to " << m->stop_time
              << ", timeline " << m->timeline << ", WAL " << m->start_wal << " to " << m->stop_wal << "\n";
  }
  for (const auto& label : listing->unfinished) std::cout << "  " << label << ": unfinished\n";
  if (auto drill = readDrillRecord(**repo, c.stanza); drill.ok()) {
    std::cout << "  last drill: " << (drill->passed ? "passed" : "FAILED") << ", backup " << drill->label << ", "
              << drill->started << ", " << static_cast<int>(drill->seconds + 0.5) << " s: " << drill->message << "\n";
  }
  return 0;
}

// The options, from --config and then the command line; `needs` names the
// settings the verb cannot do without.
// What a verb cannot do without, beyond the repository and the stanza.
enum class Needs { kNothing, kPgData, kPgDataToCopy };

Result<BackupConfig> settle(const std::string& config_file, const BackupConfig& flags, const std::string& method,
                            Needs needs) {
  // Defaults, under the file and the flags.
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
  if (!flags.pg_host.empty()) c.pg_host = flags.pg_host;
  if (flags.pg_port > 0) c.pg_port = flags.pg_port;
  if (!flags.pg_user.empty()) c.pg_user = flags.pg_user;
  if (flags.process_max > 0) c.process_max = flags.process_max;
  if (flags.compress_level > 0) c.compress_level = flags.compress_level;
  if (!flags.pg_bin_dir.empty()) c.pg_bin_dir = flags.pg_bin_dir;
  if (flags.allow_primary) c.allow_primary = true;
  if (flags.retention_full > 0) c.retention_full = flags.retention_full;
  if (!method.empty()) {
    const auto parsed = parseBackupMethod(method);
    if (!parsed) return makeError(ErrorCode::kConfig, "--method '" + method + "' is not copy or pg_basebackup");
    c.backup_method = *parsed;
  }
  if (c.process_max <= 0) c.process_max = 2;
  if (c.compress_level <= 0) c.compress_level = 3;
  if (c.repo.empty()) return makeError(ErrorCode::kConfig, "no repository: give --repo, or repo: in --config");
  if (c.stanza.empty()) return makeError(ErrorCode::kConfig, "no stanza: give --stanza, or stanza: in --config");
  const bool needs_pg_data =
      needs == Needs::kPgData || (needs == Needs::kPgDataToCopy && c.backup_method == BackupMethod::kCopy);
  if (needs_pg_data && c.pg_data.empty()) {
    return makeError(ErrorCode::kConfig, "no data directory: give --pg-data, or pg_data: in --config");
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dc-backup: pgtandem's WAL archive and backups"};
  app.require_subcommand(1);
  std::string config_file, wal_path, wal_name, dest, pg_wal_dir, method, backup_type = "full";
  BackupConfig flags;
  RestoreFlags restore_flags;
  auto common = [&](CLI::App* verb) {
    verb->add_option("--config", config_file, "a YAML file with repo, stanza, pg_data, ...");
    verb->add_option("--repo", flags.repo, "the repository: an absolute local path");
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
  auto* take = app.add_subcommand("backup", "a full base backup of the member on this host (a replica by preference)");
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
  try {
    app.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  CLI::App* chosen = app.get_subcommands().front();
  const std::string verb = chosen->get_name();
  auto settled = settle(config_file, flags, method,
                        create->parsed() ? Needs::kPgData : take->parsed() ? Needs::kPgDataToCopy : Needs::kNothing);
  if (!settled.ok()) {
    std::cerr << "dc-backup " << verb << ": " << settled.error().message << "\n";
    return 2;
  }
  if (create->parsed()) return stanzaCreate(*settled);
  if (push->parsed()) return archivePush(*settled, config_file, wal_path);
  if (push_worker->parsed()) return archivePushWorker(*settled, pg_wal_dir);
  if (take->parsed()) return takeBaseBackup(*settled, *parseBackupType(backup_type));
  if (put_back->parsed()) return restore(*settled, restore_flags);
  if (show->parsed()) return info(*settled);
  if (check->parsed()) return verify(*settled);
  if (rehearse->parsed()) return drillVerb(*settled, drill_flags);
  if (publish->parsed()) return metricsVerb(*settled, metrics_output);
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
    return expireVerb(c, dry_run);
  }
  if (get_worker->parsed()) return archiveGetWorker(*settled, wal_name);
  return archiveGet(*settled, config_file, wal_name, dest);
}
