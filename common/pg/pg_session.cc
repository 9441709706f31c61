#include "common/pg/pg_session.h"

#include <pqxx/pqxx>

namespace pgtandem::pg {

struct PgSession::Impl {
  std::unique_ptr<pqxx::connection> connection;
};

namespace {

template <typename Fn>
auto guarded(const char* what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const pqxx::broken_connection& e) {
    return makeError(ErrorCode::kUnavailable, std::string(what) + ": connection lost: " + e.what());
  } catch (const pqxx::sql_error& e) {
    return makeError(ErrorCode::kIo, std::string(what) + ": " + e.what() + " [" + e.sqlstate() + "]");
  } catch (const std::exception& e) {
    return makeError(ErrorCode::kInternal, std::string(what) + ": " + e.what());
  }
}

std::optional<Lsn> optionalLsn(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  auto lsn = parseLsn(field.c_str());
  if (!lsn.ok()) return std::nullopt;
  return *lsn;
}

}  // namespace

PgSession::PgSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PgSession::~PgSession() = default;

Result<std::unique_ptr<PgSession>> PgSession::connect(const std::string& conninfo) {
  return guarded("connect", [&]() -> Result<std::unique_ptr<PgSession>> {
    auto impl = std::make_unique<Impl>();
    impl->connection = std::make_unique<pqxx::connection>(conninfo);
    return std::unique_ptr<PgSession>(new PgSession(std::move(impl)));
  });
}

Status PgSession::execute(const std::string& sql) {
  return guarded("execute", [&]() -> Status {
    pqxx::nontransaction tx(*impl_->connection);
    tx.exec(sql);
    return okStatus();
  });
}

Result<PgSession::Rows> PgSession::query(const std::string& sql) {
  auto table = queryTable(sql);
  if (!table.ok()) return table.error();
  return std::move(table->rows);
}

Result<PgSession::Table> PgSession::queryTable(const std::string& sql) {
  return guarded("query", [&]() -> Result<Table> {
    pqxx::nontransaction tx(*impl_->connection);
    const pqxx::result result = tx.exec(sql);
    Table table;
    for (pqxx::row::size_type c = 0; c < result.columns(); ++c) table.columns.emplace_back(result.column_name(c));
    for (const auto& row : result) {
      std::vector<std::optional<std::string>> out;
      for (const auto& field : row) {
        out.push_back(field.is_null() ? std::nullopt : std::optional<std::string>(field.c_str()));
      }
      table.rows.push_back(std::move(out));
    }
    return table;
  });
}

Result<ServerState> PgSession::queryState() {
  return guarded("state query", [&]() -> Result<ServerState> {
    ServerState state;
    pqxx::nontransaction tx(*impl_->connection);
    state.server_version = impl_->connection->server_version();
    // One round trip for the scalar state. On a primary the timeline comes
    // from the current WAL file name (accurate right after a promotion); on a
    // standby from the WAL receiver, else the newest timeline it received
    // WAL of (segment names in pg_wal; the last restartpoint's timeline can
    // be a switchover or two old).
    const pqxx::row row = tx.exec1(
        "SELECT pg_is_in_recovery(),"
        " CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END,"
        " pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,"
        " CASE WHEN pg_is_in_recovery()"
        "  THEN COALESCE((SELECT received_tli FROM pg_stat_get_wal_receiver() WHERE received_tli > 0),"
        "                GREATEST((SELECT timeline_id FROM pg_control_checkpoint()),"
        "                         (SELECT max(('x' || substr(name, 1, 8))::bit(32)::int) FROM pg_ls_waldir()"
        "                          WHERE name ~ '^[0-9A-F]{24}$')))"
        "  ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,"
        " (SELECT status FROM pg_stat_get_wal_receiver()),"
        " pg_postmaster_start_time()::text, pg_last_xact_replay_timestamp()::text,"
        " CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END,"
        " (SELECT string_agg(name, ',' ORDER BY name) FROM pg_settings WHERE pending_restart),"
        " (SELECT latest_end_lsn::text FROM pg_stat_get_wal_receiver()),"
        " (SELECT EXTRACT(EPOCH FROM now() - last_msg_receipt_time)::float8 FROM pg_stat_get_wal_receiver()"
        "   WHERE status = 'streaming')");
    state.in_recovery = row[0].as<bool>();
    state.current_lsn = optionalLsn(row[1]);
    state.receive_lsn = optionalLsn(row[2]);
    state.replay_lsn = optionalLsn(row[3]);
    state.timeline = row[4].is_null() ? 0 : row[4].as<int>();
    state.wal_receiver_status = row[5].is_null() ? "" : row[5].c_str();
    state.postmaster_start_time = row[6].is_null() ? "" : row[6].c_str();
    state.replayed_timestamp = row[7].is_null() ? "" : row[7].c_str();
    state.replay_paused = row[8].as<bool>();
    state.sender_lsn = optionalLsn(row[10]);
    if (!row[11].is_null()) state.upstream_silence_seconds = std::max(0.0, row[11].as<double>());
    if (!row[9].is_null()) {
      std::string_view names = row[9].c_str();
      for (std::size_t start = 0; start <= names.size();) {
        const std::size_t comma = std::min(names.find(',', start), names.size());
        state.pending_restart.emplace_back(names.substr(start, comma - start));
        start = comma + 1;
      }
    }
    for (const auto& r : tx.exec("SELECT application_name, state, sync_state, sent_lsn::text, write_lsn::text,"
                                 " flush_lsn::text, replay_lsn::text, usename, client_addr::text, sync_priority"
                                 " FROM pg_stat_replication ORDER BY 1")) {
      const auto text = [&r](int i) { return r[i].is_null() ? std::string() : std::string(r[i].c_str()); };
      ReplicationRow rep;
      rep.application_name = text(0);
      rep.state = text(1);
      rep.sync_state = text(2);
      rep.sent_lsn = optionalLsn(r[3]);
      rep.write_lsn = optionalLsn(r[4]);
      rep.flush_lsn = optionalLsn(r[5]);
      rep.replay_lsn = optionalLsn(r[6]);
      rep.usename = text(7);
      rep.client_addr = text(8);
      rep.sync_priority = r[9].is_null() ? 0 : r[9].as<int>();
      state.replication.push_back(std::move(rep));
    }
    for (const auto& r : tx.exec("SELECT slot_name, slot_type, active, restart_lsn::text FROM pg_replication_slots ORDER BY 1")) {
      SlotRow slot;
      slot.name = r[0].c_str();
      slot.type = r[1].c_str();
      slot.active = r[2].as<bool>();
      slot.restart_lsn = optionalLsn(r[3]);
      state.slots.push_back(std::move(slot));
    }
    return state;
  });
}

}  // namespace pgtandem::pg
