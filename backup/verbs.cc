#include "backup/verbs.h"

#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>

#include "backup/async_archive.h"
#include "backup/backup_config.h"
#include "backup/backup_metrics.h"
#include "backup/backup_verify.h"
#include "backup/base_backup.h"
#include "backup/cluster_identity.h"
#include "backup/drill.h"
#include "backup/expire.h"
#include "backup/repository.h"
#include "backup/restore.h"
#include "backup/site_source.h"
#include "backup/stanza.h"
#include "backup/wal_archive.h"
#include "common/pg/postgres.h"
#include "common/process/process.h"
#include "common/util/clock.h"
#include "common/util/files.h"

namespace pgtandem::backup::verbs {

std::string dcBackupProgram() { return siblingProgram("dc-backup", "backup"); }

static RepositoryOptions repositoryOptions(const BackupConfig& c) { return {c.sftp_key_file, c.sftp_known_hosts}; }

static int fail(const VerbIo& io, const std::string& verb, const Error& error) {
  io.err << io.program << " " << verb << ": " << error.message << "\n";
  return 1;
}

int stanzaCreate(const VerbIo& io, const BackupConfig& c) {
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail(io, "stanza-create", repo.error());
  auto identity = readClusterIdentity(c.pg_data);
  if (!identity.ok()) return fail(io, "stanza-create", identity.error());
  StanzaInfo info{identity->system_identifier, identity->pg_version, formatIsoTime(RealClock::instance().wallNow())};
  if (auto created = createStanza(**repo, c.stanza, info); !created.ok())
    return fail(io, "stanza-create", created.error());
  io.out << "stanza " << c.stanza << " in " << c.repo << ": system " << info.system_identifier << ", PostgreSQL "
         << info.pg_version << "\n";
  return 0;
}

// archive-push's push itself, with the guard when site: is configured.
static std::function<Result<PushResult>(const std::string&)> pusher(Repository& repo, const BackupConfig& c) {
  if (c.site_name.empty()) return [&repo, &c](const std::string& path) { return pushWalFile(repo, c.stanza, path); };
  std::shared_ptr<SiteSource> site = etcdSiteSource({c.site_etcd, c.site_namespace, c.site_scope});
  return [&repo, &c, site](const std::string& path) { return guardedPush(repo, c.stanza, path, *site, c.site_name); };
}

static Spool spoolOf(const BackupConfig& c) { return Spool{c.spool_path, c.archive_push_queue_max}; }

// The asynchronous worker, started detached (a new session) so that it
// outlives this archive_command; it exits at once when one already runs.
static void startWorker(const std::string& verb, const std::string& config_file,
                        const std::vector<std::string>& extra) {
  SpawnOptions worker;
  worker.argv = {dcBackupProgram(), verb, "--config", config_file};
  worker.argv.insert(worker.argv.end(), extra.begin(), extra.end());
  worker.new_session = true;
  (void)spawnProcess(worker);
}

// How long archive_command waits for the asynchronous worker's word on its
// file before it fails (PostgreSQL retries); pgBackRest's archive-timeout.
static constexpr std::chrono::seconds kAsyncPushWait{60};

int archivePush(const VerbIo& io, const BackupConfig& c, const std::string& config_file, const std::string& wal_path) {
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
    if (!pushed.ok()) return fail(io, "archive-push", pushed.error());
    return 0;
  }
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail(io, "archive-push", repo.error());
  auto pushed = pusher(**repo, c)(wal_path);
  if (!pushed.ok()) return fail(io, "archive-push", pushed.error());
  if (pushed->already_archived) {
    io.err << io.program << " archive-push: " << std::filesystem::path(wal_path).filename().string()
           << " was already archived (same checksum)\n";
  }
  return 0;
}

