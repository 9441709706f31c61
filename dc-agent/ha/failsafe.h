#pragma once
// Patroni's DCS failsafe mode (`failsafe_mode: true` in /config).
//
// Without it a primary that cannot renew its lock demotes, whatever the
// reason: it cannot tell "etcd is down" from "I am cut off and someone else
// may take over". With it, a leader whose DCS cannot be reached (not one that
// lost a compare-and-set: then another member holds the lock) asks every
// member listed in the DCS key /failsafe, each loop, over their REST API
// (POST /failsafe). If every one answers 200 it keeps running as a primary.
//
// Why that is safe: a member that answered promises not to take the lock
// for ttl from when the heartbeat arrived (rule failsafe.leader_alive), and
// a member missing from /failsafe never takes it (whyNotHealthiest). The
// leader keeps writing until
//   failsafe deadline = when the round was sent + ttl - the safety margin
// at the latest, which is before any promise can run out; the lease guard
// and the loop's deadline (lease_deadline.h) enforce it as they enforce the
// lease's. One member that does not answer, or answers "I am a primary",
// and the leader demotes in that cycle.
//
// The leader of a writable DC keeps /failsafe equal to the members it sees
// (name -> api_url); with failsafe mode off it deletes it.

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "common/dcs/cluster.h"
#include "common/util/clock.h"
#include "common/util/result.h"

namespace pgtandem::agent {

// The /failsafe content the leader maintains: every member key's name and
// API URL.
std::map<std::string, std::string> failsafeMembersOf(const dcs::ClusterSnapshot& snapshot);

// The body of a leader's POST /failsafe: {"name", "conn_url", "api_url"}.
std::string failsafeHeartbeatJson(const dcs::MemberInfo& leader);
// The leader's name from such a body; an error naming what is wrong.
Result<std::string> parseFailsafeHeartbeat(const std::string& body);

// The members of `members` other than `self` (whom a round must reach).
std::map<std::string, std::string> failsafePeersOf(const std::map<std::string, std::string>& members,
                                                   const std::string& self);

// The heartbeats a member received (written by the REST threads, read by
// the HA loop).
class FailsafeHeartbeats {
 public:
  struct Heard {
    std::string leader;
    MonoTime at;
  };
  void heard(std::string leader, MonoTime at) {
    std::lock_guard lock(mutex_);
    last_ = Heard{std::move(leader), at};
  }
  std::optional<Heard> last() const {
    std::lock_guard lock(mutex_);
    return last_;
  }

 private:
  mutable std::mutex mutex_;
  std::optional<Heard> last_;
};

// The I/O of a round: POST /failsafe to members' REST APIs.
class FailsafePeers {
 public:
  virtual ~FailsafePeers() = default;
  // Posts `body` to each member (name -> api_url) in parallel, each call
  // bounded by `timeout`; returns the names that answered 200.
  virtual std::set<std::string> confirm(const std::map<std::string, std::string>& members, const std::string& body,
                                        std::chrono::milliseconds timeout) = 0;
};

}  // namespace pgtandem::agent
