#pragma once
// The distributed configuration store (DCS) as pgtandem sees it: etcd v3's
// data model (revisioned keys, leases, transactions, prefix watches), with one
// real implementation (EtcdDcs, over gRPC) and one for unit tests (MemoryDcs).
//
// Guarantees every implementation gives (the contract test suite in
// tests/common/dcs checks them against both):
//  - Every key carries create_revision, mod_revision and version; a missing
//    key has create_revision 0, which is how "create if absent" is written.
//  - A transaction is atomic: all compares are evaluated and exactly one of the
//    two op lists is applied, at one new revision.
//  - A key put with a lease disappears when that lease expires or is revoked,
//    and watchers see a delete event for it.
//  - Calls are linearizable (etcd: not `serializable`).
//  - Every call returns within its deadline, with ErrorCode::kUnavailable or
//    kTimeout when no quorum could be reached. Calls never throw. The
//    deadline is the request timeout, or sooner while a CallDeadline scope
//    lives on the calling thread.
// All methods are safe to call from several threads.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/result.h"

namespace pgtandem::dcs {

using LeaseId = std::int64_t;
using Revision = std::int64_t;

struct KeyValue {
  std::string key;
  std::string value;
  Revision create_revision = 0;
  Revision mod_revision = 0;
  std::int64_t version = 0;
  LeaseId lease = 0;

  bool operator==(const KeyValue&) const = default;
};

// The state of a key or a prefix at one store revision.
struct RangeResult {
  Revision revision = 0;
  std::vector<KeyValue> kvs;  // sorted by key

  const KeyValue* find(std::string_view key) const;
};

// One condition of a transaction, on one key.
struct Compare {
  enum class Target { kVersion, kCreateRevision, kModRevision, kValue, kLease };
  enum class Op { kEqual, kNotEqual, kGreater, kLess };

  std::string key;
  Target target = Target::kCreateRevision;
  Op op = Op::kEqual;
  std::int64_t number = 0;  // for every target but kValue
  std::string value;        // for kValue

  // The key does not exist.
  static Compare absent(std::string key);
  // The key was last written at `revision` (0 also means: the key is absent).
  static Compare modRevisionIs(std::string key, Revision revision);
  // The key exists and holds exactly `value`.
  static Compare valueIs(std::string key, std::string value);
  // The key is bound to `lease`.
  static Compare leaseIs(std::string key, LeaseId lease);
};

// One write of a transaction.
struct WriteOp {
  enum class Kind { kPut, kDelete, kDeletePrefix };

  Kind kind = Kind::kPut;
  std::string key;
  std::string value;
  LeaseId lease = 0;

  static WriteOp put(std::string key, std::string value, LeaseId lease = 0);
  static WriteOp erase(std::string key);
  static WriteOp erasePrefix(std::string prefix);
};

struct TxnResult {
  bool succeeded = false;
  Revision revision = 0;
  // When the compares failed: the current state of every compared key (absent
  // keys are left out), so that a caller learns, say, who holds a lock
  // without a second read.
  std::vector<KeyValue> current;
};

struct Lease {
  LeaseId id = 0;
  std::chrono::seconds ttl{0};
};

struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // for a delete: key and mod_revision of the deletion only
};

// What a watch delivers. kEvents: changes in revision order. kResync: the
// watch could not continue from where it was (the revision was compacted), so
// it re-read the prefix; `snapshot` replaces everything the consumer knew, and
// events continue after `revision`.
struct WatchUpdate {
  enum class Kind { kEvents, kResync };
  Kind kind = Kind::kEvents;
  Revision revision = 0;
  std::vector<WatchEvent> events;
  std::vector<KeyValue> snapshot;
};

using WatchCallback = std::function<void(const WatchUpdate&)>;

// A running watch. Destroying it cancels the watch; once the destructor
// returns, the callback is not running and will not be called again. A
// callback must not destroy its own Watch.
class Watch {
 public:
  virtual ~Watch() = default;
};

class Dcs {
 public:
  virtual ~Dcs() = default;