int archivePushWorker(const VerbIo& io, const BackupConfig& c, const std::string& pg_wal) {
  if (!c.archive_async) {
    io.err << io.program << " archive-push-worker: archive_async is not set in the configuration\n";
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(c.spool_path, ec);
  std::ofstream log(c.spool_path + "/worker.log", std::ios::app);
  // The repository is opened when a push needs it and opened again after a
  // failure that may be the connection's (an SFTP host that went away and
  // came back): each waiting archive_command gets the reason at once.
  struct Opened {
    std::unique_ptr<Repository> repo;
    std::function<Result<PushResult>(const std::string&)> push;
  };
  std::mutex mutex;
  std::shared_ptr<Opened> opened;
  auto push = [&](const std::string& path) -> Result<PushResult> {
    std::shared_ptr<Opened> current;
    {
      std::lock_guard lock(mutex);
      if (!opened) {
        auto repo = openRepository(c.repo, repositoryOptions(c));
        if (!repo.ok()) return repo.error();
        auto fresh = std::make_shared<Opened>();
        fresh->repo = std::move(*repo);
        fresh->push = pusher(*fresh->repo, c);
        opened = fresh;
      }
      current = opened;
    }
    auto pushed = current->push(path);
    if (!pushed.ok() && (pushed.error().code == ErrorCode::kUnavailable || pushed.error().code == ErrorCode::kIo)) {
      std::lock_guard lock(mutex);
      if (opened == current) opened.reset();
    }
    return pushed;
  };
  auto ran = runPushWorker(spoolOf(c), pg_wal, c.process_max, push, RealClock::instance(), std::chrono::seconds(2),
                           std::chrono::seconds(1), log);
  if (!ran.ok()) return fail(io, "archive-push-worker", ran.error());
  return 0;
}

int archiveGet(const VerbIo& io, const BackupConfig& c, const std::string& config_file, const std::string& name,
               const std::string& dest) {
  if (c.archive_async) {
    auto taken = takePrefetched(spoolOf(c), name, dest);
    if (taken.ok() || taken.error().code != ErrorCode::kNotFound) {
      startWorker("archive-get-worker", config_file, {name});
      if (!taken.ok()) return fail(io, "archive-get", taken.error());
      return 0;
    }
  }
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail(io, "archive-get", repo.error());
  auto got = getWalFile(**repo, c.stanza, name, dest);
  if (!got.ok()) {
    // Asked for files that do not exist yet all the time: say nothing.
    if (got.error().code == ErrorCode::kNotFound) return 1;
    return fail(io, "archive-get", got.error());
  }
  if (c.archive_async) startWorker("archive-get-worker", config_file, {name});
  return 0;
}

int archiveGetWorker(const VerbIo& io, const BackupConfig& c, const std::string& after) {
  if (!c.archive_async) {
    io.err << io.program << " archive-get-worker: archive_async is not set in the configuration\n";
    return 2;
  }
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail(io, "archive-get-worker", repo.error());
  const int depth = static_cast<int>(std::max<std::uint64_t>(1, c.archive_get_queue_max / kDefaultWalSegmentSize));
  auto fetched = prefetchAfter(spoolOf(c), **repo, c.stanza, after, depth, kDefaultWalSegmentSize);
  if (!fetched.ok()) return fail(io, "archive-get-worker", fetched.error());
  return 0;
}

int verify(const VerbIo& io, const BackupConfig& c) {
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail(io, "verify", repo.error());
  auto report = verifyWalArchive(**repo, c.stanza);
  if (!report.ok()) return fail(io, "verify", report.error());
  bool clean = report->clean();
  for (const auto& bad : report->bad_files) io.out << "bad file: " << bad << "\n";
  for (const auto& gap : report->gaps) io.out << "gap: " << gap << "\n";
  io.out << "stanza " << c.stanza << ": " << report->files_checked << " WAL files checked, " << report->bad_files.size()
         << " bad, " << report->gaps.size() << " gaps\n";
  auto listing = listBackups(**repo, c.stanza);
  if (!listing.ok()) return fail(io, "verify", listing.error());
  for (const auto& label : listing->unfinished)
    io.out << "backup " << label << ": unfinished (no manifest), never restored\n";
  for (const auto& label : listing->finished) {
    auto manifest = readManifest(**repo, c.stanza, label);
    if (!manifest.ok()) {
      io.out << "bad file: " << manifest.error().message << "\n";
      clean = false;
      continue;
    }
    const auto checked = verifyBackup(**repo, c.stanza, *manifest, c.process_max);
    for (const auto& bad : checked.bad_files) io.out << "bad file: " << bad << "\n";
    for (const auto& gap : checked.gaps) io.out << "gap: " << gap << "\n";
    io.out << "backup " << label << ": " << checked.files_checked << " files checked, " << checked.bad_files.size()
           << " bad, " << checked.gaps.size() << " gaps\n";
    clean = clean && checked.clean();
  }
  return clean ? 0 : 1;
}

static std::string memberConninfo(const BackupConfig& c) {
  std::map<std::string, std::string> fields{{"dbname", "postgres"}, {"application_name", "dc-backup"}};
  if (!c.pg_host.empty()) fields["host"] = c.pg_host;
  if (c.pg_port > 0) fields["port"] = std::to_string(c.pg_port);
  if (!c.pg_user.empty()) fields["user"] = c.pg_user;
  return pg::conninfo(fields);
}

// metrics_file, refreshed after a verb that changes what it reports; a
// failure to write it is a warning, not the verb's failure.
static void refreshMetrics(const VerbIo& io, Repository& repo, const BackupConfig& c) {
  if (c.metrics_file.empty()) return;
  auto text = backupMetrics(repo, c.stanza);
  Status written = text.ok() ? writeFileAtomically(c.metrics_file, *text, 0644) : Status(text.error());
  if (!written.ok())
    io.err << io.program << ": warning: metrics_file " << c.metrics_file << ": " << written.error().message << "\n";
}

int metricsVerb(const VerbIo& io, const BackupConfig& c, const std::string& output) {
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail(io, "metrics", repo.error());
  auto text = backupMetrics(**repo, c.stanza);
  if (!text.ok()) return fail(io, "metrics", text.error());
  if (output.empty()) {
    io.out << *text;
    return 0;
  }
  if (auto written = writeFileAtomically(output, *text, 0644); !written.ok())
    return fail(io, "metrics", written.error());
  return 0;
}

int takeBaseBackup(const VerbIo& io, const BackupConfig& c, BackupType type) {
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail(io, "backup", repo.error());
  BackupOptions options;
  options.data_dir = c.pg_data;
  options.process_max = c.process_max;
  options.compress_level = c.compress_level;
  options.allow_primary = c.allow_primary;
  options.type = type;
  const bool terminal = ::isatty(STDERR_FILENO) == 1;
  ProgressMeter progress(io.err, terminal, RealClock::instance(), "backup", 0);
  Result<BackupManifest> taken = makeError(ErrorCode::kInternal, "no backup taken");
  if (c.backup_method == BackupMethod::kPgBasebackup) {
    auto source = pgBasebackupSource(memberConninfo(c), c.pg_bin_dir);
    if (!source.ok()) return fail(io, "backup", source.error());
    taken = takeStreamedBackup(**repo, c.stanza, **source, options, RealClock::instance(), &progress);
  } else {
    auto server = connectBackupServer(memberConninfo(c));
    if (!server.ok()) return fail(io, "backup", server.error());
    taken = takeBackup(**repo, c.stanza, **server, options, RealClock::instance(), &progress);
  }
  if (!taken.ok()) {
    (void)recordBackupFailure(**repo, c.stanza, type, taken.error().message, RealClock::instance());
    refreshMetrics(io, **repo, c);
    return fail(io, "backup", taken.error());
  }
  refreshMetrics(io, **repo, c);
  io.out << "backup " << taken->label << " of stanza " << c.stanza << ": " << taken->describeType() << ", "
         << formatBytes(taken->totalBytes()) << " (" << formatBytes(taken->copiedBytes()) << " copied) from a "
         << (taken->from_replica ? "replica" : "primary") << ", WAL " << taken->start_wal << " to " << taken->stop_wal
         << ", " << taken->start_time << " to " << taken->stop_time << "\n";
  if (io.json_result) {
    io.out << boost::json::serialize(boost::json::object{{"label", taken->label},
                                                         {"bytes", taken->totalBytes()},
                                                         {"copied_bytes", taken->copiedBytes()},
                                                         {"from_replica", taken->from_replica}})
           << "\n";
  }
  return 0;
}

int drillVerb(const VerbIo& io, const BackupConfig& c, const DrillFlags& f) {
  if (::geteuid() == 0) {
    io.err << io.program << " drill: PostgreSQL refuses to run as root: run the drill as the postgres user\n";
    return 2;
  }
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail(io, "drill", repo.error());
  DrillOptions options;
  options.label = f.label;
  options.process_max = c.process_max;
  options.scratch_dir =
      f.scratch.empty() ? "/var/tmp/pgtandem-drill-" + c.stanza + "-" + std::to_string(::getpid()) : f.scratch;
  if (!f.query.empty()) options.check_query = f.query;
  auto server = pgDrillServer(c.pg_bin_dir, c.pg_user);
  auto record = runDrill(**repo, c.stanza, *server, options, RealClock::instance());
  if (!record.ok()) return fail(io, "drill", record.error());
  refreshMetrics(io, **repo, c);
  io.out << "drill of backup " << (record->label.empty() ? "(none)" : record->label) << ": "
         << (record->passed ? "passed" : "FAILED") << " in " << static_cast<int>(record->seconds + 0.5)
         << " s: " << record->message << "\n";
  if (io.json_result) {
    io.out << boost::json::serialize(boost::json::object{
                  {"label", record->label}, {"passed", record->passed}, {"message", record->message}})
           << "\n";
  }
  return record->passed ? 0 : 1;
}

int expireVerb(const VerbIo& io, const BackupConfig& c, bool dry_run) {
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail(io, "expire", repo.error());
  RetentionPolicy policy;
  policy.full_count = c.retention_full;
  policy.window = c.retention_window;
  std::vector<StandbyDc> standbys;
  for (const auto& s : c.keep_wal_for) standbys.push_back({s.name, {s.etcd, s.namespace_, s.scope}});
  auto positions = etcdStandbyPositions();
  auto done = expire(**repo, c.stanza, policy, standbys, *positions, RealClock::instance(), dry_run, io.out);
  if (!done.ok()) return fail(io, "expire", done.error());
  if (!dry_run) refreshMetrics(io, **repo, c);
  return 0;
}

int restore(const VerbIo& io, const BackupConfig& c, const RestoreFlags& f) {
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
    io.err << io.program
           << " restore: give at most one of --target-time, --target-lsn, --target-xid, --target-name, "
              "--target-immediate\n";
    return 2;
  }
  bool action_ok = false;
  options.target.action = parseTargetAction(f.action, action_ok);
  if (!action_ok) {
    io.err << io.program << " restore: --target-action '" << f.action << "': give promote, pause or shutdown\n";
    return 2;
  }
  options.target.timeline = f.timeline;
  if (auto checked = checkRecoveryTarget(options.target); !checked.ok()) {
    io.err << io.program << " restore: " << checked.error().message << "\n";
    return 2;
  }
  options.restore_command = dcBackupProgram() + " archive-get --repo " + c.repo + " --stanza " + c.stanza + " %f %p";
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail(io, "restore", repo.error());
  ProgressMeter progress(io.err, ::isatty(STDERR_FILENO) == 1, RealClock::instance(), "restore", 0);
  auto restored = restoreBackup(**repo, c.stanza, options, &progress);
  if (!restored.ok()) return fail(io, "restore", restored.error());
  io.out << "restored backup " << restored->label << " of stanza " << c.stanza << " into " << f.to
         << (options.as_replica ? " (as a replica: the agent writes how it follows)" : "") << "\n";
  return 0;
}

