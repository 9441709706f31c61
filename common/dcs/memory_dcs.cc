#include "common/dcs/memory_dcs.h"

#include <algorithm>

namespace pgtandem::dcs {

struct MemoryDcs::ClientState {
  mutable std::mutex mutex;
  bool partitioned = false;
  int failures_left = 0;
  Error failure{ErrorCode::kUnavailable, ""};
};

struct MemoryStore::WatcherState {
  std::string prefix;
  WatchCallback callback;
  Revision next_revision = 0;
  std::shared_ptr<MemoryDcs::ClientState> client;
  std::mutex delivery_mutex;  // held while the callback runs
  bool cancelled = false;     // guarded by delivery_mutex
};

class MemoryWatch final : public Watch {
 public:
  MemoryWatch(std::weak_ptr<MemoryStore> store, std::shared_ptr<MemoryStore::WatcherState> watcher)
      : store_(std::move(store)), watcher_(std::move(watcher)) {}
  ~MemoryWatch() override {
    {
      std::lock_guard delivery(watcher_->delivery_mutex);
      watcher_->cancelled = true;
    }
    if (auto store = store_.lock()) {
      std::lock_guard lock(store->mutex_);
      auto& list = store->watchers_;
      list.erase(std::remove(list.begin(), list.end(), watcher_), list.end());
    }
  }

