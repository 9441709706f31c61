#pragma once
// One HA cycle, in named phases: observe PostgreSQL -> read the cluster
// snapshot -> decide -> execute -> publish our member key. The daemon loop
// (dc-agent/main.cc) calls runCycle() whenever the DCS watch reports a change
// or loop_wait passes; scenario tests call it on simulated time.

#include <atomic>
#include <functional>
#include <future>
#include <optional>
#include <string>

#include "common/config/config.h"
#include "common/dcs/cluster.h"
#include "common/util/clock.h"
#include "dc-agent/ha/agent_status.h"
#include "dc-agent/ha/executor.h"
#include "dc-agent/ha/failsafe.h"
#include "dc-agent/ha/lease_deadline.h"
#include "dc-agent/ha/peer_site.h"
#include "dc-agent/ha/site_memory.h"
#include "dc-agent/ha/watchdog.h"
#include "dc-agent/ha/operations.h"
#include "standby/standby_lag.h"

namespace pgtandem::agent {

// The agent's version: member keys, /patroni, `dc-agent --version`.
inline constexpr const char* kAgentVersion = "0.1.0";

class Agent {
 public:
  Agent(const config::Config& config, dcs::Dcs& dcs, PostgresControl& postgres, Callbacks& callbacks,
        const Clock& clock);

  // Runs one cycle and returns its decision.
  Decision runCycle();

  // A graceful stop: a leader demotes (fast shutdown, so connected replicas
  // get the shutdown checkpoint) and only then releases its lock; every
  // member revokes its lease so its key disappears at once.
  Status shutdown();

  // The loop interval from the current dynamic configuration.
  std::chrono::seconds loopWait() const { return settings_.loop_wait; }
  // When the next cycle must start at the latest: loop_wait after this one,
  // or the lease deadline of a leading primary if that comes first.
  MonoTime nextCycleBy() const;
  const HaSettings& settings() const { return settings_; }
  const dcs::ClusterPaths& paths() const { return lock_.paths(); }

  // After each cycle the agent publishes its status here (REST, metrics).
  void attachStatusBoard(StatusBoard* board) { board_ = board; }
  // Operations asked through the REST API run at the start of a cycle.
  void attachOperations(OperationMailbox* operations) { operations_ = operations; }

  // Bootstrap, clone and rewind run on a worker thread, and the loop keeps
  // renewing the lock and the member key meanwhile ("busy" rule). `wake` is
  // called when the worker is done. Off by default: scenario tests run them
  // inline, on simulated time.
  void runLongActionsOnWorker(std::function<void()> wake) {
    long_actions_on_worker_ = true;
    wake_ = std::move(wake);
  }
  // A coordinated DC's agents check their site epoch against the other DC
  // (peer_site.h). Without a reader they trust their own site key alone.
  void attachPeerSiteReader(PeerSiteReader* reader) { peer_reader_ = reader; }

  // Armed while this member leads a writable primary, kept alive after each
  // renewal, disarmed otherwise (watchdog.h). Without it: no watchdog.
  void attachWatchdog(Watchdog* watchdog) { watchdog_ = watchdog; }

  // Failsafe mode (failsafe.h): `peers` carries a leader's POST /failsafe to
  // the other members; `heartbeats` holds the ones this member received
  // (the REST API writes them). Without them failsafe mode is never active.
  void attachFailsafe(FailsafePeers* peers, const FailsafeHeartbeats* heartbeats) {
    failsafe_peers_ = peers;
    failsafe_heartbeats_ = heartbeats;
  }

  // Keeps "this member has seen a site key" across restarts (site_memory.h).
  // Without it the memory lasts as long as the agent runs.
  void attachSiteMemory(SiteMemory* memory) {
    site_memory_ = memory;
    site_seen_ = site_seen_ || (memory && memory->seen());
  }

