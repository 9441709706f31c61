#include "backup/stanza.h"

#include <boost/json.hpp>

#include "backup/codec.h"

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
  o["checksum"] = sha256Hex(json::serialize(o));
  return json::serialize(o) + "\n";
}

Result<StanzaInfo> parseStanza(const std::string& text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return makeError(ErrorCode::kParse, "not a JSON object");
  json::object o = v.as_object();
  const json::value* checksum = o.if_contains("checksum");
  if (!checksum || !checksum->is_string()) return makeError(ErrorCode::kParse, "no checksum");
  const std::string expected(checksum->as_string());
  o.erase("checksum");
  if (sha256Hex(json::serialize(o)) != expected) return makeError(ErrorCode::kParse, "checksum mismatch");
  const json::value* id = o.if_contains("system_identifier");
  const json::value* version = o.if_contains("pg_version");
  const json::value* created = o.if_contains("created");
  if (!id || !id->is_string() || !version || !version->is_int64() || !created || !created->is_string()) {
    return makeError(ErrorCode::kParse, "system_identifier, pg_version or created missing or of the wrong type");
  }
  return StanzaInfo{std::string(id->as_string()), static_cast<int>(version->as_int64()), std::string(created->as_string())};
}

Result<StanzaInfo> readStanza(Repository& repo, const std::string& stanza) {
  PGT_TRY(checkStanzaName(stanza));
  std::string problems;
  bool any = false;
  for (const std::string name : {"stanza.info", "stanza.info.copy"}) {
    auto text = repo.read(stanza + "/" + name);
    if (!text.ok()) {
      if (text.error().code != ErrorCode::kNotFound) problems += " " + name + ": " + text.error().message + ";";
      continue;
    }
    any = true;
    auto info = parseStanza(*text);
    if (info.ok()) return info;
    problems += " " + name + ": " + info.error().message + ";";
  }
  if (!any && problems.empty()) {
    return makeError(ErrorCode::kNotFound, "stanza '" + stanza + "' does not exist in " + repo.describe() +
                                               " (create it with dc-backup stanza-create)");
  }
  return makeError(ErrorCode::kParse, "stanza '" + stanza + "' in " + repo.describe() + " is unreadable:" + problems);
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
  const std::string text = serializeStanza(info);
  PGT_TRY(repo.write(stanza + "/stanza.info", text));
  return repo.write(stanza + "/stanza.info.copy", text);
}

}  // namespace pgtandem::backup
