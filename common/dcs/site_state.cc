#include "common/dcs/site_state.h"

#include <boost/json.hpp>

#include "common/dcs/cluster.h"

namespace pgtandem::dcs {

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

Result<bool> boolean(const json::object& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return false;
  if (!it->value().is_bool()) return makeError(ErrorCode::kParse, std::string("'") + key + "' must be true or false");
  return it->value().as_bool();
}

Result<const json::object*> object(const json::object& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return static_cast<const json::object*>(nullptr);
  if (!it->value().is_object()) return makeError(ErrorCode::kParse, std::string("'") + key + "' must be an object");
  return &it->value().as_object();
}

Result<DemotionToken> tokenFrom(const json::object& o) {
  DemotionToken t;
  PGT_ASSIGN(t.system_identifier, text(o, "system_identifier", true));
  std::int64_t timeline = 0;
  PGT_ASSIGN(timeline, integer(o, "timeline"));
  if (timeline <= 0 || timeline > INT32_MAX) return makeError(ErrorCode::kParse, "'timeline' must be a positive integer");
  t.timeline = static_cast<int>(timeline);
  PGT_ASSIGN(t.redo_lsn, integer(o, "redo_lsn"));
  PGT_ASSIGN(t.redo_wal_file, text(o, "redo_wal_file"));
  PGT_ASSIGN(t.from_site, text(o, "from_site"));
  PGT_ASSIGN(t.archived, boolean(o, "archived"));
  return t;
}

json::object tokenObject(const DemotionToken& t) {
  json::object o{{"system_identifier", t.system_identifier},
                 {"timeline", t.timeline},
                 {"redo_lsn", t.redo_lsn},
                 {"redo_wal_file", t.redo_wal_file},
                 {"archived", t.archived}};
  if (!t.from_site.empty()) o["from_site"] = t.from_site;
  return o;
}

Result<SiteOperation> operationFrom(const json::object& o) {
  SiteOperation op;
  PGT_ASSIGN(op.kind, text(o, "kind", true));
  PGT_ASSIGN(op.from_site, text(o, "from"));
  PGT_ASSIGN(op.to_site, text(o, "to"));
  PGT_ASSIGN(op.started_at, text(o, "started_at"));
  PGT_ASSIGN(op.finished_at, text(o, "finished_at"));
  PGT_ASSIGN(op.result, text(o, "result"));
  if (auto it = o.find("steps"); it != o.end() && !it->value().is_null()) {
    if (!it->value().is_array()) return makeError(ErrorCode::kParse, "'steps' must be a list");
    for (const auto& v : it->value().as_array()) {
      if (!v.is_object()) return makeError(ErrorCode::kParse, "'steps' must hold objects");
      OperationStep step;
      PGT_ASSIGN(step.name, text(v.as_object(), "name", true));
      PGT_ASSIGN(step.state, text(v.as_object(), "state"));
      PGT_ASSIGN(step.at, text(v.as_object(), "at"));
      PGT_ASSIGN(step.detail, text(v.as_object(), "detail"));
      op.steps.push_back(std::move(step));
    }
  }
  const json::object* backup = nullptr;
  PGT_ASSIGN(backup, object(o, "backup"));
  if (backup) {
    BackupRecord b;
    PGT_ASSIGN(b.type, text(*backup, "type", true));
    PGT_ASSIGN(b.site, text(*backup, "site"));
    PGT_ASSIGN(b.member, text(*backup, "member"));
    PGT_ASSIGN(b.label, text(*backup, "label"));
    PGT_ASSIGN(b.bytes, integer(*backup, "bytes"));
    PGT_ASSIGN(b.copied_bytes, integer(*backup, "copied_bytes"));
    PGT_ASSIGN(b.duration_ms, integer(*backup, "duration_ms"));
    op.backup = std::move(b);
  }
  return op;
}

json::object operationObject(const SiteOperation& op) {
  json::array steps;
  for (const auto& step : op.steps) {
    steps.push_back(json::object{{"name", step.name}, {"state", step.state}, {"at", step.at}, {"detail", step.detail}});
  }
  json::object o{{"kind", op.kind}, {"from", op.from_site}, {"to", op.to_site}, {"started_at", op.started_at},
                 {"steps", std::move(steps)}};
  if (!op.finished_at.empty()) o["finished_at"] = op.finished_at;
  if (!op.result.empty()) o["result"] = op.result;
  if (op.backup) {
    const BackupRecord& b = *op.backup;
    o["backup"] = json::object{{"type", b.type},   {"site", b.site},
                               {"member", b.member}, {"label", b.label},
                               {"bytes", b.bytes}, {"copied_bytes", b.copied_bytes},
                               {"duration_ms", b.duration_ms}};
  }
  return o;
}

Result<SiteOperation> prefixed(Result<SiteOperation> r, const std::string& where) {
  if (!r.ok()) return makeError(ErrorCode::kParse, where + ": " + r.error().message);
  return r;
}

Result<std::vector<SiteOperation>> historyFrom(const json::object& o) {
  std::vector<SiteOperation> history;
  if (auto it = o.find("history"); it != o.end() && !it->value().is_null()) {
    if (!it->value().is_array()) return makeError(ErrorCode::kParse, "'history' must be a list");
    for (const auto& v : it->value().as_array()) {
      if (!v.is_object()) return makeError(ErrorCode::kParse, "'history' must hold objects");
      SiteOperation op;
      PGT_ASSIGN(op, prefixed(operationFrom(v.as_object()), "history"));
      history.push_back(std::move(op));
    }
  }
  return history;
}

void putHistory(json::object& o, const std::vector<SiteOperation>& history) {
  if (history.empty()) return;
  json::array list;
  for (const auto& op : history) list.push_back(operationObject(op));
  o["history"] = std::move(list);
}

Result<json::object> parseObjectText(std::string_view text_in) {
  json::error_code ec;
  json::value root = json::parse(text_in, ec);
  if (ec) return makeError(ErrorCode::kParse, "not JSON: " + ec.message());
  if (!root.is_object()) return makeError(ErrorCode::kParse, "not a JSON object");
  return std::move(root.as_object());
}

}  // namespace

