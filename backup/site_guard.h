#pragma once
// The split-brain guard across DCs: before archive-push stores a file, the
// pushing DC's site key (written by the coordinator in that DC's own etcd)
// is read, and the stanza remembers the newest primary DC that pushed
// (`<stanza>/archive.owner`: site and epoch, with a checksum and a copy).
//
//   rule                    when                                          push?
//   guard.no_coordinator    the DC has no site key (a plain cluster)      yes
//   guard.dcs_unreadable    the key cannot be read or does not parse      no (fail closed; PostgreSQL retries)
//   guard.fenced_history    fenced, and the file is not past the WAL of   yes (WAL written before the
//                           its clean demotion (the demotion token)           demotion belongs in the archive)
//   guard.fenced            fenced, anything else                         no
//   guard.standby           the DC is a standby (archive_mode = always)   yes (the primary's own WAL; another
//                                                                             file under its name is refused)
//   guard.superseded        primary at an epoch below the owner's         no
//   guard.epoch_taken       primary at the owner's epoch, another site    no
//   guard.primary           primary at the owner's epoch or above         yes, and the owner recorded
//
// decideWalPush() is pure; guardedPush() reads, decides, pushes, records.

#include <cstdint>
#include <optional>
#include <string>

#include "backup/repository.h"
#include "backup/wal_archive.h"
#include "common/dcs/site_state.h"

namespace pgtandem::backup {

struct ArchiveOwner {
  std::string site;
  std::int64_t epoch = 0;

  bool operator==(const ArchiveOwner&) const = default;
};

// What the DC's etcd said: no key, a key, or it could not be read.
struct SiteReading {
  bool readable = true;
  std::string problem;                 // when not readable
  std::optional<dcs::SiteState> state;  // nullopt: no site key
};

struct PushDecision {
  bool push = false;
  bool record_owner = false;
  std::string rule;
  std::string reason;
};

PushDecision decideWalPush(const std::optional<ArchiveOwner>& owner, const SiteReading& site,
                           const std::string& site_name, const std::string& file_name);

// Reads the DC's site key (the real one: etcd's JSON gateway, site_source.cc).
class SiteSource {
 public:
  virtual ~SiteSource() = default;
  virtual SiteReading read() = 0;
};

Result<std::optional<ArchiveOwner>> readArchiveOwner(Repository& repo, const std::string& stanza);
Status writeArchiveOwner(Repository& repo, const std::string& stanza, const ArchiveOwner& owner);

// archive-push with the guard: kPermissionDenied (naming the rule) when the
// guard refuses; nothing is written then.
Result<PushResult> guardedPush(Repository& repo, const std::string& stanza, const std::string& wal_path,
                               SiteSource& site, const std::string& site_name);

}  // namespace pgtandem::backup
