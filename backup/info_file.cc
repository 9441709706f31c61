#include "backup/info_file.h"

#include <boost/json.hpp>

#include "backup/codec.h"

namespace pgtandem::backup {

namespace json = boost::json;

std::string sealJson(json::object object) {
  object.erase("checksum");
  object["checksum"] = sha256Hex(json::serialize(object));
  return json::serialize(object) + "\n";
}

Result<json::object> unsealJson(const std::string& text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return makeError(ErrorCode::kParse, "not a JSON object");
  json::object o = std::move(v.as_object());
  const json::value* checksum = o.if_contains("checksum");
  if (!checksum || !checksum->is_string()) return makeError(ErrorCode::kParse, "no checksum");
  const std::string expected(checksum->as_string());
  o.erase("checksum");
  if (sha256Hex(json::serialize(o)) != expected) return makeError(ErrorCode::kParse, "checksum mismatch");
  return o;
}

Status writeInfoFile(Repository& repo, const std::string& path, const std::string& sealed_text) {
  PGT_TRY(repo.write(path, sealed_text));
  return repo.write(path + ".copy", sealed_text);
}

Result<json::object> readInfoFile(Repository& repo, const std::string& path) {
  std::string problems;
  bool any = false;
  for (const std::string& name : {path, path + ".copy"}) {
    auto text = repo.read(name);
    if (!text.ok()) {
      if (text.error().code != ErrorCode::kNotFound) problems += " " + name + ": " + text.error().message + ";";
      continue;
    }
    any = true;
    auto object = unsealJson(*text);
    if (object.ok()) return object;
    problems += " " + name + ": " + object.error().message + ";";
  }
  if (!any && problems.empty()) return makeError(ErrorCode::kNotFound, path + " does not exist in " + repo.describe());
  return makeError(ErrorCode::kParse, path + " in " + repo.describe() + " is unreadable:" + problems);
}

}  // namespace pgtandem::backup
