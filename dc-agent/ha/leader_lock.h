#pragma once
// This member's presence in the DCS: one lease shared by its member key and,
// while it leads, the leader key (Patroni's etcd3 layout). Create-if-absent to
// acquire, compare-and-set to renew and release.

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "common/dcs/cluster.h"
#include "common/dcs/dcs.h"
#include "common/util/clock.h"

namespace pgtandem::agent {

class LeaderLock {
 public:
  LeaderLock(dcs::Dcs& dcs, dcs::ClusterPaths paths, std::string name, std::chrono::seconds ttl, const Clock& clock);

  // Grants a lease if we have none (or it was lost). A TTL change takes
  // effect with the next lease.
  Status ensureLease();
  void setTtl(std::chrono::seconds ttl);
  bool holdsLease() const { return lease_ != 0; }
  dcs::LeaseId lease() const { return lease_; }

  // Keeps our lease (and so our member key) alive; grants a new one if it
  // was lost. Every member calls it each cycle; the leader's renew() does it.
  Status refreshLease();

  // Creates the leader key with our name and lease if absent. Ok(false): it
  // is held by someone else.
  Result<bool> acquire();
  // Refreshes our lease and makes sure the leader key is ours and bound to
  // it. kConflict when another member holds the key; kLeaseLost when our
  // lease expired (the key is gone with it).
  Status renew();
  // How long the last renew() took (a metric; not used for decisions).
  std::chrono::microseconds lastRenewLatency() const {
    std::lock_guard guard(mutex_);
    return last_renew_latency_;
  }
  // The earliest instant our current lease can expire in the DCS: when the
  // last keepalive (or grant) that succeeded was sent, plus the lease's TTL.
  // The DCS started its countdown when that request arrived, later. nullopt
  // without a live lease.
  std::optional<MonoTime> leaseExpiresNoSoonerThan() const;

  // Called (under the lock's mutex, on the calling thread) each time
  // renew() or acquire() proves the leader key ours, with
  // leaseExpiresNoSoonerThan(): the agent arms its lease deadline from it
  // before the next action (a promotion) runs.
  void setHeldListener(std::function<void(MonoTime expires_no_sooner_than)> listener);

  // Deletes the leader key if it still holds our name.
  Status release();

  // Creates /initialize with `value` if absent; Ok(true) when we created it.
  Result<bool> raceInitialize(const std::string& value);
  // Sets /initialize to the system ID after a bootstrap.
  Status writeInitialize(const std::string& system_id);
  // Deletes /initialize if it is still empty (a failed bootstrap).
  Status cancelInitialize();
  // Creates /config if absent.
  Status writeConfigIfAbsent(const std::string& json);
  // Writes our member key (bound to our lease) when it changed.
  Status publishMember(const dcs::MemberInfo& member);
  // The next publishMember() writes even an unchanged value (the DCS copy
  // was deleted or overwritten).
  void forgetPublishedMember() {
    std::lock_guard guard(mutex_);
    published_member_.clear();
  }
  // Deletes /failover if it is still at `mod_revision`.
  Status clearFailover(dcs::Revision mod_revision);
  // Writes /sync if it is still at `mod_revision` (0: absent).
  Status writeSync(const dcs::SyncInfo& sync, dcs::Revision mod_revision);
  Status deleteSync(dcs::Revision mod_revision);
  // Writes /status (the leader's optime).
  Status publishStatus(const dcs::StatusInfo& status);
  // Writes /failsafe (name -> api_url), or deletes it (failsafe.h).
  Status writeFailsafe(const std::map<std::string, std::string>& members);
  Status deleteFailsafe();
  // Replaces /history whatever it holds (compare-and-set on its revision).
  Status replaceHistory(const std::vector<dcs::HistoryEntry>& history);
  // Revokes the lease: our member key and, if ours, the leader key go away.
  Status revoke();

  const dcs::ClusterPaths& paths() const { return paths_; }
  const std::string& name() const { return name_; }

 private:
  Status renewUntimed();
  // A keepalive of our lease; on success, remembers when it was sent.
  Status keepLeaseAlive();
  Status grant();
  void notifyHeld();
  dcs::Dcs& dcs_;
  const Clock& clock_;
  dcs::ClusterPaths paths_;
  std::string name_;
  std::chrono::seconds ttl_;
  dcs::LeaseId lease_ = 0;
  std::chrono::seconds lease_ttl_{0};  // the TTL lease_ was granted with
  MonoTime lease_sent_at_{};           // when its last successful keepalive or grant was sent
  std::string published_member_;
  std::function<void(MonoTime)> held_listener_;
  std::chrono::microseconds last_renew_latency_{0};
  // The HA loop renews the lock while a long action (bootstrap, clone,
  // rewind) uses it on a worker thread. Recursive: methods call each other.
  mutable std::recursive_mutex mutex_;
};

}  // namespace pgtandem::agent
