#include "ctl/backup_commands.h"

#include <filesystem>
#include <fstream>
#include <map>

#include "backup/progress.h"
#include "backup/repository.h"
#include "common/pg/pg_session.h"
#include "common/pg/postgres.h"
#include "common/process/process.h"

namespace pgtandem::ctl {

namespace fs = std::filesystem;

namespace {

int listBackupsVerb(const backup::BackupConfig& c, Format format, std::ostream& out, std::ostream& err) {
  auto repo = backup::openRepository(c.repo, {c.sftp_key_file, c.sftp_known_hosts});
  if (!repo.ok()) {
    err << "dcctl backup list: " << repo.error().message << "\n";
    return 1;
  }
  auto listing = backup::loadBackups(**repo, c.stanza);
  if (!listing.ok()) {
    err << "dcctl backup list: " << listing.error().message << "\n";
    return 1;
  }
  render(backupTable(c.stanza, listing->finished, listing->unfinished), format, out);
  return 0;
}

}  // namespace

Table backupTable(const std::string& stanza, const std::vector<backup::BackupManifest>& finished,
                  const std::vector<std::string>& unfinished) {
  Table t;
  t.title = "Stanza: " + stanza;
  t.columns = {"Label", "Type", "Prior", "Size", "Copied", "From", "Started", "Stopped", "TL", "WAL"};
  t.numeric = {false, false, false, true, true, false, false, false, true, false};
  for (const auto& m : finished) {
    t.rows.push_back({m.label, backup::backupTypeName(m.type), m.prior, backup::formatBytes(m.totalBytes()),
                      backup::formatBytes(m.copiedBytes()), m.from_replica ? "replica" : "primary", m.start_time, m.stop_time,
                      std::to_string(m.timeline), m.start_wal + " - " + m.stop_wal});
  }
  for (const auto& label : unfinished) t.rows.push_back({label, "unfinished", "", "", "", "", "", "", "", ""});
  return t;
}

int backupCommand(const BackupRequest& r, Format format, std::ostream& out, std::ostream& err) {
  using namespace backup::verbs;
  const VerbIo io{out, err, "dcctl backup"};
  const Needs needs = r.verb == "create" ? Needs::kPgDataToCopy : Needs::kNothing;
  auto c = settle(io, r.config_file, r.flags, r.method, needs);
  if (!c.ok()) {
    err << "dcctl backup " << r.verb << ": " << c.error().message << "\n";
    return 2;
  }
  if (r.verb == "list") return listBackupsVerb(*c, format, out, err);
  if (r.verb == "info") return info(io, *c);
  if (r.verb == "verify") return verify(io, *c);
  if (r.verb == "expire") return expireVerb(io, *c, r.dry_run);
  if (r.verb == "drill") return drillVerb(io, *c, r.drill);
  if (r.verb == "restore") return restore(io, *c, r.restore);
  if (r.verb == "create") {
    const auto type = backup::parseBackupType(r.type);
    if (!type) {
      err << "dcctl backup create: --type '" << r.type << "' is not full, diff or incr\n";
      return 2;
    }
    return takeBaseBackup(io, *c, *type);
  }
  err << "dcctl backup: unknown verb " << r.verb << "\n";
  return 2;
}

namespace {

// The member a dump reads: the one named, else the running replica that
// has replayed the most; the leader only when allowed.
Result<const dcs::MemberInfo*> dumpMember(const dcs::ClusterSnapshot& cluster, const DumpOptions& o) {
  const std::string leader = cluster.leader ? cluster.leader->name : "";
  if (!o.member.empty()) {
    const dcs::MemberInfo* m = cluster.member(o.member);
    if (!m) return makeError(ErrorCode::kNotFound, o.member + " is not a member of the cluster");
    if (m->name == leader && !o.allow_primary) {
      return makeError(ErrorCode::kConflict, o.member + " is the leader: dumps are taken from a replica (--allow-primary allows it)");
    }
    return m;
  }
  const dcs::MemberInfo* best = cluster.mostCaughtUpReplica();
  if (best) return best;
  if (o.allow_primary && cluster.leaderMember()) return cluster.leaderMember();
  return makeError(ErrorCode::kNotFound, "no running replica to dump from (--allow-primary takes the leader)");
}

}  // namespace

int dumpCommand(Context& ctx, const DumpOptions& o) {
  auto& err = ctx.terminal().err;
  auto failed = [&](const std::string& why) {
    err << "dcctl backup dump: " << why << "\n";
    return 1;
  };
  if (o.to.empty() || o.to.front() != '/') {
    err << "dcctl backup dump: give --to, an absolute path to a new or empty directory\n";
    return 2;
  }
  std::error_code ec;
  if (fs::exists(o.to, ec) && !fs::is_empty(o.to, ec)) return failed(o.to + " is not empty: a dump goes into a new or empty directory");
  auto cluster = ctx.load(o.scope);
  if (!cluster.ok()) return failed(cluster.error().message);
  auto member = dumpMember(*cluster, o);
  if (!member.ok()) return failed(member.error().message);
  auto hp = pg::parseConnUrl((*member)->conn_url);
  if (!hp.ok()) return failed(hp.error().message);
  const config::Credentials& superuser = ctx.config().postgresql.superuser;
  std::map<std::string, std::string> fields{{"host", hp->first}, {"port", std::to_string(hp->second)},
                                            {"user", superuser.username.empty() ? "postgres" : superuser.username},
                                            {"dbname", "postgres"}, {"application_name", "dcctl backup dump"}};
  if (!superuser.password.empty()) fields["password"] = superuser.password;
  auto session = pg::PgSession::connect(pg::conninfo(fields));
  if (!session.ok()) return failed("cannot connect to " + (*member)->name + ": " + session.error().message);
  auto rows = (*session)->query(
      "SELECT current_setting('server_version_num'), pg_is_in_recovery()::text, "
      "(SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE datallowconn AND NOT datistemplate)");
  if (!rows.ok() || rows->empty()) return failed("cannot read the databases of " + (*member)->name);
  const int major = std::stoi((*rows)[0][0].value_or("150000")) / 10000;
  if ((*rows)[0][1].value_or("") != "true" && !o.allow_primary) {
    return failed((*member)->name + " is a primary: dumps are taken from a replica (--allow-primary allows it)");
  }
  std::vector<std::string> databases;
  const std::string list = (*rows)[0][2].value_or("");
  for (std::size_t start = 0; start < list.size();) {
    const auto comma = std::min(list.find(',', start), list.size());
    databases.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  const std::string bin = ctx.config().postgresql.bin_dir.empty()
                              ? "/usr/lib/postgresql/" + std::to_string(major) + "/bin"
                              : ctx.config().postgresql.bin_dir;
  fs::create_directories(o.to, ec);
  if (ec) return failed("cannot create " + o.to + ": " + ec.message());
  PosixProcessRunner runner;
  auto run = [&](std::vector<std::string> argv, const std::string& db) -> Status {
    fields["dbname"] = db;
    argv.push_back("--dbname=" + pg::conninfo(fields));
    Command command;
    command.argv = std::move(argv);
    command.timeout = std::chrono::hours(24);
    auto ran = runner.run(command);
    if (!ran.ok()) return ran.error();
    if (ran->exit_code != 0) {
      return makeError(ErrorCode::kUnavailable, command.argv.front() + " failed: " + tailLines(ran->output, 5));
    }
    return okStatus();
  };
  ctx.out() << "dumping from " << (*member)->name << " (" << hp->first << ":" << hp->second << ") into " << o.to << "\n";
  if (auto globals = run({bin + "/pg_dumpall", "--globals-only", "--file=" + o.to + "/globals.sql"}, "postgres");
      !globals.ok()) {
    return failed(globals.error().message);
  }
  for (const auto& db : databases) {
    // A name that is not a plain file name gets its place by number.
    const bool plain = db.find('/') == std::string::npos && db != "." && db != "..";
    const std::string where = o.to + "/" + (plain ? db : "database-" + std::to_string(&db - databases.data())) + ".dir";
    if (auto dumped = run({bin + "/pg_dump", "--format=directory", "--jobs=" + std::to_string(o.jobs), "--file=" + where},
                          db);
        !dumped.ok()) {
      return failed(db + ": " + dumped.error().message);
    }
    ctx.out() << "  " << db << " -> " << where << "\n";
  }
  std::ofstream info(o.to + "/dump.info");
  info << "member: " << (*member)->name << "\ntaken: " << formatIsoTime(ctx.clock->wallNow()) << "\ndatabases:\n";
  for (const auto& db : databases) info << "  - " << db << "\n";
  info << "restore: psql -f globals.sql; pg_restore -j N -C -d postgres <database>.dir\n";
  ctx.out() << "dump done: globals.sql and " << databases.size() << " database(s); restore with pg_restore -j "
            << o.jobs << "\n";
  return 0;
}

}  // namespace pgtandem::ctl
