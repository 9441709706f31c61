#pragma once
// An in-memory DCS for unit and scenario tests of the decision core. One
// MemoryStore is "the etcd cluster"; each agent under test gets its own
// MemoryDcs client, which a test can partition from the store or make fail.
// Time is the injected Clock: leases expire when a test advances a
// SimulatedClock and then calls MemoryStore::expireLeases() (or any client
// call, which expires due leases first).
//
// Watch callbacks run synchronously on the thread that made the change (or
// that healed a partition / expired a lease), after the store lock is
// released.

#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "common/dcs/dcs.h"
#include "common/util/clock.h"

namespace pgtandem::dcs {

class MemoryDcs;

class MemoryStore : public std::enable_shared_from_this<MemoryStore> {
 public:
  explicit MemoryStore(const Clock& clock);

  static std::shared_ptr<MemoryStore> create(const Clock& clock) { return std::make_shared<MemoryStore>(clock); }

  // A new client of this store.
  std::unique_ptr<MemoryDcs> connect();

  // Deletes the keys of every lease whose TTL has passed, and notifies
  // watchers. Returns how many leases expired.
  int expireLeases();

  // Forgets history before `revision`: watches that need older revisions get a
  // kResync (etcd's compaction).
  void compact(Revision revision);

  Revision currentRevision() const;

 private:
  friend class MemoryDcs;
  friend class MemoryWatch;

  struct LeaseState {
    std::chrono::seconds ttl;
    MonoTime expires_at;
    std::set<std::string> keys;
  };
  struct HistoryEntry {
    Revision revision;
    WatchEvent event;
  };
  struct WatcherState;

  // Called with mutex_ held; each records the change in the history.
  void applyPutLocked(const std::string& key, const std::string& value, LeaseId lease, Revision revision);
  bool applyDeleteLocked(const std::string& key, Revision revision);
  void expireLeasesLocked();
  bool compareHoldsLocked(const Compare& compare) const;
  RangeResult rangeLocked(std::string_view prefix, bool is_prefix) const;
  // Delivers every pending event to watchers whose client is connected. Must
  // be called without mutex_ held.
  void deliverPending();

  const Clock& clock_;
  mutable std::mutex mutex_;
  Revision revision_ = 1;
  Revision compacted_ = 0;
  LeaseId next_lease_ = 0x1000;
  std::map<std::string, KeyValue> kvs_;
  std::map<LeaseId, LeaseState> leases_;
  std::vector<HistoryEntry> history_;
  std::vector<std::shared_ptr<WatcherState>> watchers_;
};

class MemoryDcs final : public Dcs {
 public:
  ~MemoryDcs() override;

  // While partitioned every call fails with kUnavailable and watches are
  // silent; after healing, watches catch up from where they were.
  void setPartitioned(bool partitioned);
  bool partitioned() const;

  // The next `count` calls fail with `error` (watch deliveries are not calls).
  void failNextCalls(int count, Error error);

  // Dcs
  Result<RangeResult> get(std::string_view key) override;
  Result<RangeResult> getPrefix(std::string_view prefix) override;
  Result<Revision> put(std::string_view key, std::string_view value, LeaseId lease) override;
  Result<std::int64_t> erasePrefix(std::string_view prefix) override;
  Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<WriteOp>& on_success,
                        const std::vector<WriteOp>& on_failure) override;
  Result<Lease> grantLease(std::chrono::seconds ttl) override;
  Result<std::chrono::seconds> keepAlive(LeaseId lease) override;
  Status revokeLease(LeaseId lease) override;
  Result<std::unique_ptr<Watch>> watchPrefix(std::string_view prefix, Revision start_revision,
                                             WatchCallback callback) override;

 private:
  friend class MemoryStore;
  explicit MemoryDcs(std::shared_ptr<MemoryStore> store);

  // Common entry of every call: injected failures, partition, lease expiry.
  Status enter();

  std::shared_ptr<MemoryStore> store_;
  struct ClientState;
  std::shared_ptr<ClientState> state_;
};

}  // namespace pgtandem::dcs