 private:
  std::weak_ptr<MemoryStore> store_;
  std::shared_ptr<MemoryStore::WatcherState> watcher_;
};

namespace {

bool hasPrefix(std::string_view key, std::string_view prefix) { return key.substr(0, prefix.size()) == prefix; }

template <typename T>
bool compareNumbers(Compare::Op op, T actual, T expected) {
  switch (op) {
    case Compare::Op::kEqual: return actual == expected;
    case Compare::Op::kNotEqual: return actual != expected;
    case Compare::Op::kGreater: return actual > expected;
    case Compare::Op::kLess: return actual < expected;
  }
  return false;
}

// Guards against a watch callback that writes to the store: the nested write
// must not start a second, out-of-order delivery on the same thread.
thread_local bool t_delivering = false;

}  // namespace

MemoryStore::MemoryStore(const Clock& clock) : clock_(clock) {}

std::unique_ptr<MemoryDcs> MemoryStore::connect() {
  return std::unique_ptr<MemoryDcs>(new MemoryDcs(shared_from_this()));
}

Revision MemoryStore::currentRevision() const {
  std::lock_guard lock(mutex_);
  return revision_;
}

void MemoryStore::applyPutLocked(const std::string& key, const std::string& value, LeaseId lease, Revision revision) {
  auto& kv = kvs_[key];
  if (kv.create_revision == 0) {
    kv.key = key;
    kv.create_revision = revision;
    kv.version = 0;
  }
  if (kv.lease != 0 && kv.lease != lease) {
    if (auto it = leases_.find(kv.lease); it != leases_.end()) it->second.keys.erase(key);
  }
  kv.value = value;
  kv.mod_revision = revision;
  kv.version += 1;
  kv.lease = lease;
  if (lease != 0) leases_.at(lease).keys.insert(key);
  history_.push_back({revision, WatchEvent{WatchEvent::Type::kPut, kv}});
}

bool MemoryStore::applyDeleteLocked(const std::string& key, Revision revision) {
  auto it = kvs_.find(key);
  if (it == kvs_.end()) return false;
  if (it->second.lease != 0) {
    if (auto lease = leases_.find(it->second.lease); lease != leases_.end()) lease->second.keys.erase(key);
  }
  KeyValue tombstone;
  tombstone.key = key;
  tombstone.mod_revision = revision;
  history_.push_back({revision, WatchEvent{WatchEvent::Type::kDelete, tombstone}});
  kvs_.erase(it);
  return true;
}

void MemoryStore::expireLeasesLocked() {
  const auto now = clock_.monotonicNow();
  for (auto it = leases_.begin(); it != leases_.end();) {
    if (it->second.expires_at > now) {
      ++it;
      continue;
    }
    const auto keys = it->second.keys;
    if (!keys.empty()) {
      const Revision revision = ++revision_;
      for (const auto& key : keys) applyDeleteLocked(key, revision);
    }
    it = leases_.erase(it);
  }
}

int MemoryStore::expireLeases() {
  int expired = 0;
  {
    std::lock_guard lock(mutex_);
    const auto before = leases_.size();
    expireLeasesLocked();
    expired = static_cast<int>(before - leases_.size());
  }
  deliverPending();
  return expired;
}

void MemoryStore::compact(Revision revision) {
  std::lock_guard lock(mutex_);
  compacted_ = std::max(compacted_, std::min(revision, revision_));
  std::erase_if(history_, [&](const HistoryEntry& entry) { return entry.revision < compacted_; });
}

bool MemoryStore::compareHoldsLocked(const Compare& compare) const {
  auto it = kvs_.find(compare.key);
  // etcd compares a missing key as a zero-valued KeyValue, except for VALUE,
  // which never matches a missing key.
  static const KeyValue kMissing{};
  const KeyValue& kv = it == kvs_.end() ? kMissing : it->second;
  switch (compare.target) {
    case Compare::Target::kVersion: return compareNumbers(compare.op, kv.version, compare.number);
    case Compare::Target::kCreateRevision: return compareNumbers(compare.op, kv.create_revision, compare.number);
    case Compare::Target::kModRevision: return compareNumbers(compare.op, kv.mod_revision, compare.number);
    case Compare::Target::kLease: return compareNumbers(compare.op, kv.lease, compare.number);
    case Compare::Target::kValue:
      if (it == kvs_.end()) return false;
      return compareNumbers(compare.op, std::string_view(kv.value), std::string_view(compare.value));
  }
  return false;
}

RangeResult MemoryStore::rangeLocked(std::string_view prefix, bool is_prefix) const {
  RangeResult result;
  result.revision = revision_;
  if (!is_prefix) {
    if (auto it = kvs_.find(std::string(prefix)); it != kvs_.end()) result.kvs.push_back(it->second);
    return result;
  }
  for (auto it = kvs_.lower_bound(std::string(prefix)); it != kvs_.end() && hasPrefix(it->first, prefix); ++it) {
    result.kvs.push_back(it->second);
  }
  return result;
}

void MemoryStore::deliverPending() {
  if (t_delivering) return;  // the outer delivery loop picks the new events up
  t_delivering = true;
  for (int round = 0; round < 1000; ++round) {
    std::vector<std::pair<std::shared_ptr<WatcherState>, WatchUpdate>> batch;
    {
      std::lock_guard lock(mutex_);
      for (auto& watcher : watchers_) {
        {
          std::lock_guard client(watcher->client->mutex);
          if (watcher->client->partitioned) continue;
        }
        if (watcher->next_revision > revision_) continue;
        WatchUpdate update;
        if (watcher->next_revision < compacted_) {
          update.kind = WatchUpdate::Kind::kResync;
          update.revision = revision_;
          update.snapshot = rangeLocked(watcher->prefix, true).kvs;
        } else {
          update.kind = WatchUpdate::Kind::kEvents;
          for (const auto& entry : history_) {
            if (entry.revision >= watcher->next_revision && hasPrefix(entry.event.kv.key, watcher->prefix)) {
              update.events.push_back(entry.event);
              update.revision = entry.revision;
            }
          }
        }
        watcher->next_revision = revision_ + 1;
        if (update.kind == WatchUpdate::Kind::kResync || !update.events.empty()) {
          batch.emplace_back(watcher, std::move(update));
        }
      }
    }
    if (batch.empty()) break;
    for (auto& [watcher, update] : batch) {
      std::lock_guard delivery(watcher->delivery_mutex);
      if (!watcher->cancelled) watcher->callback(update);
    }
  }
  t_delivering = false;
}

// ---------------------------------------------------------------------------

MemoryDcs::MemoryDcs(std::shared_ptr<MemoryStore> store)
    : store_(std::move(store)), state_(std::make_shared<ClientState>()) {}

MemoryDcs::~MemoryDcs() = default;

void MemoryDcs::setPartitioned(bool partitioned) {
  {
    std::lock_guard lock(state_->mutex);
    state_->partitioned = partitioned;
  }
  if (!partitioned) store_->deliverPending();
}

bool MemoryDcs::partitioned() const {
  std::lock_guard lock(state_->mutex);
  return state_->partitioned;
}

void MemoryDcs::failNextCalls(int count, Error error) {
  std::lock_guard lock(state_->mutex);
  state_->failures_left = count;
  state_->failure = std::move(error);
}

Status MemoryDcs::enter() {
  {
    std::lock_guard lock(state_->mutex);
    if (state_->failures_left > 0) {
      --state_->failures_left;
      return state_->failure;
    }
    if (state_->partitioned) return makeError(ErrorCode::kUnavailable, "memory dcs: client is partitioned");
  }
  store_->expireLeases();
  return okStatus();
}

Result<RangeResult> MemoryDcs::get(std::string_view key) {
  PGT_TRY(enter());
  std::lock_guard lock(store_->mutex_);
  return store_->rangeLocked(key, false);
}

Result<RangeResult> MemoryDcs::getPrefix(std::string_view prefix) {
  PGT_TRY(enter());
  std::lock_guard lock(store_->mutex_);
  return store_->rangeLocked(prefix, true);
}

Result<Revision> MemoryDcs::put(std::string_view key, std::string_view value, LeaseId lease) {
  auto result = txn({}, {WriteOp::put(std::string(key), std::string(value), lease)}, {});
  if (!result.ok()) return result.error();
  return result->revision;
}

Result<std::int64_t> MemoryDcs::erasePrefix(std::string_view prefix) {
  PGT_TRY(enter());
  std::int64_t deleted = 0;
  {
    std::lock_guard lock(store_->mutex_);
    const auto existing = store_->rangeLocked(prefix, true).kvs;
    if (!existing.empty()) {
      const Revision revision = ++store_->revision_;
      for (const auto& kv : existing) deleted += store_->applyDeleteLocked(kv.key, revision) ? 1 : 0;
    }
  }
  store_->deliverPending();
  return deleted;
}

Result<TxnResult> MemoryDcs::txn(const std::vector<Compare>& compares, const std::vector<WriteOp>& on_success,
                                 const std::vector<WriteOp>& on_failure) {
  PGT_TRY(enter());
  TxnResult result;
  {
    std::lock_guard lock(store_->mutex_);
    result.succeeded = std::all_of(compares.begin(), compares.end(),
                                   [&](const Compare& c) { return store_->compareHoldsLocked(c); });
    const auto& ops = result.succeeded ? on_success : on_failure;
    std::set<std::string> seen;
    for (const auto& op : ops) {
      if (!seen.insert(op.key).second) {
        return makeError(ErrorCode::kInvalidArgument, "duplicate key given in txn request: " + op.key);
      }
      if (op.kind == WriteOp::Kind::kPut && op.lease != 0 && !store_->leases_.count(op.lease)) {
        return makeError(ErrorCode::kLeaseLost, "requested lease not found");
      }
    }
    if (!result.succeeded) {
      for (const auto& c : compares) {
        if (auto it = store_->kvs_.find(c.key); it != store_->kvs_.end()) result.current.push_back(it->second);
      }
    }
    const Revision revision = store_->revision_ + 1;
    bool changed = false;
    for (const auto& op : ops) {
      switch (op.kind) {
        case WriteOp::Kind::kPut:
          store_->applyPutLocked(op.key, op.value, op.lease, revision);
          changed = true;
          break;
        case WriteOp::Kind::kDelete: changed |= store_->applyDeleteLocked(op.key, revision); break;
        case WriteOp::Kind::kDeletePrefix:
          for (const auto& kv : store_->rangeLocked(op.key, true).kvs) {
            changed |= store_->applyDeleteLocked(kv.key, revision);
          }
          break;
      }
    }
    if (changed) store_->revision_ = revision;
    result.revision = store_->revision_;
  }
  store_->deliverPending();
  return result;
}

Result<Lease> MemoryDcs::grantLease(std::chrono::seconds ttl) {
  PGT_TRY(enter());
  if (ttl.count() <= 0) return makeError(ErrorCode::kInvalidArgument, "lease TTL must be positive");
  std::lock_guard lock(store_->mutex_);
  const LeaseId id = ++store_->next_lease_;
  store_->leases_[id] = MemoryStore::LeaseState{ttl, store_->clock_.monotonicNow() + ttl, {}};
  return Lease{id, ttl};
}

Result<std::chrono::seconds> MemoryDcs::keepAlive(LeaseId lease) {
  PGT_TRY(enter());
  std::lock_guard lock(store_->mutex_);
  auto it = store_->leases_.find(lease);
  if (it == store_->leases_.end()) return makeError(ErrorCode::kLeaseLost, "lease expired or revoked");
  it->second.expires_at = store_->clock_.monotonicNow() + it->second.ttl;
  return it->second.ttl;
}

Status MemoryDcs::revokeLease(LeaseId lease) {
  PGT_TRY(enter());
  {
    std::lock_guard lock(store_->mutex_);
    auto it = store_->leases_.find(lease);
    if (it == store_->leases_.end()) return okStatus();
    const auto keys = it->second.keys;
    if (!keys.empty()) {
      const Revision revision = ++store_->revision_;
      for (const auto& key : keys) store_->applyDeleteLocked(key, revision);
    }
    store_->leases_.erase(it);
  }
  store_->deliverPending();
  return okStatus();
}

Result<std::unique_ptr<Watch>> MemoryDcs::watchPrefix(std::string_view prefix, Revision start_revision,
                                                      WatchCallback callback) {
  PGT_TRY(enter());
  auto watcher = std::make_shared<MemoryStore::WatcherState>();
  watcher->prefix = std::string(prefix);
  watcher->callback = std::move(callback);
  watcher->client = state_;
  {
    std::lock_guard lock(store_->mutex_);
    watcher->next_revision = start_revision > 0 ? start_revision : store_->revision_ + 1;
    store_->watchers_.push_back(watcher);
  }
  store_->deliverPending();
  return std::unique_ptr<Watch>(new MemoryWatch(store_, watcher));
}

}  // namespace pgtandem::dcs
