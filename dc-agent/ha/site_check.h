#pragma once
// The DC's fencing state as this agent sees it, in pure steps the loop
// runs each cycle (agent.cc), tested row by row:
//
//   siteUnreadable   fail closed: a site key that is garbage, or gone after
//                    this agent saw one, makes the DC behave as fenced;
//   peerReadNeeded   whether to ask the other DC's key this cycle (every
//                    member confirms once per epoch; who leads or could
//                    asks every loop);
//   judgePeer        what the other DC's key says of ours: confirmed
//                    (ours stands), superseded (theirs is primary at the
//                    same or a newer epoch: equal epochs never mean both
//                    may write), or unknown (unreachable);
//   siteConfirmed    whether our epoch may be used to become primary;
//   peerSupersedes   the other DC is primary at our epoch or a newer one;
//   dcFenced         the one rule for "this DC takes no writes", read by the
//                    decision (rule site.fenced) and published for the REST
//                    API (/primary, /patroni, metrics).
//
// The decision (decision.h) reads the results: rule site.fenced.

#include <cstdint>
#include <optional>
#include <string>

#include "common/dcs/cluster.h"
#include "common/util/result.h"
#include "dc-agent/ha/decision.h"

namespace pgtandem::agent {

// Why the site key cannot be trusted now ("" when it can). `seen`: this
// agent has seen a site key before.
std::string siteUnreadable(const dcs::ClusterSnapshot& snapshot, bool seen);

// Whether the other DC's key must be read this cycle.
bool peerReadNeeded(const dcs::ClusterSnapshot& snapshot, const std::string& me, bool standby_cluster,
                    std::optional<std::int64_t> confirmed_epoch);

struct PeerJudgement {
  PeerSiteView view;
  bool confirms = false;    // the other DC agrees with our epoch
  bool supersedes = false;  // the other DC is primary at our epoch or a newer one
};

// `read`: the other DC's key (nullopt inside: it has none), or why it
// could not be read.
PeerJudgement judgePeer(std::int64_t our_epoch, const Result<std::optional<dcs::SiteState>>& read);

bool siteConfirmed(const dcs::ClusterSnapshot& snapshot, bool peer_checked, std::optional<std::int64_t> confirmed_epoch);

// Both primary at one epoch cannot be told apart (the coordinator never
// writes that; a hand edit or a restored backup can): it supersedes, so both DCs fence.
bool peerSupersedes(const PeerSiteView& peer, std::int64_t our_epoch);

// The DC must take no writes: its key cannot be trusted (fail closed), says
// fenced or standby, or the other DC superseded it. A standby cluster is
// never "fenced": its own rules keep it read-only.
bool dcFenced(const std::optional<dcs::SiteState>& site, const std::string& unreadable, bool superseded, bool standby_cluster);

}  // namespace pgtandem::agent
