#pragma once
// PostgresControl over a real PostgreSQL 15 (common/pg): what the agent's
// executor calls in production and in the integration tests.

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "common/config/config.h"
#include "common/pg/pg_session.h"
#include "common/pg/postgres.h"
#include "dc-agent/ha/postgres_control.h"
#include "standby/member_names.h"

namespace pgtandem::agent {

class RealPostgres final : public PostgresControl {
 public:
  RealPostgres(const config::Config& config, ProcessRunner& runner);

  PgObservation observe() override;
  Result<std::string> bootstrap() override;
  Status clone(const dcs::MemberInfo& source) override;
  Status startPrimary() override;
  Status follow(const dcs::MemberInfo* upstream) override;
  Status promote() override;
  Status demote() override;
  Status rewind(const dcs::MemberInfo& source) override;
  Status syncSlots(const std::set<std::string>& wanted, const std::map<std::string, Lsn>& advance) override;
  void setUpstreamSettings(const UpstreamSettings& settings) override { upstream_ = settings; }
  Status setDynamicParameters(const std::map<std::string, std::string>& parameters) override;
  Status setSynchronousStandbyNames(const std::string& value) override;
  Result<Lsn> lastCheckpoint() override;
  Result<dcs::DemotionToken> demotionToken() override;
  Result<Lsn> receivedBy(const dcs::MemberInfo& member) override;
  PeerState probe(const dcs::MemberInfo& member) override;
  Result<Lsn> forkPoint(const dcs::MemberInfo& member, int their_timeline, int ours) override;
  Result<TimelineHistoryFile> ownTimelineHistory(int timeline) override;
  Status restart() override;
  Status reload() override;
  Status removeData() override;
  void setQueryTimeout(std::chrono::seconds timeout) override;

  // Makes PostgreSQL refuse writes at once: a fast-shutdown request to the
  // postmaster of our data directory (it stops every backend; new sessions
  // are refused), without waiting. Thread-safe and non-blocking: the lease
  // guard calls it while the HA loop may be blocked anywhere.
  void refuseWritesNow() const;

  // What the other DC's primary shows of its members' names (its
  // pgtandem.member_name and pg_stat_replication's application names).
  Result<standby::RemoteNames> namesAt(const dcs::MemberInfo& remote);

  // The running postmaster's pidfd (readable when it exits), or -1.
  int postmasterPidfd() { return postmaster_.pidfd(); }

 private:
  Status writeHba(const std::vector<std::string>& lines);
  pg::ServerSettings serverSettings() const;
  std::string localConninfo() const;
  std::string statementTimeoutOption() const;
  // A connection string to another member, from its conn_url.
  // `bounded`: the agent's own short queries get a statement timeout.
  Result<std::string> memberConninfo(const dcs::MemberInfo& member, bool replication_user, bool bounded = true) const;
  // The create_replica_methods clone() tries, in order.
  std::vector<config::ReplicaMethod> replicaMethods() const;
  Result<std::unique_ptr<pg::PgSession>> askMember(const dcs::MemberInfo& member) const;
  Status ensureStarted();
  Status ensureStartedAsStandby();
  Status refuseRewindTheSourceCannotFeed(const dcs::MemberInfo& source, const std::string& conninfo,
                                         const std::string& rewind_output);
  // Removes the data directory for the clone rules; the error says why.
  Status removedForReclone(const std::string& why);
  pg::PgSession* session();
  void releaseWaitingCommits();
  void dropSession() { session_.reset(); }
  // Runs archive_command for one file of pg_wal; false when archiving is off.
  Result<bool> archiveWalFile(const std::string& file_name);
  std::string followingFile() const { return paths_.data_dir + "/pgtandem.following"; }
  // The version of the binaries in bin_dir, read again only when the
  // postgres binary changed (a package install replaces it); 0 unknown.
  int installedVersion();

  const config::Config& config_;
  ProcessRunner& runner_;
  pg::PgPaths paths_;
  pg::Postmaster postmaster_;
  std::unique_ptr<pg::PgSession> session_;
  std::string system_id_;
  UpstreamSettings upstream_;
  std::string synchronous_standby_names_;
  bool diverged_standby_ = false;  // its last start failed: WAL past the new timeline's fork point
  std::map<std::string, std::string> dynamic_parameters_;  // /config's, seeded from bootstrap.dcs
  std::string archived_redo_file_;  // pushed once per demotion: archive commands often refuse a second copy
  std::atomic<int> query_timeout_s_;  // statement_timeout of the agent's own queries (/config's retry_timeout)
  int session_timeout_s_ = 0;          // the one session_ was opened with
  int port_ = 5432;
  std::string host_ = "127.0.0.1";
  struct InstalledBinary {
    std::uint64_t device = 0, inode = 0, size = 0;
    std::int64_t mtime = 0;
    int version = 0;
  } installed_;
};

}  // namespace pgtandem::agent
