#pragma once
// `dc-backup expire`: retention that never breaks recovery. Backups go a
// whole chain at a time (a full with the diff and incr backups that refer to
// it); archived WAL goes only below what every kept backup needs from its
// start, and below what each archive-fed standby DC has yet to replay (its
// standby leader's position, read from that DC's DCS). Anything that cannot
// be read refuses the whole expire: nothing is removed on a guess.

#include <chrono>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "backup/manifest.h"
#include "backup/repository.h"
#include "backup/site_source.h"
#include "common/util/clock.h"
#include "common/util/lsn.h"

namespace pgtandem::backup {

struct RetentionPolicy {
  int full_count = 0;            // keep the newest N full backups and their chains; 0: no count rule
  std::chrono::seconds window{0};  // keep what restores to any time in the last `window`; 0: no window rule
  bool configured() const { return full_count > 0 || window.count() > 0; }
};

// What the plan needs of a finished backup.
struct BackupFacts {
  std::string label;
  BackupType type = BackupType::kFull;
  std::string prior;
  std::vector<std::string> references;
  WallTime stop{};
  std::string start_wal;
  std::uint64_t wal_segment_size = kDefaultWalSegmentSize;
};
Result<BackupFacts> factsOf(const BackupManifest& manifest);

// An archive-fed standby DC, and the first WAL segment it has yet to replay.
struct StandbyNeed {
  std::string dc;
  std::string segment;
};

struct ExpirePlan {
  struct Item {
    std::string label;
    std::string why;
  };
  std::vector<Item> backups;      // to remove, oldest first
  std::vector<std::string> kept;  // oldest first
  // Archived segments whose position (any timeline) is below this one's go;
  // "" keeps every one. History files always stay.
  std::string wal_cutoff;
  std::string wal_why;
};

// Pure. `finished` oldest first.
ExpirePlan planExpire(const std::vector<BackupFacts>& finished, const RetentionPolicy& policy, WallTime now,
                      const std::vector<StandbyNeed>& standby_needs);

// An archive-fed standby DC: where to read its standby leader's position.
struct StandbyDc {
  std::string name;
  SiteKeyLocation where;
};

class StandbyPositions {
 public:
  virtual ~StandbyPositions() = default;
  // The standby leader's replayed LSN; an error when it cannot be known.
  virtual Result<Lsn> replayed(const StandbyDc& dc) = 0;
};
// The real one: the DC's leader key, then its member key, through etcd's
// JSON gateway (linearizable reads).
std::unique_ptr<StandbyPositions> etcdStandbyPositions();

struct ExpireResult {
  ExpirePlan plan;
  std::size_t wal_files = 0;  // removed (or, dry run, to remove)
  std::vector<std::string> unfinished;  // abandoned unfinished backups removed (or to remove)
};

// Plans and, unless `dry_run`, removes; `out` gets what goes and why.
Result<ExpireResult> expire(Repository& repo, const std::string& stanza, const RetentionPolicy& policy,
                            const std::vector<StandbyDc>& standbys, StandbyPositions& positions, const Clock& clock,
                            bool dry_run, std::ostream& out);

}  // namespace pgtandem::backup
