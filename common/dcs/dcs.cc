#include "common/dcs/dcs.h"

#include <algorithm>

namespace pgtandem::dcs {

const KeyValue* RangeResult::find(std::string_view key) const {
  auto it = std::find_if(kvs.begin(), kvs.end(), [&](const KeyValue& kv) { return kv.key == key; });
  return it == kvs.end() ? nullptr : &*it;
}

Compare Compare::absent(std::string key) {
  return Compare{std::move(key), Target::kCreateRevision, Op::kEqual, 0, {}};
}
Compare Compare::modRevisionIs(std::string key, Revision revision) {
  return Compare{std::move(key), Target::kModRevision, Op::kEqual, revision, {}};
}
Compare Compare::valueIs(std::string key, std::string value) {
  return Compare{std::move(key), Target::kValue, Op::kEqual, 0, std::move(value)};
}
Compare Compare::leaseIs(std::string key, LeaseId lease) {
  return Compare{std::move(key), Target::kLease, Op::kEqual, lease, {}};
}

WriteOp WriteOp::put(std::string key, std::string value, LeaseId lease) {
  return WriteOp{Kind::kPut, std::move(key), std::move(value), lease};
}
WriteOp WriteOp::erase(std::string key) { return WriteOp{Kind::kDelete, std::move(key), {}, 0}; }
WriteOp WriteOp::erasePrefix(std::string prefix) { return WriteOp{Kind::kDeletePrefix, std::move(prefix), {}, 0}; }

namespace {
thread_local std::optional<std::chrono::steady_clock::time_point> call_deadline;
}  // namespace

CallDeadline::CallDeadline(std::chrono::steady_clock::time_point deadline) : previous_(call_deadline) {
  call_deadline = previous_ ? std::min(*previous_, deadline) : deadline;
}

CallDeadline::~CallDeadline() { call_deadline = previous_; }

std::optional<std::chrono::steady_clock::time_point> CallDeadline::current() { return call_deadline; }

std::string prefixRangeEnd(std::string_view prefix) {
  std::string end(prefix);
  // Drop trailing 0xff bytes, then increment the last byte; an all-0xff (or
  // empty) prefix means "to the end of the keyspace", which etcd spells "\0".
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (end.empty()) return std::string(1, '\0');
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

namespace {
Result<bool> succeeded(Result<TxnResult> result) {
  if (!result.ok()) return result.error();
  return result->succeeded;
}
}  // namespace

Result<bool> createIfAbsent(Dcs& dcs, std::string_view key, std::string_view value, LeaseId lease) {
  return succeeded(dcs.txn({Compare::absent(std::string(key))},
                           {WriteOp::put(std::string(key), std::string(value), lease)}));
}

Result<bool> compareAndSet(Dcs& dcs, std::string_view key, std::string_view value, Revision expected,
                           LeaseId lease) {
  return succeeded(dcs.txn({Compare::modRevisionIs(std::string(key), expected)},
                           {WriteOp::put(std::string(key), std::string(value), lease)}));
}

Result<bool> compareAndDelete(Dcs& dcs, std::string_view key, Revision expected) {
  return succeeded(dcs.txn({Compare::modRevisionIs(std::string(key), expected)}, {WriteOp::erase(std::string(key))}));
}

Result<bool> deleteIfValue(Dcs& dcs, std::string_view key, std::string_view value) {
  return succeeded(
      dcs.txn({Compare::valueIs(std::string(key), std::string(value))}, {WriteOp::erase(std::string(key))}));
}

}  // namespace pgtandem::dcs
