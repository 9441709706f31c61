#pragma once
// Site-level state, kept in each DC's own DCS next to the cluster's keys
// (<namespace><scope>/site), so that the coordinator holds nothing itself and
// the agents of each DC can read it locally:
//
//   {"role": "primary" | "standby",
//    "epoch": 3,                       fencing epoch: raised on every DC promotion
//    "token": {...} | absent,          the demotion token of the last clean demotion
//    "operation": {...} | absent}      the journal of a site operation in progress
//
// Patroni's tools ignore the key. Garbage in it is an error naming the key,
// never a crash.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/dcs/cluster.h"
#include "common/util/result.h"

namespace pgtandem::coordinator {

// CloudNativePG's demotion token: where the demoted primary stopped. The
// promoted DC must have replayed exactly to redo_lsn on this timeline.
struct DemotionToken {
  std::string system_identifier;
  int timeline = 0;
  std::int64_t redo_lsn = 0;
  std::string redo_wal_file;
  std::string from_site;

  bool operator==(const DemotionToken&) const = default;
};

// One journaled step of a site operation.
struct OperationStep {
  std::string name;    // e.g. "fence", "stop_primary", "promote"
  std::string state;   // "done", "failed"
  std::string at;      // ISO 8601
  std::string detail;  // one line

  bool operator==(const OperationStep&) const = default;
};

struct SiteOperation {
  std::string kind;  // "switchover", "promote", "rejoin"
  std::string from_site, to_site;
  std::string started_at;
  std::vector<OperationStep> steps;

  bool operator==(const SiteOperation&) const = default;
};

struct SiteState {
  std::string role;  // "primary" | "standby"
  std::int64_t epoch = 0;
  std::optional<DemotionToken> token;
  std::optional<SiteOperation> operation;
  dcs::Revision mod_revision = 0;  // from the DCS, for compare-and-set

  bool operator==(const SiteState&) const = default;
};

std::string siteKey(const dcs::ClusterPaths& paths);
Result<SiteState> parseSiteState(std::string_view json);
std::string toJson(const SiteState& state);

}  // namespace pgtandem::coordinator
