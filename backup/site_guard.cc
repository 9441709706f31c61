#include "backup/site_guard.h"

#include <boost/json.hpp>
#include <filesystem>

#include "backup/info_file.h"
#include "common/util/lsn.h"

namespace pgtandem::backup {

namespace json = boost::json;

namespace {

std::uint32_t timelineOf(const std::string& file_name) {
  const std::string hex = file_name.substr(0, 8);
  return hex.find_first_not_of("0123456789ABCDEF") == std::string::npos ? static_cast<std::uint32_t>(std::stoul(hex, nullptr, 16)) : 0;
}

// Whether `file_name` is WAL written no later than the demotion's REDO file.
bool beforeDemotion(const std::string& file_name, const dcs::DemotionToken& token) {
  if (token.redo_wal_file.size() != 24 || token.timeline <= 0) return false;
  const std::uint32_t timeline = timelineOf(file_name);
  const auto limit = static_cast<std::uint32_t>(token.timeline);
  if (file_name.find(".history") != std::string::npos) return timeline <= limit;
  if (timeline < limit) return true;
  if (timeline > limit) return false;
  // Same timeline: segment names compare in order after the timeline part.
  return file_name.compare(8, 16, token.redo_wal_file, 8, 16) <= 0;
}

PushDecision refuse(std::string rule, std::string reason) { return {false, false, std::move(rule), std::move(reason)}; }
PushDecision allow(std::string rule, std::string reason, bool record = false) {
  return {true, record, std::move(rule), std::move(reason)};
}

}  // namespace

PushDecision decideWalPush(const std::optional<ArchiveOwner>& owner, const SiteReading& site,
                           const std::string& site_name, const std::string& file_name) {
  if (!site.readable) {
    return refuse("guard.dcs_unreadable", "the site key of DC " + site_name + " cannot be read (" + site.problem +
                                              "): not pushing without knowing whether this DC is fenced");
  }
  if (!site.state) return allow("guard.no_coordinator", "DC " + site_name + " has no site key: a plain cluster");
  const dcs::SiteState& s = *site.state;
  const std::string at = "DC " + site_name + " (" + dcs::siteRoleName(s.role) + ", epoch " + std::to_string(s.epoch) + ")";
  switch (s.role) {
    case dcs::SiteRole::kFenced:
      if (s.token && beforeDemotion(file_name, *s.token)) {
        return allow("guard.fenced_history", at + ": " + file_name + " was written before its demotion at " +
                                                 s.token->redo_wal_file);
      }
      return refuse("guard.fenced", at + " is fenced: its WAL must not enter the archive" +
                                        (s.token ? " past its demotion at " + s.token->redo_wal_file : std::string()));
    case dcs::SiteRole::kStandby:
      return allow("guard.standby", at + " archives the WAL it received");
    case dcs::SiteRole::kPrimary:
      break;
  }
  if (owner && owner->epoch > s.epoch) {
    return refuse("guard.superseded", at + " is superseded: DC " + owner->site + " pushed to this stanza as primary at epoch " +
                                          std::to_string(owner->epoch));
  }
  if (owner && owner->epoch == s.epoch && owner->site != site_name) {
    return refuse("guard.epoch_taken", at + ": DC " + owner->site + " pushed as primary at the same epoch");
  }
  const bool record = !owner || owner->epoch != s.epoch || owner->site != site_name;
  return allow("guard.primary", at + " is the archive's primary", record);
}

Result<std::optional<ArchiveOwner>> readArchiveOwner(Repository& repo, const std::string& stanza) {
  auto o = readInfoFile(repo, stanza + "/archive.owner");
  if (!o.ok() && o.error().code == ErrorCode::kNotFound) return std::optional<ArchiveOwner>();
  if (!o.ok()) return o.error();
  const json::value* site = o->if_contains("site");
  const json::value* epoch = o->if_contains("epoch");
  if (!site || !site->is_string() || !epoch || !epoch->is_int64()) {
    return makeError(ErrorCode::kParse, stanza + "/archive.owner: site or epoch missing or of the wrong type");
  }
  return std::optional<ArchiveOwner>(ArchiveOwner{std::string(site->as_string()), epoch->as_int64()});
}

Status writeArchiveOwner(Repository& repo, const std::string& stanza, const ArchiveOwner& owner) {
  json::object o;
  o["site"] = owner.site;
  o["epoch"] = owner.epoch;
  return writeInfoFile(repo, stanza + "/archive.owner", sealJson(std::move(o)));
}

Result<PushResult> guardedPush(Repository& repo, const std::string& stanza, const std::string& wal_path,
                               SiteSource& site, const std::string& site_name) {
  const std::string file_name = std::filesystem::path(wal_path).filename().string();
  auto owner = readArchiveOwner(repo, stanza);
  if (!owner.ok()) return owner.error();  // damaged: fail closed
  const SiteReading reading = site.read();
  const PushDecision decision = decideWalPush(*owner, reading, site_name, file_name);
  if (!decision.push) {
    return makeError(ErrorCode::kPermissionDenied, "refused by " + decision.rule + ": " + decision.reason);
  }
  auto pushed = pushWalFile(repo, stanza, wal_path);
  if (!pushed.ok()) return pushed.error();
  if (decision.record_owner) {
    PGT_TRY(writeArchiveOwner(repo, stanza, {site_name, reading.state->epoch}));
  }
  return pushed;
}

}  // namespace pgtandem::backup
