#pragma once
// A libpq connection (through libpqxx) for the state queries of the agent.
// libpqxx stays out of this header; every call returns Result and never
// throws. The connection does not reconnect by itself (libpqxx 6 may
// silently reactivate; we disable that by reconnecting explicitly).

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/pg/postgres.h"

namespace pgtandem::pg {

struct ReplicationRow {
  std::string usename;
  std::string application_name;
  std::string client_addr;
  std::string state;       // streaming, catchup, ...
  std::string sync_state;  // async, sync, quorum, potential
  int sync_priority = 0;
  std::optional<Lsn> sent_lsn, write_lsn, flush_lsn, replay_lsn;
};

struct SlotRow {
  std::string name;
  std::string type;  // physical | logical
  bool active = false;
  std::optional<Lsn> restart_lsn;
};

struct ServerState {
  int server_version = 0;  // 150018
  bool in_recovery = false;
  int timeline = 0;
  std::optional<Lsn> current_lsn;  // primary: pg_current_wal_lsn()
  std::optional<Lsn> receive_lsn;  // standby
  std::optional<Lsn> replay_lsn;   // standby
  std::string wal_receiver_status;  // "streaming" when a WAL receiver runs
  std::optional<Lsn> sender_lsn;    // the upstream's last reported WAL end (latest_end_lsn)
  // Streaming: seconds since the WAL receiver last heard from its upstream
  // (last_msg_receipt_time, on this server's clock).
  std::optional<double> upstream_silence_seconds;
  std::string postmaster_start_time;  // as PostgreSQL prints a timestamptz
  std::string replayed_timestamp;     // pg_last_xact_replay_timestamp(), "" if none
  bool replay_paused = false;
  std::vector<std::string> pending_restart;  // parameters changed that need a restart
  std::vector<ReplicationRow> replication;
  std::vector<SlotRow> slots;
};

class PgSession {
 public:
  static Result<std::unique_ptr<PgSession>> connect(const std::string& conninfo);
  ~PgSession();

  Result<ServerState> queryState();
  // Runs one statement outside a transaction block (CHECKPOINT, ALTER SYSTEM).
  Status execute(const std::string& sql);
  // Runs a query; NULL fields come back as empty optionals.
  using Rows = std::vector<std::vector<std::optional<std::string>>>;
  Result<Rows> query(const std::string& sql);
  // The same with the column names.
  struct Table {
    std::vector<std::string> columns;
    Rows rows;
  };
  Result<Table> queryTable(const std::string& sql);

  struct Impl;

 private:
  explicit PgSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgtandem::pg
