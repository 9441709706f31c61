#include "backup/stanza.h"

#include <boost/json.hpp>

#include "backup/info_file.h"

namespace pgtandem::backup {

namespace json = boost::json;

Status checkStanzaName(const std::string& name) {
  if (name.empty() || name.size() > 64 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != std::string::npos) {
    return makeError(ErrorCode::kInvalidArgument,
                     "stanza '" + name + "': use letters, digits, '-' and '_' (at most 64 characters)");
  }
  return okStatus();
}

std::string serializeStanza(const StanzaInfo& info) {
  json::object o;
  o["system_identifier"] = info.system_identifier;
  o["pg_version"] = info.pg_version;
  o["created"] = info.created;
  return sealJson(std::move(o));
}

namespace {

Result<StanzaInfo> stanzaFrom(const json::object& o) {
  const json::value* id = o.if_contains("system_identifier");
  const json::value* version = o.if_contains("pg_version");
  const json::value* created = o.if_contains("created");
  if (!id || !id->is_string() || !version || !version->is_int64() || !created || !created->is_string()) {
    return makeError(ErrorCode::kParse, "system_identifier, pg_version or created missing or of the wrong type");
  }
  return StanzaInfo{std::string(id->as_string()), static_cast<int>(version->as_int64()), std::string(created->as_string())};
}

}  // namespace

Result<StanzaInfo> parseStanza(const std::string& text) {
  auto o = unsealJson(text);
  if (!o.ok()) return o.error();
  return stanzaFrom(*o);
}

Result<StanzaInfo> readStanza(Repository& repo, const std::string& stanza) {
  PGT_TRY(checkStanzaName(stanza));
  auto o = readInfoFile(repo, stanza + "/stanza.info");
  if (!o.ok() && o.error().code == ErrorCode::kNotFound) {
    return makeError(ErrorCode::kNotFound, "stanza '" + stanza + "' does not exist in " + repo.describe() +
                                               " (create it with dc-backup stanza-create)");
  }
  if (!o.ok()) return makeError(ErrorCode::kParse, "stanza '" + stanza + "' is unreadable: " + o.error().message);
  auto info = stanzaFrom(*o);
  if (!info.ok()) return makeError(ErrorCode::kParse, "stanza '" + stanza + "' in " + repo.describe() + ": " + info.error().message);
  return info;
}

Status createStanza(Repository& repo, const std::string& stanza, const StanzaInfo& info) {
  PGT_TRY(checkStanzaName(stanza));
  auto existing = readStanza(repo, stanza);
  if (existing.ok()) {
    if (existing->system_identifier == info.system_identifier) return okStatus();
    return makeError(ErrorCode::kConflict, "stanza '" + stanza + "' belongs to system " + existing->system_identifier +
                                               ", not to this cluster (system " + info.system_identifier + ")");
  }
  if (existing.error().code != ErrorCode::kNotFound) return existing.error();
  return writeInfoFile(repo, stanza + "/stanza.info", serializeStanza(info));
}

}  // namespace pgtandem::backup
