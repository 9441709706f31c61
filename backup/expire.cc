#include "backup/expire.h"

#include <algorithm>
#include <map>
#include <set>

#include "backup/wal_archive.h"
#include "common/dcs/cluster.h"

namespace pgtandem::backup {

namespace {

std::string formatDays(std::chrono::seconds window) {
  const auto hours = std::chrono::duration_cast<std::chrono::hours>(window).count();
  return hours % 24 == 0 ? std::to_string(hours / 24) + "d" : std::to_string(hours) + "h";
}

// The position of a WAL file name (its segment, whatever the timeline).
std::optional<std::uint64_t> positionOf(const std::string& name, std::uint64_t segment_size) {
  if (name.size() < 24) return std::nullopt;
  return walSegmentNumber(name.substr(0, 24), segment_size);
}

}  // namespace

Result<BackupFacts> factsOf(const BackupManifest& m) {
  BackupFacts f;
  f.label = m.label;
  f.type = m.type;
  f.prior = m.prior;
  f.references = referencedBackups(m);
  const auto stop = parseIsoTime(m.stop_time);
  if (!stop) return makeError(ErrorCode::kParse, "backup " + m.label + ": stop_time '" + m.stop_time + "' does not parse");
  f.stop = *stop;
  f.start_wal = m.start_wal;
  f.wal_segment_size = m.wal_segment_size;
  return f;
}

ExpirePlan planExpire(const std::vector<BackupFacts>& finished, const RetentionPolicy& policy, WallTime now,
                      const std::vector<StandbyNeed>& standby_needs) {
  ExpirePlan plan;
  // Each backup's chain: the full it leads back to through its priors.
  std::map<std::string, const BackupFacts*> by_label;
  for (const auto& b : finished) by_label[b.label] = &b;
  std::map<std::string, std::string> head;  // label -> its full's label ("" when the chain is broken)
  for (const auto& b : finished) {
    const BackupFacts* at = &b;
    for (int hops = 0; at && at->type != BackupType::kFull && hops < 10000; ++hops) {
      const auto prior = by_label.find(at->prior);
      at = prior == by_label.end() ? nullptr : prior->second;
    }
    head[b.label] = at && at->type == BackupType::kFull ? at->label : "";
  }
  std::vector<std::string> fulls;
  for (const auto& b : finished) {
    if (b.type == BackupType::kFull) fulls.push_back(b.label);
  }
  // The fulls whose chains stay: each configured rule keeps some; the
  // newest full always stays.
  std::set<std::string> keep;
  if (!fulls.empty()) keep.insert(fulls.back());
  if (policy.full_count > 0) {
    for (std::size_t i = fulls.size() > static_cast<std::size_t>(policy.full_count) ? fulls.size() - policy.full_count : 0;
         i < fulls.size(); ++i) {
      keep.insert(fulls[i]);
    }
  }
  if (policy.window.count() > 0) {
    // The newest backup that ended before the window opened is where a
    // restore to the window's first moment starts: its chain and all newer ones stay.
    const WallTime opened = now - policy.window;
    std::string anchor_head;
    for (const auto& b : finished) {
      if (b.stop <= opened && !head[b.label].empty()) anchor_head = head[b.label];
    }
    for (const auto& full : fulls) {
      if (anchor_head.empty() || full >= anchor_head) keep.insert(full);
    }
  }
  if (!policy.configured()) {
    for (const auto& full : fulls) keep.insert(full);
  }
  for (const auto& b : finished) {
    const std::string& h = head[b.label];
    if (h.empty()) {
      plan.kept.push_back(b.label);  // a broken chain is verify's to report, not expire's to guess about
      continue;
    }
    if (keep.count(h)) {
      plan.kept.push_back(b.label);
      continue;
    }
    std::string why;
    if (policy.full_count > 0) why = "beyond retention_full " + std::to_string(policy.full_count);
    if (policy.window.count() > 0) {
      why += std::string(why.empty() ? "" : ", and ") + "older than what retention_window " +
             formatDays(policy.window) + " needs";
    }
    if (b.type != BackupType::kFull) why += " (in the chain of " + h + ")";
    plan.backups.push_back({b.label, why});
  }
  // WAL: below the oldest kept backup's start, and below every standby DC's need.
  std::optional<std::uint64_t> cutoff;
  std::uint64_t segment_size = kDefaultWalSegmentSize;
  for (const auto& b : finished) {
    if (std::find(plan.kept.begin(), plan.kept.end(), b.label) == plan.kept.end()) continue;
    const auto position = positionOf(b.start_wal, b.wal_segment_size);
    if (!position) {
      plan.wal_cutoff.clear();
      plan.wal_why = "backup " + b.label + "'s start WAL does not parse: every WAL file stays";
      return plan;
    }
    if (!cutoff || *position < *cutoff) {
      cutoff = position;
      segment_size = b.wal_segment_size;
      plan.wal_cutoff = b.start_wal;
      plan.wal_why = "the start of backup " + b.label + ", the oldest kept";
    }
  }
  if (!cutoff) {
    plan.wal_cutoff.clear();
    plan.wal_why = "no backup is kept: every WAL file stays";
    return plan;
  }
  for (const auto& need : standby_needs) {
    const auto position = positionOf(need.segment, segment_size);
    if (!position) {
      plan.wal_cutoff.clear();
      plan.wal_why = need.dc + "'s position does not parse: every WAL file stays";
      return plan;
    }
    if (*position < *cutoff) {
      cutoff = position;
      plan.wal_cutoff = need.segment;
      plan.wal_why = need.dc + " has yet to replay " + need.segment;
    }
  }
  return plan;
}

namespace {

class EtcdStandbyPositions : public StandbyPositions {
 public:
  Result<Lsn> replayed(const StandbyDc& dc) override {
    const dcs::ClusterPaths paths(dc.where.namespace_, dc.where.scope);
    auto leader = readEtcdKey(dc.where.etcd, paths.leader());
    if (!leader.ok()) return makeError(leader.error().code, dc.name + ": " + leader.error().message);
    if (!*leader || (*leader)->empty()) return makeError(ErrorCode::kNotFound, dc.name + " has no standby leader in its DCS");
    auto member = readEtcdKey(dc.where.etcd, paths.member(**leader));
    if (!member.ok()) return makeError(member.error().code, dc.name + ": " + member.error().message);
    if (!*member) return makeError(ErrorCode::kNotFound, dc.name + ": its leader " + **leader + " has no member key");
    auto info = dcs::parseMember(**leader, **member);
    if (!info.ok()) return makeError(ErrorCode::kParse, dc.name + ": member " + **leader + ": " + info.error().message);
    const auto position = info->replay_lsn ? info->replay_lsn : info->xlog_location;
    if (!position || *position <= 0) {
      return makeError(ErrorCode::kNotFound, dc.name + ": its leader " + **leader + " reports no replay position");
    }
    return static_cast<Lsn>(*position);
  }
};

std::string labelTime(const std::string& label) { return label.substr(0, 15); }

}  // namespace

std::unique_ptr<StandbyPositions> etcdStandbyPositions() { return std::make_unique<EtcdStandbyPositions>(); }

Result<ExpireResult> expire(Repository& repo, const std::string& stanza, const RetentionPolicy& policy,
                            const std::vector<StandbyDc>& standbys, StandbyPositions& positions, const Clock& clock,
                            bool dry_run, std::ostream& out) {
  auto listing = loadBackups(repo, stanza);
  if (!listing.ok()) return makeError(listing.error().code, "nothing expired: " + listing.error().message);
  std::vector<BackupFacts> finished;
  for (const auto& manifest : listing->finished) {
    auto facts = factsOf(manifest);
    if (!facts.ok()) return makeError(facts.error().code, "nothing expired: " + facts.error().message);
    finished.push_back(std::move(*facts));
  }
  const std::uint64_t segment_size = finished.empty() ? kDefaultWalSegmentSize : finished.back().wal_segment_size;
  std::vector<StandbyNeed> needs;
  for (const auto& dc : standbys) {
    auto lsn = positions.replayed(dc);
    if (!lsn.ok()) {
      return makeError(lsn.error().code, "nothing expired: the WAL an archive-fed standby DC still needs cannot be "
                                         "known: " + lsn.error().message);
    }
    // Only the position counts (positionOf ignores the timeline).
    needs.push_back({dc.name, walSegmentName("00000001", *lsn / segment_size, segment_size)});
    out << dc.name << " has replayed to " << formatLsn(*lsn) << "\n";
  }
  ExpireResult result;
  result.plan = planExpire(finished, policy, clock.wallNow(), needs);
  const ExpirePlan& plan = result.plan;
  const char* verb = dry_run ? "would expire" : "expiring";
  if (!policy.configured()) out << "no retention_full or retention_window set: no backup expires\n";
  for (const auto& item : plan.backups) out << verb << " backup " << item.label << ": " << item.why << "\n";
  // Unfinished backups older than the newest finished one were abandoned.
  const std::string newest = listing->finished.empty() ? "" : labelTime(listing->finished.back().label);
  for (const auto& label : listing->unfinished) {
    if (!newest.empty() && labelTime(label) < newest) {
      result.unfinished.push_back(label);
      out << verb << " unfinished backup " << label << ": abandoned (a newer backup finished)\n";
    }
  }
  if (!dry_run) {
    for (const auto& item : plan.backups) {
      // The manifest first: a removal cut short leaves an unfinished
      // backup, which restore never uses, not a finished one with holes.
      const std::string dir = backupDirectory(stanza, item.label);
      PGT_TRY(repo.remove(dir + "/backup.manifest"));
      PGT_TRY(repo.remove(dir + "/backup.manifest.copy"));
      PGT_TRY(repo.removeTree(dir));
    }
    for (const auto& label : result.unfinished) PGT_TRY(repo.removeTree(backupDirectory(stanza, label)));
  }
  if (plan.wal_cutoff.empty()) {
    out << "WAL: every archived file stays (" << plan.wal_why << ")\n";
    return result;
  }
  const auto cutoff = positionOf(plan.wal_cutoff, segment_size);
  auto dirs = repo.list(stanza + "/wal");
  if (!dirs.ok()) return dirs.error();
  for (const auto& dir : *dirs) {
    if (dir.size() != 16) continue;  // history files sit beside the directories
    auto names = repo.list(stanza + "/wal/" + dir);
    if (!names.ok()) return names.error();
    std::vector<std::string> below;
    for (const auto& name : *names) {
      const auto position = positionOf(name, segment_size);
      if (position && cutoff && *position < *cutoff) below.push_back(name);
    }
    result.wal_files += below.size();
    if (dry_run || below.empty()) continue;
    if (below.size() == names->size()) {
      PGT_TRY(repo.removeTree(stanza + "/wal/" + dir));
    } else {
      for (const auto& name : below) PGT_TRY(repo.remove(stanza + "/wal/" + dir + "/" + name));
    }
  }
  out << "WAL: " << result.wal_files << " archived files before " << plan.wal_cutoff << " " << (dry_run ? "would go" : "removed")
      << " (the bound: " << plan.wal_why << ")\n";
  return result;
}

}  // namespace pgtandem::backup
