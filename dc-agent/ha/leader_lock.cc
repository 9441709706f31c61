#include "dc-agent/ha/leader_lock.h"

namespace pgtandem::agent {

using dcs::Compare;
using dcs::WriteOp;

LeaderLock::LeaderLock(dcs::Dcs& dcs, dcs::ClusterPaths paths, std::string name, std::chrono::seconds ttl,
                       const Clock& clock)
    : dcs_(dcs), clock_(clock), paths_(std::move(paths)), name_(std::move(name)), ttl_(ttl) {}

Status LeaderLock::grant() {
  const MonoTime sent = clock_.monotonicNow();
  auto lease = dcs_.grantLease(ttl_);
  if (!lease.ok()) return lease.error();
  lease_ = lease->id;
  // etcd may raise a small TTL, never lower it: ours is the safe bound.
  lease_ttl_ = ttl_;
  lease_sent_at_ = sent;
  published_member_.clear();  // the member key must be re-bound to the new lease
  return okStatus();
}

Status LeaderLock::keepLeaseAlive() {
  const MonoTime sent = clock_.monotonicNow();
  auto ttl = dcs_.keepAlive(lease_);
  if (!ttl.ok()) {
    if (ttl.error().code == ErrorCode::kLeaseLost) lease_ = 0;
    return ttl.error();
  }
  lease_sent_at_ = sent;
  return okStatus();
}

void LeaderLock::setHeldListener(std::function<void(MonoTime)> listener) {
  std::lock_guard guard(mutex_);
  held_listener_ = std::move(listener);
}

void LeaderLock::notifyHeld() {
  if (held_listener_ && lease_ != 0) held_listener_(lease_sent_at_ + lease_ttl_);
}

std::optional<MonoTime> LeaderLock::leaseExpiresNoSoonerThan() const {
  std::lock_guard guard(mutex_);
  if (lease_ == 0) return std::nullopt;
  return lease_sent_at_ + lease_ttl_;
}

void LeaderLock::setTtl(std::chrono::seconds ttl) {
  std::lock_guard guard(mutex_);
  if (ttl != ttl_) {
    ttl_ = ttl;
    // Patroni drops the lease on a TTL change; the next one gets the new TTL.
    // The old lease is left to expire (our keys move to the new one).
    lease_ = 0;
    published_member_.clear();
  }
}

Status LeaderLock::ensureLease() {
  std::lock_guard guard(mutex_);
  if (lease_ != 0) return okStatus();
  return grant();
}

Status LeaderLock::refreshLease() {
  std::lock_guard guard(mutex_);
  if (lease_ != 0) {
    auto kept = keepLeaseAlive();
    if (kept.ok()) return okStatus();
    if (lease_ != 0) return kept;  // not lost: the DCS did not answer
  }
  return ensureLease();
}

Result<bool> LeaderLock::acquire() {
  std::lock_guard guard(mutex_);
  // Patroni's "our lease disappeared": grant a new one and try once more.
  for (int attempt = 0; attempt < 2; ++attempt) {
    PGT_TRY(ensureLease());
    auto result = dcs_.txn({Compare::absent(paths_.leader())}, {WriteOp::put(paths_.leader(), name_, lease_)});
    if (result.ok()) {
      if (result->succeeded) notifyHeld();
      return result->succeeded;
    }
    if (result.error().code != ErrorCode::kLeaseLost) return result.error();
    lease_ = 0;
    published_member_.clear();
  }
  return makeError(ErrorCode::kLeaseLost, "lost a fresh lease while acquiring the lock");
}

Status LeaderLock::renew() {
  std::lock_guard guard(mutex_);
  const auto started = clock_.monotonicNow();
  Status renewed = renewUntimed();
  if (renewed.ok()) notifyHeld();
  last_renew_latency_ = std::chrono::duration_cast<std::chrono::microseconds>(clock_.monotonicNow() - started);
  return renewed;
}

Status LeaderLock::renewUntimed() {
  if (lease_ != 0) {
    PGT_TRY(keepLeaseAlive());
  } else {
    // Our lease expired earlier: with it our leader key is gone; a new lease
    // does not bring the lock back, acquire() must.
    PGT_TRY(ensureLease());
  }
  // The key must hold our name and be bound to our current lease.
  auto result = dcs_.txn({Compare::valueIs(paths_.leader(), name_), Compare::leaseIs(paths_.leader(), lease_)}, {}, {});
  if (!result.ok()) return result.error();
  if (result->succeeded) return okStatus();
  if (!result->current.empty() && result->current[0].value == name_) {
    // Ours by name but on an old lease (after a TTL change): re-bind it.
    auto rebind = dcs_.txn({Compare::valueIs(paths_.leader(), name_)}, {WriteOp::put(paths_.leader(), name_, lease_)});
    if (!rebind.ok()) return rebind.error();
    if (rebind->succeeded) return okStatus();
  }
  if (result->current.empty()) return makeError(ErrorCode::kLeaseLost, "the leader key is gone");
  return makeError(ErrorCode::kConflict, "the leader key is held by " + result->current[0].value);
}

Status LeaderLock::release() {
  std::lock_guard guard(mutex_);
  auto released = dcs::deleteIfValue(dcs_, paths_.leader(), name_);
  if (!released.ok()) return released.error();
  return okStatus();
}

Result<bool> LeaderLock::raceInitialize(const std::string& value) {
  std::lock_guard guard(mutex_);
  return dcs::createIfAbsent(dcs_, paths_.initialize(), value);
}

Status LeaderLock::writeInitialize(const std::string& system_id) {
  std::lock_guard guard(mutex_);
  auto result = dcs_.txn({Compare::valueIs(paths_.initialize(), "")}, {WriteOp::put(paths_.initialize(), system_id)});
  if (!result.ok()) return result.error();
  if (!result->succeeded) return makeError(ErrorCode::kConflict, "/initialize changed during the bootstrap");
  return okStatus();
}

Status LeaderLock::cancelInitialize() {
  std::lock_guard guard(mutex_);
  auto result = dcs::deleteIfValue(dcs_, paths_.initialize(), "");
  if (!result.ok()) return result.error();
  return okStatus();
}

Status LeaderLock::writeConfigIfAbsent(const std::string& json) {
  std::lock_guard guard(mutex_);
  auto result = dcs::createIfAbsent(dcs_, paths_.config(), json);
  if (!result.ok()) return result.error();
  return okStatus();
}

Status LeaderLock::publishMember(const dcs::MemberInfo& member) {
  std::lock_guard guard(mutex_);
  PGT_TRY(ensureLease());
  const std::string json = dcs::toJson(member);
  if (json == published_member_) return okStatus();  // written only on change, as Patroni does
  auto put = dcs_.put(paths_.member(name_), json, lease_);
  if (!put.ok()) {
    if (put.error().code == ErrorCode::kLeaseLost) lease_ = 0;
    return put.error();
  }
  published_member_ = json;
  return okStatus();
}

Status LeaderLock::clearFailover(dcs::Revision mod_revision) {
  std::lock_guard guard(mutex_);
  auto result = dcs::compareAndDelete(dcs_, paths_.failover(), mod_revision);
  if (!result.ok()) return result.error();
  return okStatus();
}

Status LeaderLock::writeSync(const dcs::SyncInfo& sync, dcs::Revision mod_revision) {
  std::lock_guard guard(mutex_);
  auto written = dcs::compareAndSet(dcs_, paths_.sync(), dcs::toJson(sync), mod_revision);
  if (!written.ok()) return written.error();
  if (!*written) return makeError(ErrorCode::kConflict, "/sync changed meanwhile");
  return okStatus();
}

Status LeaderLock::deleteSync(dcs::Revision mod_revision) {
  std::lock_guard guard(mutex_);
  auto deleted = dcs::compareAndDelete(dcs_, paths_.sync(), mod_revision);
  if (!deleted.ok()) return deleted.error();
  return okStatus();
}

Status LeaderLock::publishStatus(const dcs::StatusInfo& status) {
  std::lock_guard guard(mutex_);
  auto put = dcs_.put(paths_.status(), dcs::toJson(status), 0);
  if (!put.ok()) return put.error();
  return okStatus();
}

Status LeaderLock::writeFailsafe(const std::map<std::string, std::string>& members) {
  std::lock_guard guard(mutex_);
  auto put = dcs_.put(paths_.failsafe(), dcs::failsafeJson(members), 0);
  if (!put.ok()) return put.error();
  return okStatus();
}

Status LeaderLock::deleteFailsafe() {
  std::lock_guard guard(mutex_);
  auto erased = dcs_.txn({}, {dcs::WriteOp::erase(paths_.failsafe())}, {});
  if (!erased.ok()) return erased.error();
  return okStatus();
}

Status LeaderLock::replaceHistory(const std::vector<dcs::HistoryEntry>& history) {
  std::lock_guard guard(mutex_);
  // The key's own revision, garbage or not: the snapshot skips garbage.
  auto current = dcs_.get(paths_.history());
  if (!current.ok()) return current.error();
  const dcs::Revision revision = current->kvs.empty() ? 0 : current->kvs[0].mod_revision;
  auto written = dcs::compareAndSet(dcs_, paths_.history(), dcs::toJson(history), revision);
  if (!written.ok()) return written.error();
  return okStatus();
}

Status LeaderLock::revoke() {
  std::lock_guard guard(mutex_);
  if (lease_ == 0) return okStatus();
  auto status = dcs_.revokeLease(lease_);
  lease_ = 0;
  published_member_.clear();
  return status;
}

}  // namespace pgtandem::agent
