#pragma once
// The local PostgreSQL as the HA executor drives it. One real implementation
// (RealPostgres, over common/pg) and a fake for scenario tests. Every method
// converges on a state, so calling it twice is safe.

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "common/dcs/cluster.h"
#include "common/util/result.h"
#include "dc-agent/ha/decision.h"
#include "dc-agent/ha/history.h"
#include "dc-agent/ha/sync.h"

namespace pgtandem::agent {

struct PgObservation {
  bool data_initialized = false;
  std::string system_id;
  bool running = false;
  bool primary = false;
  int timeline = 0;
  std::optional<Lsn> wal_position;
  std::optional<Lsn> receive_lsn;
  std::optional<Lsn> replay_lsn;
  std::string following;  // member name we are configured to stream from
  bool streaming = false;  // the WAL receiver is streaming
  std::optional<Lsn> upstream_lsn;  // how far the upstream said its WAL goes (when streaming)
  std::optional<double> upstream_silence_seconds;  // streaming: since the upstream's last message
  bool needs_rewind = false;
  std::vector<StandbyStatus> standbys;    // pg_stat_replication, on a primary
  std::string synchronous_standby_names;  // as the agent last set it
  // Reported by the REST API and the member key:
  int server_version = 0;
  std::string postmaster_start_time;
  std::string replayed_timestamp;
  bool replay_paused = false;
  std::vector<std::string> pending_restart;  // parameters waiting for a restart
  std::map<std::string, Lsn> slot_positions;  // physical slots' restart_lsn
};

// How a standby reaches its upstream. A member of this DC streams through
// its own slot; the standby leader of a standby cluster streams through the
// other DC's primary_slot_name and may replay that DC's WAL archive.
struct UpstreamSettings {
  std::string slot;                      // "" for none
  std::string restore_command;           // "" for none
  std::string archive_cleanup_command;   // the standby leader only: one cleaner per archive
  std::string recovery_min_apply_delay;  // a delayed standby DC
  // clone(): the methods to try, by name; empty: postgresql.create_replica_methods.
  std::vector<std::string> replica_methods;

  bool operator==(const UpstreamSettings&) const = default;
};

class PostgresControl {
 public:
  virtual ~PostgresControl() = default;
  virtual PgObservation observe() = 0;
  // initdb, start as a primary, create the configured users. Returns the
  // new system identifier.
  virtual Result<std::string> bootstrap() = 0;
  virtual Status clone(const dcs::MemberInfo& source) = 0;
  virtual Status startPrimary() = 0;
  // Streams from `upstream` (nullptr: read-only with no upstream); starts
  // PostgreSQL if needed, reloads or restarts when re-pointing.
  virtual Status follow(const dcs::MemberInfo* upstream) = 0;
  virtual Status promote() = 0;
  // Stops PostgreSQL so that it is no longer a writable primary (fast
  // shutdown: connected replicas receive everything up to the shutdown
  // checkpoint first).
  virtual Status demote() = 0;
  virtual Status rewind(const dcs::MemberInfo& source) = 0;
  // Creates the missing physical slots of `wanted` and drops inactive
  // physical slots that are no longer wanted; then moves each slot of
  // `advance` forward to its position (a standby: no further than it has
  // replayed). On a primary and on standbys alike.
  virtual Status syncSlots(const std::set<std::string>& wanted, const std::map<std::string, Lsn>& advance) = 0;
  // The location of the last checkpoint in pg_control (after a clean stop:
  // the shutdown checkpoint).
  virtual Result<Lsn> lastCheckpoint() = 0;
  // After a clean stop of a primary (fenced DC, or a primary DC turned into
  // a standby cluster): where it stopped, from pg_controldata, with the REDO
  // WAL file pushed to the archive by archive_command when archiving is on
  // (so that a DC fed only from the archive can replay up to it). An error
  // while PostgreSQL runs or when it did not shut down cleanly as a primary.
  virtual Result<dcs::DemotionToken> demotionToken() = 0;
  // Asks `member`'s PostgreSQL for its role and WAL position (short timeout).
  // Thread-safe: the agent probes several members at once.
  virtual PeerState probe(const dcs::MemberInfo& member) = 0;
  // Where `member`'s history (its timeline `their_timeline`) leaves our
  // timeline `ours`: 0 when ours is not in it. Reads the history file as the
  // superuser, short timeout.
  virtual Result<Lsn> forkPoint(const dcs::MemberInfo& member, int their_timeline, int ours) = 0;
  // Our own timeline `timeline`'s history file (read from pg_wal), with
  // when it was written. kNotFound when there is none.
  virtual Result<TimelineHistoryFile> ownTimelineHistory(int timeline) = 0;
  // How far `member` has received WAL (asked of that member's PostgreSQL).
  virtual Result<Lsn> receivedBy(const dcs::MemberInfo& member) = 0;
  // The DC's PostgreSQL parameters from /config (postgresql.parameters); the
  // node's own postgresql.parameters still win. When they changed and
  // PostgreSQL runs, rewrites postgresql.conf and reloads, so a parameter
  // that needs a restart shows as pending restart, as in Patroni.
  virtual Status setDynamicParameters(const std::map<std::string, std::string>& parameters) = 0;
  // Sets synchronous_standby_names (a reload, no restart).
  virtual Status setSynchronousStandbyNames(const std::string& value) = 0;
  // Stops (fast) and starts PostgreSQL again in the role it had.
  virtual Status restart() = 0;
  // Rewrites PostgreSQL's configuration files from the agent's
  // configuration (patroni.yml may have been re-read) and makes it re-read
  // them.
  virtual Status reload() = 0;
  // Deletes the data directory (PostgreSQL must be stopped): reinitialize.
  virtual Status removeData() = 0;
  // The statement timeout of the agent's own queries (retry_timeout), so
  // that a stuck server cannot hold the HA loop.
  virtual void setQueryTimeout(std::chrono::seconds timeout) = 0;
  // How the next follow(), clone() or rewind() streams and replays.
  virtual void setUpstreamSettings(const UpstreamSettings& settings) = 0;
};

}  // namespace pgtandem::agent
