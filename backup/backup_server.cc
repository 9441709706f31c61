// The real BackupServer: one libpq session held for the whole backup.
#include <unistd.h>

#include "backup/base_backup.h"
#include "common/pg/pg_session.h"

namespace pgtandem::backup {

namespace {

class PgBackupServer : public BackupServer {
 public:
  explicit PgBackupServer(std::unique_ptr<pg::PgSession> session) : session_(std::move(session)) {}

  Result<bool> inRecovery() override {
    auto rows = session_->query("SELECT pg_is_in_recovery()::text");
    if (!rows.ok()) return rows.error();
    if (rows->size() != 1 || !(*rows)[0][0]) return makeError(ErrorCode::kParse, "pg_is_in_recovery() came back empty");
    return *(*rows)[0][0] == "true";
  }

  Result<Started> start(const std::string& label, bool fast_checkpoint) override {
    // Labels are made by takeBackup (digits, '-', 'F'); checked all the same,
    // since they end up inside SQL.
    if (label.find_first_not_of("0123456789-ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string::npos) {
      return makeError(ErrorCode::kInvalidArgument, "backup label '" + label + "'");
    }
    auto facts = session_->query(
        "SELECT pg_is_in_recovery()::text, (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size')");
    if (!facts.ok()) return facts.error();
    Started started;
    if (facts->size() != 1 || !(*facts)[0][0] || !(*facts)[0][1]) {
      return makeError(ErrorCode::kParse, "pg_is_in_recovery() or wal_segment_size came back empty");
    }
    started.in_recovery = *(*facts)[0][0] == "true";
    try {
      started.wal_segment_size = std::stoull(*(*facts)[0][1]);
    } catch (const std::exception&) {
      return makeError(ErrorCode::kParse, "wal_segment_size is '" + *(*facts)[0][1] + "'");
    }
    // A temporary slot (gone with the session) keeps the WAL from the start
    // on in pg_wal until we have copied it.
    auto slot = session_->query("SELECT pg_create_physical_replication_slot('pgtandem_backup_" +
                                std::to_string(::getpid()) + "', true, true)");
    if (!slot.ok()) {
      return makeError(slot.error().code, "cannot reserve the WAL with a temporary replication slot (is "
                                          "max_replication_slots used up?): " + slot.error().message);
    }
    auto lsn = session_->query("SELECT pg_backup_start('" + label + "', " + (fast_checkpoint ? "true" : "false") + ")::text");
    if (!lsn.ok()) return makeError(lsn.error().code, "pg_backup_start failed: " + lsn.error().message);
    if (lsn->size() != 1 || !(*lsn)[0][0]) return makeError(ErrorCode::kParse, "pg_backup_start returned nothing");
    auto parsed = parseLsn(*(*lsn)[0][0]);
    if (!parsed.ok()) return parsed.error();
    started.lsn = *parsed;
    return started;
  }

  Result<Stopped> stop() override {
    // wait_for_archive false: the WAL the backup needs is copied by us.
    auto rows = session_->query("SELECT lsn::text, labelfile, spcmapfile FROM pg_backup_stop(false)");
    if (!rows.ok()) return makeError(rows.error().code, "pg_backup_stop failed: " + rows.error().message);
    if (rows->size() != 1 || !(*rows)[0][0] || !(*rows)[0][1]) {
      return makeError(ErrorCode::kParse, "pg_backup_stop returned nothing");
    }
    Stopped stopped;
    auto lsn = parseLsn(*(*rows)[0][0]);
    if (!lsn.ok()) return lsn.error();
    stopped.lsn = *lsn;
    stopped.backup_label = *(*rows)[0][1];
    stopped.tablespace_map = (*rows)[0][2].value_or("");
    return stopped;
  }

 private:
  std::unique_ptr<pg::PgSession> session_;
};

}  // namespace

Result<std::unique_ptr<BackupServer>> connectBackupServer(const std::string& conninfo) {
  auto session = pg::PgSession::connect(conninfo);
  if (!session.ok()) return makeError(session.error().code, "cannot connect to PostgreSQL: " + session.error().message);
  return std::unique_ptr<BackupServer>(std::make_unique<PgBackupServer>(std::move(*session)));
}

}  // namespace pgtandem::backup