  // The guard that makes PostgreSQL refuse writes when the loop misses its
  // lease deadline (lease_deadline.h). Armed on every renewal of a writable
  // DC's lock, disarmed when we stop leading.
  void attachLeaseGuard(LeaseGuard* guard) { guard_ = guard; }
  // Re-reads patroni.yml and applies what can change at run time to the
  // configuration this agent was built with (SIGHUP, POST /reload; see
  // common/config/reload.h). Returns what changed, or why the file cannot
  // be used (then nothing changed). Called on the loop's thread, never
  // while a long action runs.
  using ConfigReloader = std::function<Result<std::string>()>;
  void attachConfigReloader(ConfigReloader reloader) { config_reloader_ = std::move(reloader); }

  // A long action is running: PostgreSQL belongs to the worker.
  bool busy() const { return long_action_.has_value(); }

 private:
  void refreshSettings(const dcs::ClusterSnapshot& snapshot);
  // ttl, loop_wait and retry_timeout reach the lease margin, the DCS client
  // and PostgreSQL's statement timeout.
  void applyTimings(const config::DynamicConfig& dynamic);
  dcs::MemberInfo describeSelf(const PgObservation& pg) const;
  std::shared_ptr<const AgentStatus> describeStatus(const PgObservation& pg, const dcs::ClusterSnapshot& snapshot,
                                                    bool dcs_ok, bool leads, MonoTime cycle_start) const;
  void maintainSlots(const dcs::ClusterSnapshot& snapshot);
  void publishStatus(const dcs::ClusterSnapshot& snapshot, const PgObservation& pg);
  void restoreConfig();
  void maintainSync(const dcs::ClusterSnapshot& snapshot, const PgObservation& pg);
  // Reads the cluster into last_snapshot_ and refreshes the settings; false
  // when the DCS cannot be read.
  bool readSnapshot();
  void noteDecision(const Decision& decision);
  Decision busyCycle();
  void startLongAction(const Decision& decision, const dcs::ClusterSnapshot& snapshot, const PgObservation& pg);
  void finishLongAction();
  // Remembers a rewind or clone, for the member key ("repaired").
  void noteRepairs(const ExecutionResult& executed);
  void runOperations();
  void runScheduledRestart();
  OperationOutcome runOperation(const OperationRequest& request, const PgObservation& pg, bool leads);
  void waitForShutdownCheckpoint(const dcs::ClusterSnapshot& cluster);
  // The lease deadline (lease_deadline.h) while the lease deadline binds us:
  // we held the lock and lead a writable DC (not paused, not a standby
  // cluster), or the failsafe deadline when that is later (failsafe.h).
  // nullopt otherwise.
  std::optional<MonoTime> leaseDeadline() const;
  // Failsafe mode, on the leading primary that cannot get through to the
  // DCS: asks every other member in /failsafe. True when all acknowledged;
  // the failsafe deadline then moves (and the guard with it).
  bool runFailsafeRound(const PgObservation& pg);
  // Failsafe mode, on a member that does not lead: a leader's heartbeat
  // arrived less than ttl ago.
  bool failsafeLeaderHeard(MonoTime now) const;
  // The leader keeps /failsafe equal to the members it sees; with failsafe
  // mode off it deletes it.
  void maintainFailsafeKey(const dcs::ClusterSnapshot& snapshot, const dcs::MemberInfo& self);
  // /history written again when gone, garbled or behind our timeline.
  void maintainHistory(const dcs::ClusterSnapshot& snapshot, const PgObservation& pg);
  // Runs when the lock proves ours (LeaderLock's held listener; any thread).
  void noteLeaseHeld(MonoTime expires_no_sooner_than);
  // (Re)sets `scope` so that the DCS calls that follow end by the lease
  // deadline, when it binds this cycle.
  void boundCallsByTheLease(std::optional<dcs::CallDeadline>& scope, const PgObservation& pg) const;
  // The other DC's site key, when ours names it and we lead or could.
  std::optional<PeerSiteView> checkPeerSite(const dcs::ClusterSnapshot& snapshot);
  // Fail closed on the site key: garbage, or gone after we saw one, fences.
  void noteSiteKey(const dcs::ClusterSnapshot& snapshot);
  std::optional<PeerState> probeUpstreamIfStuck(const dcs::ClusterSnapshot& snapshot, const PgObservation& pg, MonoTime now);