  // Reads one key. An absent key gives an empty `kvs`, not an error.
  virtual Result<RangeResult> get(std::string_view key) = 0;

  // Reads every key that starts with `prefix`, in one consistent revision.
  virtual Result<RangeResult> getPrefix(std::string_view prefix) = 0;

  // Unconditional write; returns the new revision. kLeaseLost if `lease` is
  // not a live lease.
  virtual Result<Revision> put(std::string_view key, std::string_view value, LeaseId lease = 0) = 0;

  // Deletes every key starting with `prefix`; returns how many were deleted.
  virtual Result<std::int64_t> erasePrefix(std::string_view prefix) = 0;

  // If every compare holds, applies `on_success`, otherwise `on_failure`,
  // atomically. A put with a dead lease fails the whole call with kLeaseLost.
  // The same key must not appear twice among the ops of one branch.
  virtual Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<WriteOp>& on_success,
                                const std::vector<WriteOp>& on_failure = {}) = 0;

  // Grants a lease of at least `ttl` (etcd may raise very small TTLs).
  virtual Result<Lease> grantLease(std::chrono::seconds ttl) = 0;

  // Refreshes a lease to its full TTL and returns that TTL. kLeaseLost when
  // the lease has expired or was revoked: its keys are gone.
  virtual Result<std::chrono::seconds> keepAlive(LeaseId lease) = 0;

  // Revokes a lease and deletes its keys. Revoking an unknown lease is not an
  // error (the goal, no such lease, holds).
  virtual Status revokeLease(LeaseId lease) = 0;

  // Watches every key under `prefix`, starting with the changes at
  // `start_revision` (0: from now on). Updates arrive in revision order on a
  // thread owned by the implementation; a lost connection is resumed from the
  // last delivered revision, a compacted revision gives a kResync.
  virtual Result<std::unique_ptr<Watch>> watchPrefix(std::string_view prefix, Revision start_revision,
                                                     WatchCallback callback) = 0;

  // The deadline of one call (Patroni's retry_timeout), changed at run time
  // when /config changes it. Implementations whose calls cannot block ignore it.
  virtual void setRequestTimeout(std::chrono::milliseconds timeout) { (void)timeout; }
};

// Bounds every DCS call this thread makes while the scope lives: a call
// returns by `deadline` at the latest (kTimeout, without trying, once it has
// passed). The HA loop uses it so that no DCS call outlives the leader's
// lease deadline. Scopes nest; the earliest deadline wins.
class CallDeadline {
 public:
  explicit CallDeadline(std::chrono::steady_clock::time_point deadline);
  ~CallDeadline();
  CallDeadline(const CallDeadline&) = delete;
  CallDeadline& operator=(const CallDeadline&) = delete;

  // The earliest deadline of the scopes alive on this thread, if any.
  static std::optional<std::chrono::steady_clock::time_point> current();

 private:
  std::optional<std::chrono::steady_clock::time_point> previous_;
};

using DcsPtr = std::unique_ptr<Dcs>;

// The smallest key greater than every key starting with `prefix` (etcd's
// range_end for a prefix read).
std::string prefixRangeEnd(std::string_view prefix);

// --- Named operations built on txn(); the lock and config code uses these. ---

// Writes `key` only if it does not exist. Ok(true): created; Ok(false): it
// existed and was left alone.
Result<bool> createIfAbsent(Dcs& dcs, std::string_view key, std::string_view value, LeaseId lease = 0);

// Writes `key` only if its mod_revision is still `expected` (0: absent).
Result<bool> compareAndSet(Dcs& dcs, std::string_view key, std::string_view value, Revision expected,
                           LeaseId lease = 0);

// Deletes `key` only if its mod_revision is still `expected`.
Result<bool> compareAndDelete(Dcs& dcs, std::string_view key, Revision expected);

// Deletes `key` only if it holds exactly `value` (Patroni's lock release).
Result<bool> deleteIfValue(Dcs& dcs, std::string_view key, std::string_view value);

}  // namespace pgtandem::dcs
