#include <map>

#include "common/http/http_client.h"
#include "common/pg/pg_session.h"
#include "common/pg/postgres.h"
#include "coordinator/site_peers.h"

namespace pgtandem::coordinator {

namespace {

using namespace std::chrono_literals;

Result<std::unique_ptr<pg::PgSession>> connectTo(const Site& site, const dcs::MemberInfo& member) {
  auto url = pg::parseConnUrl(member.conn_url);
  if (!url.ok()) return url.error();
  std::map<std::string, std::string> fields{{"host", url->first},
                                            {"port", std::to_string(url->second)},
                                            {"user", site.superuser.username},
                                            {"dbname", "postgres"},
                                            {"connect_timeout", "5"},
                                            {"application_name", "pgtandem-coordinator"},
                                            {"options", "-c statement_timeout=30000"}};
  if (!site.superuser.password.empty()) fields["password"] = site.superuser.password;
  auto session = pg::PgSession::connect(pg::conninfo(fields));
  if (!session.ok()) {
    return makeError(session.error().code, site.name + "/" + member.name + ": " + session.error().message);
  }
  return session;
}

Result<std::string> single(pg::PgSession& session, const std::string& sql) {
  auto rows = session.query(sql);
  if (!rows.ok()) return rows.error();
  if (rows->empty() || rows->front().empty() || !rows->front()[0]) {
    return makeError(ErrorCode::kInternal, "no value from: " + sql);
  }
  return *rows->front()[0];
}

Result<std::int64_t> integer(pg::PgSession& session, const std::string& sql) {
  auto text = single(session, sql);
  if (!text.ok()) return text.error();
  try {
    return std::stoll(*text);
  } catch (...) {
    return makeError(ErrorCode::kParse, "not a number: " + *text);
  }
}

class RealSitePeers final : public SitePeers {
 public:
  Status checkpoint(const Site& site, const dcs::MemberInfo& member) override {
    auto session = connectTo(site, member);
    if (!session.ok()) return session.error();
    return (*session)->execute("CHECKPOINT");
  }

  Result<PrimaryHealth> primaryHealth(const Site& site, const dcs::MemberInfo& member) override {
    auto session = connectTo(site, member);
    if (!session.ok()) return session.error();
    PrimaryHealth h;
    PGT_ASSIGN(h.longest_transaction_seconds,
               integer(**session,
                       "SELECT coalesce(max(extract(epoch FROM now() - xact_start))::bigint, 0) FROM pg_stat_activity "
                       "WHERE backend_type = 'client backend' AND xact_start IS NOT NULL AND pid <> pg_backend_pid()"));
    PGT_ASSIGN(h.archive_ready_files,
               integer(**session, "SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'"));
    std::int64_t failing = 0;
    PGT_ASSIGN(failing, integer(**session,
                                "SELECT CASE WHEN last_failed_time IS NOT NULL AND (last_archived_time IS NULL OR "
                                "last_failed_time > last_archived_time) THEN 1 ELSE 0 END FROM pg_stat_archiver"));
    h.archive_failing = failing != 0;
    return h;
  }

  Result<ControlPoint> restartpoint(const Site& site, const dcs::MemberInfo& member) override {
    auto session = connectTo(site, member);
    if (!session.ok()) return session.error();
    ControlPoint c;
    std::string recovery;
    PGT_ASSIGN(recovery, single(**session, "SELECT pg_is_in_recovery()"));
    c.in_recovery = recovery == "t";
    if (c.in_recovery) PGT_TRY((*session)->execute("CHECKPOINT"));
    auto rows = (*session)->query(
        "SELECT s.system_identifier::text, c.timeline_id::text, c.redo_lsn::text, "
        "coalesce(pg_last_wal_replay_lsn()::text, '') FROM pg_control_system() s, pg_control_checkpoint() c");
    if (!rows.ok()) return rows.error();
    if (rows->size() != 1 || rows->front().size() != 4 || !rows->front()[0] || !rows->front()[1] || !rows->front()[2]) {
      return makeError(ErrorCode::kInternal, "pg_control could not be read on " + member.name);
    }
    const auto& row = rows->front();
    c.system_identifier = *row[0];
    try {
      c.timeline = std::stoi(*row[1]);
    } catch (...) {
      return makeError(ErrorCode::kParse, "pg_control timeline is not a number: " + *row[1]);
    }
    PGT_ASSIGN(c.redo_lsn, parseLsn(*row[2]));
    if (row[3] && !row[3]->empty()) {
      Lsn replay = 0;
      PGT_ASSIGN(replay, parseLsn(*row[3]));
      c.replay_lsn = replay;
    }
    return c;
  }

  Result<bool> inRecovery(const Site& site, const dcs::MemberInfo& member) override {
    auto session = connectTo(site, member);
    if (!session.ok()) return session.error();
    auto recovery = single(**session, "SELECT pg_is_in_recovery()");
    if (!recovery.ok()) return recovery.error();
    return *recovery == "t";
  }

  Result<int> primaryCheck(const dcs::MemberInfo& member) override {
    http::CallOptions options;
    options.timeout = 2s;
    auto response = http::call(member.api_url, "GET", "/primary", "", options);
    if (!response.ok()) return response.error();
    return response->status;
  }
};

}  // namespace

std::unique_ptr<SitePeers> makeRealSitePeers() { return std::make_unique<RealSitePeers>(); }

}  // namespace pgtandem::coordinator