  const config::Config& config_;
  dcs::Dcs& dcs_;
  PostgresControl& postgres_;
  Callbacks& callbacks_;
  const Clock& clock_;
  LeaderLock lock_;
  Executor executor_;
  dcs::MalformedValueLog malformed_;
  HaSettings settings_;
  dcs::ClusterSnapshot last_snapshot_;
  bool last_renewal_failed_ = false;
  std::optional<MonoTime> primary_down_since_;
  std::optional<MonoTime> not_streaming_since_;
  std::string not_streaming_upstream_;
  std::optional<MonoTime> last_upstream_probe_;
  std::string last_logged_;
  std::optional<dcs::StatusInfo> published_status_;
  config::DynamicConfig dynamic_;  // the last valid /config (bootstrap.dcs until one is read)
  bool pause_ = false;
  std::optional<dcs::MemberMark> mark_;  // the coordinator's run-time mark on this member
  std::string dynamic_config_error_;  // why the current /config is not used ("" when it is)
  // Member slots outlive a member's key for member_slots_ttl (Patroni 4's
  // 30 minutes), so a member that restarts finds its WAL still there.
  std::map<std::string, MonoTime> slot_last_wanted_;
  StatusBoard* board_ = nullptr;
  OperationMailbox* operations_ = nullptr;
  bool clone_from_leader_ = false;  // reinitialize {from_leader: true}
  std::optional<OperationRequest> scheduled_restart_;
  struct LongAction {
    std::future<ExecutionResult> result;
    std::string rule;
    std::string state;  // shown as the member's state: "creating replica", ...
  };
  std::optional<LongAction> long_action_;
  bool long_actions_on_worker_ = false;
  std::function<void()> wake_;
  PgObservation last_pg_;  // the last observation before a long action
  bool holds_lock_ = false;  // after the last cycle's actions
  standby::LagTracker lag_tracker_;
  std::optional<standby::StandbyLag> standby_lag_;  // on the standby leader only
  std::map<std::string, std::uint64_t> decision_counts_;
  WallTime dcs_last_seen_{};
  PeerSiteReader* peer_reader_ = nullptr;
  std::optional<std::int64_t> confirmed_epoch_;  // our site epoch the other DC last agreed with
  bool peer_supersedes_ = false;                 // the other DC is primary at a newer epoch
  bool peer_unreachable_logged_ = false;
  bool site_seen_ = false;        // this agent (or, with site_memory_, this member) has seen a site key
  bool site_remembered_ = false;  // site_memory_ holds it
  SiteMemory* site_memory_ = nullptr;
  Watchdog* watchdog_ = nullptr;
  std::string site_unreadable_;   // why the site key cannot be trusted now ("" when it can)
  std::string repaired_, repaired_at_;
  LeaseGuard* guard_ = nullptr;
  ConfigReloader config_reloader_;
  std::vector<OperationMailbox::Pending> deferred_operations_;  // reloads asked while a long action ran
  // The earliest expiry of the lease our leader key is bound to, from the
  // last renewal that proved the key ours (0: none since we last released).
  // Atomic: a bootstrap acquires the lock on the worker thread.
  std::atomic<MonoTime::rep> lease_expires_{0};
  std::atomic<std::chrono::milliseconds::rep> lease_margin_ms_{2500};
  std::atomic<bool> lease_binds_{true};  // not paused, not a standby cluster
  bool last_seen_primary_ = false;       // PostgreSQL was a primary at the end of the last cycle
  FailsafePeers* failsafe_peers_ = nullptr;
  const FailsafeHeartbeats* failsafe_heartbeats_ = nullptr;
  // Sent + ttl - margin of the last round every member acknowledged, while
  // the DCS stays out of reach (0: failsafe mode is not keeping us primary).
  std::atomic<MonoTime::rep> failsafe_until_{0};
  // What this leader last wrote to /failsafe (its next snapshot may not show it yet).
  std::map<std::string, std::string> failsafe_written_;
  std::chrono::seconds retry_timeout_{10};  // /config's
};

}  // namespace pgtandem::agent
