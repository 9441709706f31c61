#pragma once
// What the agent knows about itself after each HA cycle, published for the
// REST API and the metrics. The REST threads answer health checks from this
// snapshot alone: no PostgreSQL query and no DCS read per request.

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/dcs/cluster.h"
#include "common/util/clock.h"
#include "dc-agent/ha/decision.h"
#include "dc-agent/ha/sync.h"

namespace pgtandem::agent {

struct AgentStatus {
  std::string name;
  std::string scope;
  std::string version;

  // PostgreSQL, as last observed.
  std::string state = "stopped";  // running, stopped, starting, crashed, creating replica, uninitialized
  std::string role = "uninitialized";  // primary, replica, standby_leader, demoted, uninitialized
  bool pg_running = false;
  bool pg_primary = false;  // running and not in recovery
  int server_version = 0;
  std::string postmaster_start_time;
  int timeline = 0;
  std::optional<Lsn> wal_position;  // primary: pg_current_wal_lsn()
  std::optional<Lsn> receive_lsn;
  std::optional<Lsn> replay_lsn;
  std::string replayed_timestamp;
  bool replay_paused = false;
  std::string replication_state;  // streaming, in archive recovery, "" on a primary
  std::vector<StandbyStatus> replication;
  std::string system_id;
  std::vector<std::string> pending_restart;
  std::string scheduled_restart;  // ISO 8601, "" if none

  // The cluster, as of the last snapshot.
  bool holds_lock = false;
  MonoTime lock_valid_until{};  // our lease cannot have expired before this
  bool dcs_ok = false;          // the last cycle read the DCS
  WallTime dcs_last_seen{};
  MonoTime last_cycle{};
  bool pause = false;
  bool standby_cluster = false;
  // The DC's site key (a coordinator's fencing): nullopt when there is none.
  std::optional<dcs::SiteRole> site_role;
  std::int64_t site_epoch = 0;
  std::string site_reason;
  // /config cannot be used (malformed, or breaks the timing rule): why. The
  // last valid one stays in force.
  std::string dynamic_config_error;  // why the DC counts as fenced when its site key is unreadable
  bool cluster_unlocked = true;
  bool sync_standby = false;  // named in /sync
  bool failsafe_mode = false;
  // Failsafe mode keeps this primary running without the DCS, or (another
  // member) a leader's heartbeat arrived less than ttl ago (failsafe.h).
  bool failsafe_active = false;
  std::map<std::string, std::string> failsafe_members;  // /failsafe as last read
  std::optional<Lsn> cluster_optime;  // /status optime: the leader's last reported position
  std::chrono::seconds ttl{30};
  std::chrono::seconds loop_wait{10};
  std::int64_t maximum_lag_on_failover = 1048576;
  dcs::MemberTags tags;
  std::map<std::string, std::string> raw_tags;  // tag -> JSON text, as configured

  // The standby leader of a standby cluster: how far this DC is behind the
  // primary DC (standby/standby_lag.h). standby_source is "" elsewhere.
  std::string standby_source;  // stream, archive, none
  std::optional<std::int64_t> standby_lag_bytes;
  double standby_lag_seconds = 0;
  std::optional<double> standby_contact_age;  // seconds since the primary DC was last heard from

  // For /metrics.
  std::map<std::string, std::uint64_t> decisions;  // rule id -> cycles it fired in
  std::chrono::microseconds lock_renew_latency{0};

  // A coordinator fenced this DC: nothing here may take writes (dcFenced).
  bool site_fenced = false;
  bool siteFenced() const { return site_fenced; }

  // Does this member hold an unexpired leader lock at `now`?
  bool leads(MonoTime now) const { return holds_lock && now < lock_valid_until; }
};

// The latest status, shared between the HA loop (writer) and the REST
// threads (readers). Readers get an immutable snapshot.
class StatusBoard {
 public:
  void publish(std::shared_ptr<const AgentStatus> status) {
    std::lock_guard lock(mutex_);
    current_ = std::move(status);
  }
  std::shared_ptr<const AgentStatus> current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const AgentStatus> current_ = std::make_shared<AgentStatus>();
};

}  // namespace pgtandem::agent