int info(const VerbIo& io, const BackupConfig& c) {
  auto repo = openRepository(c.repo, repositoryOptions(c));
  if (!repo.ok()) return fail(io, "info", repo.error());
  auto stanza = readStanza(**repo, c.stanza);
  if (!stanza.ok()) return fail(io, "info", stanza.error());
  io.out << "stanza " << c.stanza << ": system " << stanza->system_identifier << ", PostgreSQL " << stanza->pg_version
         << "\n";
  auto listing = listBackups(**repo, c.stanza);
  if (!listing.ok()) return fail(io, "info", listing.error());
  for (const auto& label : listing->finished) {
    auto m = readManifest(**repo, c.stanza, label);
    if (!m.ok()) {
      io.out << "  " << label << ": " << m.error().message << "\n";
      continue;
    }
    io.out << "  " << label << ": " << m->describeType() << ", " << formatBytes(m->totalBytes()) << " ("
           << formatBytes(m->copiedBytes()) << " copied), from a " << (m->from_replica ? "replica" : "primary") << ", "
           << m->start_time << " to " << m->stop_time << ", timeline " << m->timeline << ", WAL " << m->start_wal
           << " to " << m->stop_wal << "\n";
  }
  for (const auto& label : listing->unfinished) io.out << "  " << label << ": unfinished\n";
  if (auto drill = readDrillRecord(**repo, c.stanza); drill.ok()) {
    io.out << "  last drill: " << (drill->passed ? "passed" : "FAILED") << ", backup " << drill->label << ", "
           << drill->started << ", " << static_cast<int>(drill->seconds + 0.5) << " s: " << drill->message << "\n";
  }
  return 0;
}

Result<BackupConfig> settle(const VerbIo& io, const std::string& config_file, const BackupConfig& flags,
                            const std::string& method, Needs needs) {
  // Defaults, under the file and the flags.
  BackupConfig c;
  if (!config_file.empty()) {
    auto loaded = loadBackupConfig(config_file);
    if (!loaded.ok()) return loaded.error();
    c = std::move(*loaded);
    for (const auto& warning : c.warnings) io.err << io.program << ": warning: " << warning << "\n";
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

}  // namespace pgtandem::backup::verbs
