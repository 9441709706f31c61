#include "common/dcs/cluster.h"

#include <boost/json.hpp>

#include <algorithm>

#include "common/util/log.h"

namespace pgtandem::dcs {

namespace json = boost::json;

namespace {

Error parseError(std::string message) { return makeError(ErrorCode::kParse, std::move(message)); }

Result<json::value> parseJson(std::string_view text) {
  boost::system::error_code ec;
  json::value value = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return parseError("not valid JSON: " + ec.message());
  return value;
}

Result<json::object> parseObject(std::string_view text) {
  auto value = parseJson(text);
  if (!value.ok()) return value.error();
  if (!value->is_object()) return parseError("expected a JSON object");
  return value->as_object();
}

// Typed field readers: an absent or null field is "not set"; a field of the
// wrong type is an error that names it.
Result<std::optional<std::string>> optString(const json::object& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::optional<std::string>();
  if (!it->value().is_string()) return parseError(std::string("field '") + key + "' must be a string");
  return std::optional<std::string>(std::string(it->value().as_string()));
}

Result<std::optional<std::int64_t>> optInt(const json::object& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::optional<std::int64_t>();
  const auto& v = it->value();
  if (v.is_int64()) return std::optional<std::int64_t>(v.as_int64());
  if (v.is_uint64() && v.as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return std::optional<std::int64_t>(static_cast<std::int64_t>(v.as_uint64()));
  }
  return parseError(std::string("field '") + key + "' must be an integer");
}

// Patroni accepts booleans and their string spellings in tags.
Result<bool> flexibleBool(const json::value& v, const std::string& key) {
  if (v.is_bool()) return v.as_bool();
  if (v.is_null()) return false;
  if (v.is_string()) {
    std::string s(v.as_string());
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    if (s == "true" || s == "on" || s == "yes" || s == "1") return true;
    if (s == "false" || s == "off" || s == "no" || s == "0") return false;
  }
  if (v.is_int64()) return v.as_int64() != 0;
  return parseError("tag '" + key + "' must be a boolean");
}

Result<int> flexibleInt(const json::value& v, const std::string& key) {
  if (v.is_int64() && v.as_int64() >= INT32_MIN && v.as_int64() <= INT32_MAX) return static_cast<int>(v.as_int64());
  if (v.is_string()) {
    try {
      std::size_t used = 0;
      const int n = std::stoi(std::string(v.as_string()), &used);
      if (used == v.as_string().size()) return n;
    } catch (...) {
    }
  }
  return parseError("tag '" + key + "' must be an integer");
}

Result<MemberTags> parseTags(const json::object& o) {
  MemberTags tags;
  for (const auto& [key_sv, value] : o) {
    const std::string key(key_sv);
    if (key == "nofailover" || key == "noloadbalance" || key == "clonefrom" || key == "nosync" || key == "nostream") {
      auto b = flexibleBool(value, key);
      if (!b.ok()) return b.error();
      if (key == "nofailover") tags.nofailover = *b;
      else if (key == "noloadbalance") tags.noloadbalance = *b;
      else if (key == "clonefrom") tags.clonefrom = *b;
      else if (key == "nosync") tags.nosync = *b;
      else tags.nostream = *b;
    } else if (key == "failover_priority" || key == "sync_priority") {
      auto n = flexibleInt(value, key);
      if (!n.ok()) return n.error();
      (key == "failover_priority" ? tags.failover_priority : tags.sync_priority) = *n;
    } else if (key == "replicatefrom") {
      if (!value.is_string()) return parseError("tag 'replicatefrom' must be a member name");
      tags.replicatefrom = std::string(value.as_string());
    } else {
      tags.other[key] = json::serialize(value);
    }
  }
  return tags;
}

json::object tagsToJson(const MemberTags& tags) {
  json::object o;
  if (tags.nofailover) o["nofailover"] = true;
  if (tags.failover_priority) o["failover_priority"] = *tags.failover_priority;
  if (tags.noloadbalance) o["noloadbalance"] = true;
  if (tags.clonefrom) o["clonefrom"] = true;
  if (tags.nosync) o["nosync"] = true;
  if (tags.nostream) o["nostream"] = true;
  if (tags.sync_priority) o["sync_priority"] = *tags.sync_priority;
  if (tags.replicatefrom) o["replicatefrom"] = *tags.replicatefrom;
  for (const auto& [key, text] : tags.other) {
    boost::system::error_code ec;
    auto value = json::parse(text, ec);
    if (!ec) o[key] = std::move(value);
  }
  return o;
}

}  // namespace

ClusterPaths::ClusterPaths(std::string_view namespace_, std::string_view scope) {
  std::string ns(namespace_.empty() ? "/service" : namespace_);
  if (ns.front() != '/') ns.insert(ns.begin(), '/');
  while (ns.size() > 1 && ns.back() == '/') ns.pop_back();
  base_ = ns + "/" + std::string(scope) + "/";
}

const MemberInfo* ClusterSnapshot::member(std::string_view name) const {
  auto it = std::find_if(members.begin(), members.end(), [&](const MemberInfo& m) { return m.name == name; });
  return it == members.end() ? nullptr : &*it;
}

const MemberInfo* ClusterSnapshot::leaderMember() const { return leader ? member(leader->name) : nullptr; }

const MemberInfo* ClusterSnapshot::mostCaughtUpReplica() const {
  auto position = [](const MemberInfo& m) { return m.replay_lsn.value_or(m.xlog_location.value_or(0)); };
  const MemberInfo* best = nullptr;
  for (const auto& m : members) {
    if (m.state != "running" || ledBy(m.name) || m.role == "primary" || m.role == "master") continue;
    if (!best || position(m) > position(*best)) best = &m;
  }
  return best;
}

bool MalformedValueLog::report(const std::string& key, Revision mod_revision, const std::string& reason) {
  {
    std::lock_guard lock(mutex_);
    if (!seen_.emplace(key, mod_revision).second) return false;
  }
  spdlog::warn("ignoring malformed DCS value at {} (revision {}): {}", key, mod_revision, reason);
  return true;
}

std::size_t MalformedValueLog::reportedCount() const {
  std::lock_guard lock(mutex_);
  return seen_.size();
}

Result<MemberInfo> parseMember(std::string_view name, std::string_view text) {
  auto object = parseObject(text);
  if (!object.ok()) return object.error();
  const auto& o = *object;
  MemberInfo m;
  m.name = std::string(name);
  std::optional<std::string> s;
  PGT_ASSIGN(s, optString(o, "conn_url"));
  m.conn_url = s.value_or("");
  PGT_ASSIGN(s, optString(o, "api_url"));
  m.api_url = s.value_or("");
  PGT_ASSIGN(s, optString(o, "state"));
  m.state = s.value_or("");
  PGT_ASSIGN(s, optString(o, "role"));
  m.role = s.value_or("");
  // Patroni < 4 wrote "master"; read it as today's "primary".
  if (m.role == "master") m.role = "primary";
  PGT_ASSIGN(s, optString(o, "version"));
  m.version = s.value_or("");
  PGT_ASSIGN(s, optString(o, "proxy_url"));
  m.proxy_url = s.value_or("");
  PGT_ASSIGN(s, optString(o, "replication_state"));
  m.replication_state = s.value_or("");
  PGT_ASSIGN(m.xlog_location, optInt(o, "xlog_location"));
  PGT_ASSIGN(m.receive_lsn, optInt(o, "receive_lsn"));
  PGT_ASSIGN(m.replay_lsn, optInt(o, "replay_lsn"));
  std::optional<std::int64_t> timeline;
  PGT_ASSIGN(timeline, optInt(o, "timeline"));
  if (timeline) m.timeline = static_cast<int>(*timeline);
  if (auto it = o.find("tags"); it != o.end() && !it->value().is_null()) {
    if (!it->value().is_object()) return parseError("field 'tags' must be an object");
    PGT_ASSIGN(m.tags, parseTags(it->value().as_object()));
  }
  std::optional<std::int64_t> server_version;
  PGT_ASSIGN(server_version, optInt(o, "server_version"));
  if (server_version && (*server_version <= 0 || *server_version > 10'000'000)) {
    return parseError("field 'server_version' must be a version number such as 150020");
  }
  if (server_version) m.server_version = static_cast<int>(*server_version);
  if (auto it = o.find("pending_restart"); it != o.end()) {
    auto b = flexibleBool(it->value(), "pending_restart");
    if (!b.ok()) return parseError("field 'pending_restart' must be a boolean");
    m.pending_restart = *b;
  }
  if (auto it = o.find("pause"); it != o.end()) {
    auto b = flexibleBool(it->value(), "pause");
    if (!b.ok()) return parseError("field 'pause' must be a boolean");
    m.pause = *b;
  }
  if (auto it = o.find("scheduled_restart"); it != o.end() && it->value().is_object()) {
    if (auto at = it->value().as_object().find("schedule"); at != it->value().as_object().end() && at->value().is_string()) {
      m.scheduled_restart = std::string(at->value().as_string());
    }
  }
  if (auto it = o.find("standby_lag"); it != o.end() && it->value().is_object()) {
    const json::object& lag = it->value().as_object();
    if (auto src = lag.find("source"); src != lag.end() && src->value().is_string()) {
      m.standby_source = std::string(src->value().as_string());
    }
    if (auto b = lag.find("bytes"); b != lag.end() && b->value().is_int64()) m.standby_lag_bytes = b->value().as_int64();
    if (auto sec = lag.find("seconds"); sec != lag.end() && sec->value().is_int64()) {
      m.standby_lag_seconds = sec->value().as_int64();
    }
    if (auto age = lag.find("contact_age"); age != lag.end() && age->value().is_int64()) {
      m.standby_contact_age = age->value().as_int64();
    }
  }
  if (auto it = o.find("repaired"); it != o.end() && it->value().is_object()) {
    const json::object& r = it->value().as_object();
    if (auto a = r.find("action"); a != r.end() && a->value().is_string()) m.repaired = std::string(a->value().as_string());
    if (auto a = r.find("at"); a != r.end() && a->value().is_string()) m.repaired_at = std::string(a->value().as_string());
  }
  if (auto it = o.find("demotion_token"); it != o.end() && it->value().is_object()) {
    auto token = parseDemotionToken(json::serialize(it->value()));
    if (!token.ok()) return makeError(ErrorCode::kParse, "demotion_token: " + token.error().message);
    m.demotion_token = std::move(*token);
  }
  return m;
}

std::string tagsJson(const MemberTags& tags) { return json::serialize(tagsToJson(tags)); }

std::string toJson(const MemberInfo& m) {
  json::object o;
  o["conn_url"] = m.conn_url;
  o["api_url"] = m.api_url;
  o["state"] = m.state;
  o["role"] = m.role;
  o["version"] = m.version;
  if (!m.proxy_url.empty()) o["proxy_url"] = m.proxy_url;
  if (m.xlog_location) o["xlog_location"] = *m.xlog_location;
  if (m.receive_lsn) o["receive_lsn"] = *m.receive_lsn;
  if (m.replay_lsn) o["replay_lsn"] = *m.replay_lsn;
  if (!m.replication_state.empty()) o["replication_state"] = m.replication_state;
  if (m.timeline) o["timeline"] = *m.timeline;
  auto tags = tagsToJson(m.tags);
  if (!tags.empty()) o["tags"] = std::move(tags);
  if (m.pending_restart) o["pending_restart"] = true;
  if (m.server_version) o["server_version"] = *m.server_version;
  if (m.pause) o["pause"] = true;
  if (!m.scheduled_restart.empty()) o["scheduled_restart"] = json::object{{"schedule", m.scheduled_restart}};
  if (!m.standby_source.empty()) {
    json::object lag{{"source", m.standby_source}, {"seconds", m.standby_lag_seconds}};
    lag["bytes"] = m.standby_lag_bytes ? json::value(*m.standby_lag_bytes) : json::value(nullptr);
    lag["contact_age"] = m.standby_contact_age ? json::value(*m.standby_contact_age) : json::value(nullptr);
    o["standby_lag"] = std::move(lag);
  }
  if (!m.repaired.empty()) o["repaired"] = json::object{{"action", m.repaired}, {"at", m.repaired_at}};
  if (m.demotion_token) o["demotion_token"] = json::parse(toJson(*m.demotion_token));
  return json::serialize(o);
}

Result<StatusInfo> parseStatus(std::string_view text) {
  auto object = parseObject(text);
  if (!object.ok()) return object.error();
  StatusInfo status;
  PGT_ASSIGN(status.optime, optInt(*object, "optime"));
  if (auto it = object->find("slots"); it != object->end() && !it->value().is_null()) {
    if (!it->value().is_object()) return parseError("field 'slots' must be an object");
    for (const auto& [name, lsn] : it->value().as_object()) {
      if (!lsn.is_int64()) return parseError("slot '" + std::string(name) + "' must have an integer position");
      status.slots[std::string(name)] = lsn.as_int64();
    }
  }
  if (auto it = object->find("retain_slots"); it != object->end() && !it->value().is_null()) {
    if (!it->value().is_array()) return parseError("field 'retain_slots' must be an array");
    for (const auto& v : it->value().as_array()) {
      if (!v.is_string()) return parseError("field 'retain_slots' must hold strings");
      status.retain_slots.emplace_back(v.as_string());
    }
  }
  return status;
}

std::string toJson(const StatusInfo& status) {
  json::object o;
  if (status.optime) o["optime"] = *status.optime;
  json::object slots;
  for (const auto& [name, lsn] : status.slots) slots[name] = lsn;
  o["slots"] = std::move(slots);
  if (!status.retain_slots.empty()) {
    json::array retain;
    for (const auto& name : status.retain_slots) retain.emplace_back(name);
    o["retain_slots"] = std::move(retain);
  }
  return json::serialize(o);
}

Result<SyncInfo> parseSync(std::string_view text) {
  auto object = parseObject(text);
  if (!object.ok()) return object.error();
  SyncInfo sync;
  std::optional<std::string> s;
  PGT_ASSIGN(s, optString(*object, "leader"));
  sync.leader = s.value_or("");
  PGT_ASSIGN(s, optString(*object, "sync_standby"));
  if (s) {
    std::size_t start = 0;
    while (start <= s->size()) {
      const auto comma = s->find(',', start);
      std::string name = s->substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!name.empty()) sync.sync_standby.push_back(name);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  std::optional<std::int64_t> quorum;
  PGT_ASSIGN(quorum, optInt(*object, "quorum"));
  if (quorum) sync.quorum = static_cast<int>(*quorum);
  return sync;
}

std::string toJson(const SyncInfo& sync) {
  json::object o;
  o["leader"] = sync.leader;
  if (sync.sync_standby.empty()) {
    o["sync_standby"] = nullptr;
  } else {
    std::string joined;
    for (const auto& name : sync.sync_standby) joined += (joined.empty() ? "" : ",") + name;
    o["sync_standby"] = joined;
  }
  if (sync.quorum) o["quorum"] = *sync.quorum;
  return json::serialize(o);
}

Result<FailoverInfo> parseFailover(std::string_view text) {
  auto object = parseObject(text);
  if (!object.ok()) return object.error();
  FailoverInfo failover;
  std::optional<std::string> s;
  PGT_ASSIGN(s, optString(*object, "leader"));
  failover.leader = s.value_or("");
  PGT_ASSIGN(s, optString(*object, "member"));
  failover.candidate = s.value_or("");
  PGT_ASSIGN(s, optString(*object, "scheduled_at"));
  failover.scheduled_at = s.value_or("");
  if (failover.leader.empty() && failover.candidate.empty()) {
    return parseError("a failover needs a leader or a member");
  }
  return failover;
}

std::string toJson(const FailoverInfo& failover) {
  json::object o;
  if (!failover.leader.empty()) o["leader"] = failover.leader;
  if (!failover.candidate.empty()) o["member"] = failover.candidate;
  if (!failover.scheduled_at.empty()) o["scheduled_at"] = failover.scheduled_at;
  return json::serialize(o);
}

Result<std::vector<HistoryEntry>> parseHistory(std::string_view text) {
  auto value = parseJson(text);
  if (!value.ok()) return value.error();
  if (!value->is_array()) return parseError("history must be an array");
  std::vector<HistoryEntry> history;
  for (const auto& item : value->as_array()) {
    if (!item.is_array() || item.as_array().size() < 3) return parseError("history entries must be [tl, lsn, reason, ...]");
    const auto& a = item.as_array();
    if (!a[0].is_int64() || !a[1].is_int64()) return parseError("history timeline and lsn must be integers");
    HistoryEntry entry;
    entry.timeline = static_cast<int>(a[0].as_int64());
    entry.lsn = a[1].as_int64();
    if (a[2].is_string()) entry.reason = std::string(a[2].as_string());
    if (a.size() > 3 && a[3].is_string()) entry.timestamp = std::string(a[3].as_string());
    if (a.size() > 4 && a[4].is_string()) entry.new_leader = std::string(a[4].as_string());
    history.push_back(std::move(entry));
  }
  return history;
}

std::string toJson(const std::vector<HistoryEntry>& history) {
  json::array out;
  for (const auto& e : history) {
    json::array entry{e.timeline, e.lsn, json::string(e.reason)};
    if (!e.timestamp.empty() || !e.new_leader.empty()) entry.emplace_back(e.timestamp);
    if (!e.new_leader.empty()) entry.emplace_back(e.new_leader);
    out.emplace_back(std::move(entry));
  }
  return json::serialize(out);
}

Result<std::map<std::string, std::string>> parseFailsafe(std::string_view text) {
  auto object = parseObject(text);
  if (!object.ok()) return object.error();
  std::map<std::string, std::string> out;
  for (const auto& [name, url] : *object) {
    if (!url.is_string()) return parseError("failsafe entries must map names to URLs");
    out[std::string(name)] = std::string(url.as_string());
  }
  return out;
}

Result<std::map<std::string, MemberMark>> parseMarks(std::string_view text) {
  auto object = parseObject(text);
  if (!object.ok()) return object.error();
  std::map<std::string, MemberMark> out;
  for (const auto& [name, value] : *object) {
    if (!value.is_object()) return parseError("marks must map member names to objects");
    MemberMark mark;
    for (const auto& [key, flag] : value.as_object()) {
      if (key == "reason") {
        if (!flag.is_string()) return parseError("mark '" + std::string(name) + "': 'reason' must be a string");
        mark.reason = std::string(flag.as_string());
        continue;
      }
      bool* slot = key == "nofailover" ? &mark.nofailover : key == "noloadbalance" ? &mark.noloadbalance
                                                         : key == "nosync"       ? &mark.nosync
                                                                                 : nullptr;
      if (!slot || !flag.is_bool()) {
        return parseError("mark '" + std::string(name) + "': '" + std::string(key) +
                          "' is not nofailover, noloadbalance or nosync with true or false");
      }
      *slot = flag.as_bool();
    }
    out[std::string(name)] = std::move(mark);
  }
  return out;
}

std::string marksJson(const std::map<std::string, MemberMark>& marks) {
  json::object out;
  for (const auto& [name, m] : marks) {
    out[name] = json::object{{"nofailover", m.nofailover}, {"noloadbalance", m.noloadbalance}, {"nosync", m.nosync},
                             {"reason", m.reason}};
  }
  return json::serialize(out);
}

MemberTags withMark(MemberTags tags, const MemberMark* mark) {
  if (!mark) return tags;
  tags.nofailover = tags.nofailover || mark->nofailover;
  tags.noloadbalance = tags.noloadbalance || mark->noloadbalance;
  tags.nosync = tags.nosync || mark->nosync;
  return tags;
}

std::string failsafeJson(const std::map<std::string, std::string>& members) {
  json::object out;
  for (const auto& [name, url] : members) out[name] = url;
  return json::serialize(out);
}

namespace {
// Stores a parsed value with its mod revision, or reports why it did not parse.
template <typename T, typename Skip>
void setParsed(std::optional<T>& slot, Result<T> parsed, const KeyValue& kv, Skip&& skip) {
  if (!parsed.ok()) return skip(parsed.error());
  parsed->mod_revision = kv.mod_revision;
  slot = std::move(*parsed);
}
}  // namespace

Result<MemberTags> parseTags(const std::map<std::string, std::string>& json_by_name) {
  json::object o;
  for (const auto& [name, text] : json_by_name) {
    boost::system::error_code ec;
    auto value = json::parse(text, ec);
    if (ec) return parseError("tag '" + name + "' is not a JSON value");
    o[name] = std::move(value);
  }
  return parseTags(o);
}

ClusterSnapshot parseCluster(const RangeResult& range, const ClusterPaths& paths, MalformedValueLog& log) {
  ClusterSnapshot snapshot;
  snapshot.revision = range.revision;
  const std::string& base = paths.base();
  const std::string members_prefix = paths.members();
  for (const auto& kv : range.kvs) {
    if (kv.key.rfind(base, 0) != 0) continue;
    const std::string name = kv.key.substr(base.size());
    auto skip = [&](const Error& error) { log.report(kv.key, kv.mod_revision, error.message); };
    if (name == "initialize") {
      snapshot.initialize = kv.value;
      snapshot.initialize_mod_revision = kv.mod_revision;
    } else if (name == "config") {
      if (auto parsed = parseObject(kv.value); !parsed.ok()) {
        skip(parsed.error());
      } else {
        snapshot.config_json = kv.value;
        snapshot.config_mod_revision = kv.mod_revision;
      }
    } else if (name == "leader") {
      if (kv.value.empty()) skip(parseError("empty leader name"));
      else snapshot.leader = LeaderInfo{kv.value, kv.mod_revision, kv.lease};
    } else if (kv.key.rfind(members_prefix, 0) == 0) {
      const std::string member_name = kv.key.substr(members_prefix.size());
      if (member_name.empty() || member_name.find('/') != std::string::npos) {
        skip(parseError("not a member key"));
        continue;
      }
      auto member = parseMember(member_name, kv.value);
      if (!member.ok()) {
        skip(member.error());
        continue;
      }
      member->mod_revision = kv.mod_revision;
      member->lease = kv.lease;
      snapshot.members.push_back(std::move(*member));
    } else if (name == "status") {
      setParsed(snapshot.status, parseStatus(kv.value), kv, skip);
    } else if (name == "sync") {
      setParsed(snapshot.sync, parseSync(kv.value), kv, skip);
    } else if (name == "failover") {
      setParsed(snapshot.failover, parseFailover(kv.value), kv, skip);
    } else if (name == "history") {
      auto history = parseHistory(kv.value);
      if (!history.ok()) skip(history.error());
      else {
        snapshot.history = std::move(*history);
        snapshot.history_mod_revision = kv.mod_revision;
      }
    } else if (name == "failsafe") {
      auto failsafe = parseFailsafe(kv.value);
      if (!failsafe.ok()) skip(failsafe.error());
      else snapshot.failsafe = std::move(*failsafe);
    } else if (name == "site") {
      // Remembered, not only skipped: a DC whose site key is garbage is
      // treated as fenced (fail closed), not as one without a coordinator.
      auto site = parseSiteState(kv.value);
      if (!site.ok()) snapshot.site_error = site.error().message;
      setParsed(snapshot.site, std::move(site), kv, skip);
    } else if (name == "marks") {
      // Garbage marks are logged and read as none: a mark only ever takes
      // a member out of duties, so none is the cluster's normal state.
      auto marks = parseMarks(kv.value);
      if (!marks.ok()) skip(marks.error());
      else snapshot.marks = std::move(*marks);
    } else if (name == "backups") {
      // Likewise: no scheduled run is started over a journal nobody can read.
      auto journal = parseBackupJournal(kv.value);
      if (!journal.ok()) snapshot.backups_error = journal.error().message;
      setParsed(snapshot.backups, std::move(journal), kv, skip);
    }
    // Other keys (legacy optime/leader) are not part of Patroni's cluster
    // view and are ignored without a warning.
  }
  std::sort(snapshot.members.begin(), snapshot.members.end(),
            [](const MemberInfo& a, const MemberInfo& b) { return a.name < b.name; });
  return snapshot;
}

Result<ClusterSnapshot> loadCluster(Dcs& dcs, const ClusterPaths& paths, MalformedValueLog& log) {
  auto range = dcs.getPrefix(paths.base());
  if (!range.ok()) return range.error();
  return parseCluster(*range, paths, log);
}

}  // namespace pgtandem::dcs