const OperationStep* SiteOperation::step(std::string_view name) const {
  for (const auto& s : steps) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

bool SiteOperation::done(std::string_view name) const {
  const OperationStep* s = step(name);
  return s && s->state == "done";
}

const char* siteRoleName(SiteRole role) {
  switch (role) {
    case SiteRole::kPrimary: return "primary";
    case SiteRole::kFenced: return "fenced";
    case SiteRole::kStandby: return "standby";
  }
  return "unknown";
}

std::optional<SiteRole> parseSiteRole(std::string_view name) {
  for (SiteRole role : {SiteRole::kPrimary, SiteRole::kFenced, SiteRole::kStandby}) {
    if (name == siteRoleName(role)) return role;
  }
  return std::nullopt;
}

std::string siteKey(const ClusterPaths& paths) { return paths.base() + "site"; }

Result<SiteState> parseSiteState(std::string_view text_in) {
  json::object o;
  PGT_ASSIGN(o, parseObjectText(text_in));
  SiteState s;
  std::string role;
  PGT_ASSIGN(role, text(o, "role", true));
  const std::optional<SiteRole> parsed_role = parseSiteRole(role);
  if (!parsed_role) return makeError(ErrorCode::kParse, "'role' must be primary, fenced or standby");
  s.role = *parsed_role;
  PGT_ASSIGN(s.epoch, integer(o, "epoch"));
  PGT_ASSIGN(s.granted_epoch, integer(o, "granted_epoch"));
  const json::object* token = nullptr;
  PGT_ASSIGN(token, object(o, "token"));
  if (token) {
    auto t = tokenFrom(*token);
    if (!t.ok()) return makeError(ErrorCode::kParse, "token: " + t.error().message);
    s.token = std::move(*t);
  }
  const json::object* standby = nullptr;
  PGT_ASSIGN(standby, object(o, "standby_cluster"));
  if (standby) s.standby_cluster_json = json::serialize(*standby);
  const json::object* operation = nullptr;
  PGT_ASSIGN(operation, object(o, "operation"));
  if (operation) PGT_ASSIGN(s.operation, prefixed(operationFrom(*operation), "operation"));
  const json::object* peer = nullptr;
  PGT_ASSIGN(peer, object(o, "peer"));
  if (peer) {
    PeerSite p;
    PGT_ASSIGN(p.site, text(*peer, "site"));
    PGT_ASSIGN(p.namespace_, text(*peer, "namespace"));
    PGT_ASSIGN(p.scope, text(*peer, "scope", true));
    if (auto it = peer->find("etcd"); it != peer->end()) {
      if (!it->value().is_array()) return makeError(ErrorCode::kParse, "'peer.etcd' must be a list of host:port");
      for (const auto& host : it->value().as_array()) {
        if (!host.is_string()) return makeError(ErrorCode::kParse, "'peer.etcd' must be a list of host:port");
        p.etcd_hosts.emplace_back(host.as_string());
      }
    }
    if (p.etcd_hosts.empty()) return makeError(ErrorCode::kParse, "'peer.etcd' names no host");
    s.peer = std::move(p);
  }
  PGT_ASSIGN(s.history, historyFrom(o));
  return s;
}

std::string toJson(const SiteState& s) {
  json::object o;
  o["role"] = siteRoleName(s.role);
  o["epoch"] = s.epoch;
  if (s.granted_epoch != 0) o["granted_epoch"] = s.granted_epoch;
  if (s.token) o["token"] = tokenObject(*s.token);
  if (!s.standby_cluster_json.empty()) {
    json::error_code ec;
    json::value standby = json::parse(s.standby_cluster_json, ec);
    if (!ec && standby.is_object()) o["standby_cluster"] = std::move(standby);
  }
  if (s.operation) o["operation"] = operationObject(*s.operation);
  if (s.peer) {
    json::array hosts;
    for (const auto& h : s.peer->etcd_hosts) hosts.push_back(json::value(h));
    o["peer"] = json::object{{"site", s.peer->site}, {"etcd", std::move(hosts)}, {"namespace", s.peer->namespace_},
                             {"scope", s.peer->scope}};
  }
  putHistory(o, s.history);
  return json::serialize(o);
}

Result<BackupJournal> parseBackupJournal(std::string_view text_in) {
  json::object o;
  PGT_ASSIGN(o, parseObjectText(text_in));
  BackupJournal j;
  const json::object* operation = nullptr;
  PGT_ASSIGN(operation, object(o, "operation"));
  if (operation) PGT_ASSIGN(j.operation, prefixed(operationFrom(*operation), "operation"));
  PGT_ASSIGN(j.history, historyFrom(o));
  return j;
}

std::string toJson(const BackupJournal& j) {
  json::object o;
  if (j.operation) o["operation"] = operationObject(*j.operation);
  putHistory(o, j.history);
  return json::serialize(o);
}

Result<DemotionToken> parseDemotionToken(std::string_view text_in) {
  json::object o;
  PGT_ASSIGN(o, parseObjectText(text_in));
  return tokenFrom(o);
}

std::string toJson(const DemotionToken& token) { return json::serialize(tokenObject(token)); }

}  // namespace pgtandem::dcs
