#include "coordinator/site_state.h"

#include <boost/json.hpp>

namespace pgtandem::coordinator {

namespace json = boost::json;

namespace {

Result<std::string> text(const json::object& o, const char* key, bool required = false) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) {
    if (required) return makeError(ErrorCode::kParse, std::string("'") + key + "' is missing");
    return std::string();
  }
  if (!it->value().is_string()) return makeError(ErrorCode::kParse, std::string("'") + key + "' must be a string");
  return std::string(it->value().as_string());
}

Result<std::int64_t> integer(const json::object& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::int64_t{0};
  if (it->value().is_int64()) return it->value().as_int64();
  if (it->value().is_uint64() && it->value().as_uint64() <= INT64_MAX) return static_cast<std::int64_t>(it->value().as_uint64());
  return makeError(ErrorCode::kParse, std::string("'") + key + "' must be an integer");
}

Result<const json::object*> object(const json::object& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return static_cast<const json::object*>(nullptr);
  if (!it->value().is_object()) return makeError(ErrorCode::kParse, std::string("'") + key + "' must be an object");
  return &it->value().as_object();
}

}  // namespace

std::string siteKey(const dcs::ClusterPaths& paths) { return paths.base() + "site"; }

Result<SiteState> parseSiteState(std::string_view text_in) {
  json::error_code ec;
  json::value root = json::parse(text_in, ec);
  if (ec) return makeError(ErrorCode::kParse, "not JSON: " + ec.message());
  if (!root.is_object()) return makeError(ErrorCode::kParse, "not a JSON object");
  const json::object& o = root.as_object();
  SiteState s;
  PGT_ASSIGN(s.role, text(o, "role", true));
  if (s.role != "primary" && s.role != "standby") return makeError(ErrorCode::kParse, "'role' must be primary or standby");
  PGT_ASSIGN(s.epoch, integer(o, "epoch"));
  const json::object* token = nullptr;
  PGT_ASSIGN(token, object(o, "token"));
  if (token) {
    DemotionToken t;
    PGT_ASSIGN(t.system_identifier, text(*token, "system_identifier", true));
    std::int64_t timeline = 0;
    PGT_ASSIGN(timeline, integer(*token, "timeline"));
    t.timeline = static_cast<int>(timeline);
    PGT_ASSIGN(t.redo_lsn, integer(*token, "redo_lsn"));
    PGT_ASSIGN(t.redo_wal_file, text(*token, "redo_wal_file"));
    PGT_ASSIGN(t.from_site, text(*token, "from_site"));
    s.token = std::move(t);
  }
  const json::object* operation = nullptr;
  PGT_ASSIGN(operation, object(o, "operation"));
  if (operation) {
    SiteOperation op;
    PGT_ASSIGN(op.kind, text(*operation, "kind", true));
    PGT_ASSIGN(op.from_site, text(*operation, "from"));
    PGT_ASSIGN(op.to_site, text(*operation, "to"));
    PGT_ASSIGN(op.started_at, text(*operation, "started_at"));
    if (auto it = operation->find("steps"); it != operation->end() && !it->value().is_null()) {
      if (!it->value().is_array()) return makeError(ErrorCode::kParse, "'operation.steps' must be a list");
      for (const auto& v : it->value().as_array()) {
        if (!v.is_object()) return makeError(ErrorCode::kParse, "'operation.steps' must hold objects");
        OperationStep step;
        PGT_ASSIGN(step.name, text(v.as_object(), "name", true));
        PGT_ASSIGN(step.state, text(v.as_object(), "state"));
        PGT_ASSIGN(step.at, text(v.as_object(), "at"));
        PGT_ASSIGN(step.detail, text(v.as_object(), "detail"));
        op.steps.push_back(std::move(step));
      }
    }
    s.operation = std::move(op);
  }
  return s;
}

std::string toJson(const SiteState& s) {
  json::object o;
  o["role"] = s.role;
  o["epoch"] = s.epoch;
  if (s.token) {
    o["token"] = json::object{{"system_identifier", s.token->system_identifier},
                              {"timeline", s.token->timeline},
                              {"redo_lsn", s.token->redo_lsn},
                              {"redo_wal_file", s.token->redo_wal_file},
                              {"from_site", s.token->from_site}};
  }
  if (s.operation) {
    json::array steps;
    for (const auto& step : s.operation->steps) {
      steps.push_back(json::object{{"name", step.name}, {"state", step.state}, {"at", step.at}, {"detail", step.detail}});
    }
    o["operation"] = json::object{{"kind", s.operation->kind},
                                  {"from", s.operation->from_site},
                                  {"to", s.operation->to_site},
                                  {"started_at", s.operation->started_at},
                                  {"steps", std::move(steps)}};
  }
  return json::serialize(o);
}

}  // namespace pgtandem::coordinator
