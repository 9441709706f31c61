#pragma once
// /history, the DC's timeline switches as Patroni keeps them
// ([parent timeline, switch LSN, reason, timestamp, new leader] per switch).
// The leader owns the key: deleted, garbled or behind its own timeline (by
// hand, by an etcd restore) it is written again from PostgreSQL's own
// timeline history file. Pure; the agent reads the file and writes the key.

#include <optional>
#include <string>
#include <vector>

#include "common/dcs/cluster.h"
#include "common/pg/postgres.h"
#include "common/util/clock.h"

namespace pgtandem::agent {

// A timeline's history file as the primary holds it (pg_wal/0000000N.history).
struct TimelineHistoryFile {
  std::vector<pg::TimelineSwitch> lines;
  WallTime written{};  // the file's mtime: when that timeline began
};

// Whether `stored` (what the DCS holds) records every switch up to `timeline`.
bool historyIsCurrent(const std::vector<dcs::HistoryEntry>& stored, int timeline);

// /history rebuilt from the file: a stored entry for the same switch keeps
// its timestamp and new leader; the last switch, unknown to the DCS, gets
// the file's time and `self` (the leader that promoted).
std::vector<dcs::HistoryEntry> historyFromFile(const std::vector<dcs::HistoryEntry>& stored, const TimelineHistoryFile& file,
                                               const std::string& self);

}  // namespace pgtandem::agent
