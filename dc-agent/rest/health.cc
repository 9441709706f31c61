#include "dc-agent/rest/health.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <cctype>
#include <charconv>
#include <limits>

namespace pgtandem::rest {

namespace {

constexpr int kOk = 200;
constexpr int kUnavailable = 503;

bool contains(std::string_view path, std::string_view part) { return path.find(part) != std::string_view::npos; }

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// A tag's value as Patroni compares it: strings as they are, anything else
// as its lower-case text (true, 1, ...).
std::string tagText(const std::string& json) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(json, ec);
  if (!ec && v.is_string()) return std::string(v.get_string());
  return lower(json);
}

// Every ?tag_<name>=<value> must match one of our tags.
bool tagsMatch(const QueryParams& query, const agent::AgentStatus& status) {
  constexpr std::string_view kPrefix = "tag_";
  for (const auto& [key, value] : query) {
    if (key.rfind(kPrefix, 0) != 0) continue;
    const auto tag = status.raw_tags.find(key.substr(kPrefix.size()));
    if (tag == status.raw_tags.end() || tagText(tag->second) != value) return false;
  }
  return true;
}

// How far behind the leader's position our replay is, in bytes.
std::optional<std::int64_t> replayLag(const agent::AgentStatus& status) {
  const std::int64_t leader = std::max(status.cluster_optime.value_or(0), status.receive_lsn.value_or(0));
  if (leader == 0) return std::nullopt;
  return leader - status.replay_lsn.value_or(0);
}

int replicaStatus(const QueryParams& query, const agent::AgentStatus& status) {
  if (status.role != "replica" || status.state != "running" || status.tags.noloadbalance) return kUnavailable;
  if (const std::string* lag = findParam(query, "lag")) {
    // Like Patroni, a lag that does not parse is no limit.
    const auto limit = parseByteSize(*lag);
    const auto behind = replayLag(status);
    if (limit && behind && *behind > *limit) return kUnavailable;
  }
  if (const std::string* wanted = findParam(query, "replication_state")) {
    if (status.replication_state != *wanted) return kUnavailable;
  }
  return kOk;
}

}  // namespace

const std::string* findParam(const QueryParams& query, std::string_view name) {
  for (const auto& [key, value] : query) {
    if (key == name) return &value;
  }
  return nullptr;
}

std::optional<std::int64_t> parseByteSize(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  std::int64_t number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || number < 0) return std::nullopt;
  std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  int shift = 0;
  if (unit.empty() || unit == "B") {
    shift = 0;
  } else if (unit == "kB") {
    shift = 10;
  } else if (unit == "MB") {
    shift = 20;
  } else if (unit == "GB") {
    shift = 30;
  } else if (unit == "TB") {
    shift = 40;
  } else {
    return std::nullopt;
  }
  if (number > (std::numeric_limits<std::int64_t>::max() >> shift)) return std::nullopt;
  return number << shift;
}

int healthStatus(std::string_view path, const QueryParams& query, const agent::AgentStatus& status, MonoTime now) {
  if (path == "/") path = "/primary";
  int leader = status.leads(now) ? kOk : kUnavailable;
  if (!status.dcs_ok && status.pause) {
    // Without the DCS in maintenance mode, PostgreSQL's own role decides.
    leader = status.role == "primary" || status.role == "standby_leader" ? kOk : kUnavailable;
  }
  // Stricter than Patroni in one corner: a lock holder whose PostgreSQL is
  // not (yet) a running primary takes no writes.
  // A fenced DC (site key) takes no writes, whatever PostgreSQL says.
  const int primary =
      !status.standby_cluster && !status.siteFenced() && leader == kOk && status.pg_primary ? kOk : kUnavailable;
  const int standby_leader = status.standby_cluster ? leader : kUnavailable;
  const int replica = replicaStatus(query, status);

  int code = kUnavailable;
  bool ignore_tags = false;
  if (contains(path, "standby_leader") || contains(path, "standby-leader")) {
    code = standby_leader;
    ignore_tags = true;
  } else if (contains(path, "leader")) {
    code = leader;
    ignore_tags = true;
  } else if (contains(path, "master") || contains(path, "primary") || contains(path, "read-write")) {
    code = primary;
    ignore_tags = true;
  } else if (contains(path, "replica")) {
    code = replica;
  } else if (contains(path, "read-only") && !contains(path, "sync") && !contains(path, "quorum")) {
    code = primary == kOk || standby_leader == kOk ? kOk : replica;
  } else if (contains(path, "health")) {
    code = status.state == "running" ? kOk : kUnavailable;
  } else if (status.dcs_ok) {
    if ((path == "/sync" || path == "/synchronous") && status.sync_standby) {
      code = replica;
    } else if ((path == "/async" || path == "/asynchronous") && !status.sync_standby) {
      code = replica;
    } else if (path == "/read-only-sync") {
      if (primary == kOk || standby_leader == kOk) {
        code = kOk;
      } else if (status.sync_standby) {
        code = replica;
      }
    }
  }
  if (code == kOk && !ignore_tags && !tagsMatch(query, status)) code = kUnavailable;
  return code;
}

int livenessStatus(const agent::AgentStatus& status, MonoTime now) {
  if (status.pause) return kOk;
  const auto allowed = status.leads(now) ? status.ttl : 2 * status.ttl;
  return now - status.last_cycle < allowed ? kOk : kUnavailable;
}

int readinessStatus(const QueryParams& query, const agent::AgentStatus& status, MonoTime now) {
  if (status.leads(now)) return kOk;
  if (status.state != "running" || status.role != "replica" || status.replication_state != "streaming") {
    return kUnavailable;
  }
  std::int64_t limit = status.maximum_lag_on_failover;
  if (const std::string* lag = findParam(query, "lag")) limit = parseByteSize(*lag).value_or(limit);
  const std::string* mode = findParam(query, "mode");
  const bool write_mode = mode && *mode == "write";
  const std::int64_t position = (write_mode ? status.receive_lsn : status.replay_lsn).value_or(0);
  const std::int64_t leader = status.cluster_optime.value_or(0);
  return leader - position <= limit ? kOk : kUnavailable;
}

}  // namespace pgtandem::rest
