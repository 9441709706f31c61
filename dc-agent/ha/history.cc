#include "dc-agent/ha/history.h"

namespace pgtandem::agent {

bool historyIsCurrent(const std::vector<dcs::HistoryEntry>& stored, int timeline) {
  if (timeline <= 1) return true;  // nothing to record, and nothing we would delete
  return !stored.empty() && stored.back().timeline == timeline - 1;
}

std::vector<dcs::HistoryEntry> historyFromFile(const std::vector<dcs::HistoryEntry>& stored, const TimelineHistoryFile& file,
                                               const std::string& self) {
  std::vector<dcs::HistoryEntry> out;
  for (std::size_t i = 0; i < file.lines.size(); ++i) {
    const auto& line = file.lines[i];
    dcs::HistoryEntry entry;
    entry.timeline = line.parent;
    entry.lsn = line.lsn;
    entry.reason = line.reason;
    for (const auto& known : stored) {
      if (known.timeline == line.parent && known.lsn == line.lsn) {
        entry.timestamp = known.timestamp;
        entry.new_leader = known.new_leader;
      }
    }
    if (i + 1 == file.lines.size() && entry.timestamp.empty()) {
      entry.timestamp = formatIsoTime(file.written);
      entry.new_leader = self;
    }
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace pgtandem::agent
