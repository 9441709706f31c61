#include "ctl/commands.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <unistd.h>
#include <iostream>
#include <sstream>
#include <thread>

#include "common/pg/pg_session.h"
#include "common/pg/postgres.h"
#include "ctl/table.h"
#include "common/config/yaml_json.h"
#include "common/dcs/candidates.h"
#include "common/util/clock.h"
#include "common/dcs/cluster_json.h"

namespace pgtandem::ctl {

namespace json = boost::json;

namespace {

const char* kVersion = "0.1.0";

int fail(Context& ctx, const std::string& reason) {
  ctx.terminal().err << "dcctl: " << reason << "\n";
  return 1;
}

std::string text(const json::value* v) {
  if (!v || v->is_null()) return "";
  if (v->is_string()) return std::string(v->get_string());
  return json::serialize(*v);
}

std::string roleTitle(const std::string& role) {
  if (role == "leader") return "Leader";
  if (role == "standby_leader") return "Standby Leader";
  if (role == "sync_standby") return "Sync Standby";
  if (role == "quorum_standby") return "Quorum Standby";
  return "Replica";
}

// Lag in MB, as patronictl shows it; "unknown" stays.
std::string lagMb(const json::value* v) {
  if (!v || !v->is_int64()) return text(v);
  return std::to_string(v->as_int64() / (1024 * 1024));
}

dcs::ClusterFlags flagsOf(Context& ctx, const dcs::ClusterSnapshot& cluster) {
  const config::DynamicState d = ctx.dynamic(cluster);
  return dcs::ClusterFlags{d.config.standby_cluster.has_value(), d.config.synchronous_mode, d.pause};
}

std::string titleOf(const std::string& scope, const dcs::ClusterSnapshot& cluster) {
  std::string state = !cluster.initialize ? "uninitialized" : cluster.initialize->empty() ? "initializing" : *cluster.initialize;
  return "Cluster: " + scope + " (" + state + ")";
}

// The rows of `list` and `topology`, from the same document as GET /cluster.
Table memberTable(Context& ctx, const std::string& scope, const dcs::ClusterSnapshot& cluster, const ListOptions& o,
                  bool topology) {
  const json::value doc = json::parse(dcs::clusterJson(cluster, flagsOf(ctx, cluster)));
  const json::array& members = doc.at("members").as_array();
  // Host shows the port when any port differs from 5432 or a host repeats.
  bool with_port = false;
  std::set<std::string> hosts;
  for (const auto& m : members) {
    const json::object& mo = m.as_object();
    if (const auto* port = mo.if_contains("port"); port && port->is_int64() && port->as_int64() != 5432) with_port = true;
    if (!hosts.insert(text(mo.if_contains("host"))).second) with_port = true;
  }
  bool any_pending = o.extended, any_scheduled = o.extended, any_tags = o.extended;
  // The server version: with -e, and whenever the members differ (a minor
  // upgrade under way).
  std::set<std::string> versions;
  for (const auto& m : members) versions.insert(text(m.as_object().if_contains("server_version")));
  const bool any_version = o.extended || versions.size() > 1;
  for (const auto& m : members) {
    any_pending |= m.as_object().contains("pending_restart");
    any_scheduled |= m.as_object().contains("scheduled_restart");
    any_tags |= m.as_object().contains("tags");
  }
  Table t;
  t.title = titleOf(scope, cluster);
  const bool machine = o.format != Format::kPretty;
  if (machine) t.columns.push_back("Cluster");
  for (const char* c : {"Member", "Host", "Role", "State", "TL", "Receive LSN", "Receive Lag", "Replay LSN", "Replay Lag"}) {
    t.columns.push_back(c);
  }
  if (any_version) t.columns.push_back("Version");
  if (any_pending) t.columns.push_back("Pending restart");
  if (any_scheduled) t.columns.push_back("Scheduled restart");
  if (any_tags) t.columns.push_back("Tags");
  t.numeric.assign(t.columns.size(), false);
  for (std::size_t c = 0; c < t.columns.size(); ++c) {
    t.numeric[c] = t.columns[c] == "TL" || t.columns[c] == "Receive Lag" || t.columns[c] == "Replay Lag";
  }

  // Topology: the leader first, each member under its upstream.
  std::vector<std::pair<const json::object*, int>> ordered;
  if (topology) {
    const std::string leader = cluster.leader ? cluster.leader->name : "";
    std::function<void(const std::string&, int)> walk = [&](const std::string& upstream, int depth) {
      if (depth > 16) return;  // a replicatefrom loop: stop
      for (const auto& m : members) {
        const json::object& mo = m.as_object();
        const std::string name = text(mo.if_contains("name"));
        if (name == leader) continue;
        const dcs::MemberInfo* info = cluster.member(name);
        std::string up = info && info->tags.replicatefrom ? *info->tags.replicatefrom : leader;
        if (!cluster.member(up)) up = leader;
        if (up == upstream) {
          ordered.emplace_back(&mo, depth);
          walk(name, depth + 1);
        }
      }
    };
    for (const auto& m : members) {
      if (text(m.as_object().if_contains("name")) == leader) ordered.emplace_back(&m.as_object(), 0);
    }
    walk(leader, leader.empty() ? 0 : 1);
  } else {
    for (const auto& m : members) ordered.emplace_back(&m.as_object(), 0);
  }

  for (const auto& [mo, depth] : ordered) {
    const json::object& m = *mo;
    std::vector<std::string> row;
    if (machine) row.push_back(scope);
    std::string name = text(m.if_contains("name"));
    if (depth > 0) name = std::string(static_cast<std::size_t>(depth - 1) * 2, ' ') + "+ " + name;
    row.push_back(name);
    std::string host = text(m.if_contains("host"));
    if (with_port && m.contains("port")) host += ":" + text(m.if_contains("port"));
    row.push_back(host);
    row.push_back(roleTitle(text(m.if_contains("role"))));
    row.push_back(text(m.if_contains("state")));
    row.push_back(text(m.if_contains("timeline")));
    row.push_back(text(m.if_contains("receive_lsn")));
    row.push_back(lagMb(m.if_contains("receive_lag")));
    row.push_back(text(m.if_contains("replay_lsn")));
    row.push_back(lagMb(m.if_contains("replay_lag")));
    if (any_version) {
      const json::value* v = m.if_contains("server_version");
      row.push_back(v && v->is_int64() ? pg::versionText(static_cast<int>(v->as_int64())) : "");
    }
    if (any_pending) row.push_back(m.contains("pending_restart") ? "*" : "");
    if (any_scheduled) {
      const json::value* s = m.if_contains("scheduled_restart");
      row.push_back(s && s->is_object() ? text(s->as_object().if_contains("schedule")) : "");
    }
    if (any_tags) {
      const json::value* tags = m.if_contains("tags");
      row.push_back(tags ? json::serialize(*tags) : "");
    }
    t.rows.push_back(std::move(row));
  }
  for (const auto& m : members) {
    if (const auto* lag = m.as_object().if_contains("standby_lag"); lag && lag->is_object()) {
      const json::object& l = lag->as_object();
      const std::string bytes = text(l.if_contains("bytes"));
      t.footer.push_back("Standby lag behind the primary DC: " + (bytes.empty() ? std::string("unknown") : bytes) +
                         " bytes, " + text(l.if_contains("seconds")) + " s (" + text(l.if_contains("source")) + ")");
    }
  }
  if (doc.as_object().contains("pause")) t.footer.push_back("Maintenance mode: on");
  if (const auto* s = doc.as_object().if_contains("scheduled_switchover")) {
    const json::object& so = s->as_object();
    std::string line = "Switchover scheduled at: " + text(so.if_contains("at"));
    if (so.contains("from")) line += " from: " + text(so.if_contains("from"));
    if (so.contains("to")) line += " to: " + text(so.if_contains("to"));
    t.footer.push_back(line);
  }
  return t;
}

int showMembers(Context& ctx, const ListOptions& options, bool topology) {
  const std::string scope = ctx.scopeOr(options.scope);
  const int rounds = options.watch_seconds > 0 ? (options.watch_rounds > 0 ? options.watch_rounds : 1000000) : 1;
  for (int round = 0; round < rounds; ++round) {
    if (round > 0) ctx.clock->sleepFor(std::chrono::milliseconds(static_cast<long>(options.watch_seconds * 1000)));
    auto cluster = ctx.load(scope);
    if (!cluster.ok()) return fail(ctx, cluster.error().message);
    render(memberTable(ctx, scope, *cluster, options, topology), options.format, ctx.out());
    ctx.out().flush();
  }
  return 0;
}

// Picks members by name and role. Unknown names are an error.
Result<std::vector<const dcs::MemberInfo*>> pickMembers(Context& ctx, const dcs::ClusterSnapshot& cluster,
                                                       const MemberSelection& s) {
  const std::string scope = ctx.scopeOr(s.scope);
  const bool standby_cluster = ctx.dynamic(cluster).config.standby_cluster.has_value();
  for (const auto& name : s.members) {
    if (!cluster.member(name)) return makeError(ErrorCode::kNotFound, name + " is not a member of cluster " + scope);
  }
  const std::string leader = cluster.leader ? cluster.leader->name : "";
  std::vector<const dcs::MemberInfo*> picked;
  for (const auto& m : cluster.members) {
    if (!s.members.empty() && std::find(s.members.begin(), s.members.end(), m.name) == s.members.end()) continue;
    const bool leads = m.name == leader;
    bool role_ok = true;
    if (s.role == "leader") role_ok = leads;
    if (s.role == "primary" || s.role == "master") role_ok = leads && !standby_cluster;
    if (s.role == "standby-leader") role_ok = leads && standby_cluster;
    if (s.role == "replica" || s.role == "standby") role_ok = !leads;
    if (role_ok) picked.push_back(&m);
  }
  if (picked.empty()) return makeError(ErrorCode::kNotFound, "no member of cluster " + scope + " matches");
  return picked;
}

std::string names(const std::vector<const dcs::MemberInfo*>& members) {
  std::string out;
  for (const auto* m : members) out += (out.empty() ? "" : ", ") + m->name;
  return out;
}

// "Failed: <verb> for member <name>, <why>" on stderr.
void reportFailure(Context& ctx, const std::string& verb, const dcs::MemberInfo& m,
                   const Result<http::Response>& answer) {
  ctx.terminal().err << "Failed: " << verb << " for member " << m.name << ", "
                     << (answer.ok() ? "status code=" + std::to_string(answer->status) + ", (" + answer->body + ")"
                                     : answer.error().message)
                     << "\n";
}

// The member `dsn` and `query` talk to: by name, a running replica, or the leader.
Result<const dcs::MemberInfo*> chooseMember(Context& ctx, const dcs::ClusterSnapshot& cluster, const std::string& scope,
                                            const std::string& role, const std::string& member) {
  const dcs::MemberInfo* chosen = nullptr;
  if (!member.empty()) {
    chosen = cluster.member(member);
    if (!chosen) return makeError(ErrorCode::kNotFound, member + " is not a member of cluster " + ctx.scopeOr(scope));
    return chosen;
  }
  if (role == "replica" || role == "standby") {
    for (const auto& m : cluster.members) {
      if ((!cluster.leader || m.name != cluster.leader->name) && m.state == "running") chosen = &m;
    }
  } else {
    chosen = cluster.leaderMember();
  }
  if (!chosen) return makeError(ErrorCode::kNotFound, "no member of cluster " + ctx.scopeOr(scope) + " matches");
  return chosen;
}

// Lets the operator edit `yaml` in $EDITOR (or $VISUAL, else vi); returns
// the edited text.
Result<std::string> editInEditor(const std::string& yaml) {
  char path[] = "/tmp/dcctl-config-XXXXXX.yaml";
  const int fd = ::mkstemps(path, 5);
  if (fd < 0) return makeError(ErrorCode::kIo, "cannot create a temporary file");
  const bool written = ::write(fd, yaml.data(), yaml.size()) == static_cast<ssize_t>(yaml.size());
  ::close(fd);
  const char* editor = std::getenv("EDITOR");
  if (!editor || !*editor) editor = std::getenv("VISUAL");
  if (!editor || !*editor) editor = "vi";
  const int rc = written ? std::system((std::string(editor) + " '" + path + "'").c_str()) : -1;
  std::ifstream in(path);
  std::stringstream edited;
  edited << in.rdbuf();
  ::unlink(path);
  if (rc != 0) return makeError(ErrorCode::kIo, std::string("the editor (") + editor + ") failed; nothing was written");
  return edited.str();
}

std::string jsonString(const std::string& s) { return json::serialize(json::value(s)); }

// A line-based diff of two texts (removed lines with '-', added with '+').
std::string lineDiff(const std::string& before, const std::string& after) {
  auto lines = [](const std::string& t) {
    std::vector<std::string> out;
    std::istringstream in(t);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  };
  const auto a = lines(before), b = lines(after);
  // Longest common subsequence, small inputs only (a /config is short).
  std::vector<std::vector<int>> lcs(a.size() + 1, std::vector<int>(b.size() + 1, 0));
  for (std::size_t i = a.size(); i-- > 0;) {
    for (std::size_t j = b.size(); j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  std::string out;
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      ++i;
      ++j;
    } else if (j < b.size() && (i == a.size() || lcs[i][j + 1] > lcs[i + 1][j])) {
      out += "+" + b[j++] + "\n";
    } else {
      out += "-" + a[i++] + "\n";
    }
  }
  return out;
}

// "a.b.c=value" -> {"a":{"b":{"c":value}}}; the value is JSON when it
// parses as JSON (numbers, true, null, ...), else a string.
Result<json::value> setting(const std::string& assignment, const std::string& prefix) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    return makeError(ErrorCode::kInvalidArgument, "'" + assignment + "' is not key=value");
  }
  boost::system::error_code ec;
  json::value value = json::parse(assignment.substr(eq + 1), ec);
  if (ec) value = json::value(assignment.substr(eq + 1));
  std::vector<std::string> path;
  std::istringstream keys(prefix + assignment.substr(0, eq));
  for (std::string k; std::getline(keys, k, '.');) {
    if (k.empty()) return makeError(ErrorCode::kInvalidArgument, "'" + assignment + "' has an empty key");
    path.push_back(k);
  }
  for (auto it = path.rbegin(); it != path.rend(); ++it) value = json::object{{*it, std::move(value)}};
  return value;
}

Result<std::string> readInput(Context& ctx, const std::string& file) {
  std::stringstream buffer;
  if (file == "-") {
    buffer << ctx.terminal().in.rdbuf();
  } else {
    std::ifstream in(file);
    if (!in) return makeError(ErrorCode::kIo, "cannot read " + file);
    buffer << in.rdbuf();
  }
  return buffer.str();
}

}  // namespace

int listCommand(Context& ctx, const ListOptions& options) { return showMembers(ctx, options, false); }
int topologyCommand(Context& ctx, const ListOptions& options) { return showMembers(ctx, options, true); }

int historyCommand(Context& ctx, const std::string& scope, Format format) {
  auto cluster = ctx.load(scope);
  if (!cluster.ok()) return fail(ctx, cluster.error().message);
  Table t;
  t.title = titleOf(ctx.scopeOr(scope), *cluster);
  t.columns = {"TL", "LSN", "Reason", "Timestamp", "New Leader"};
  t.numeric = {true, true, false, false, false};
  for (const auto& h : cluster->history) {
    t.rows.push_back({std::to_string(h.timeline), std::to_string(h.lsn), h.reason, h.timestamp, h.new_leader});
  }
  render(t, format, ctx.out());
  return 0;
}

int showConfigCommand(Context& ctx, const std::string& scope) {
  auto cluster = ctx.load(scope);
  if (!cluster.ok()) return fail(ctx, cluster.error().message);
  if (!cluster->config_json) return fail(ctx, "cluster " + ctx.scopeOr(scope) + " has no /config");
  auto yaml = config::jsonToYaml(*cluster->config_json);
  if (!yaml.ok()) return fail(ctx, "/config is not valid JSON: " + yaml.error().message);
  ctx.out() << *yaml;
  return 0;
}

int switchoverCommand(Context& ctx, const std::string& scope, std::string leader, std::string candidate,
                      std::string scheduled) {
  const std::string name = ctx.scopeOr(scope);
  auto cluster = ctx.load(scope);
  if (!cluster.ok()) return fail(ctx, cluster.error().message);
  if (!cluster->leader) return fail(ctx, "cluster " + name + " has no leader: use failover");
  if (leader.empty()) leader = ctx.force ? cluster->leader->name : ctx.ask("Primary", cluster->leader->name);
  if (leader != cluster->leader->name) return fail(ctx, "member " + leader + " is not the leader of cluster " + name);
  std::string others;
  for (const auto& m : cluster->members) {
    if (m.name != leader) others += (others.empty() ? "" : ", ") + m.name;
  }
  if (candidate.empty() && !ctx.force) candidate = ctx.ask("Candidate [" + others + "]", "");
  if (!candidate.empty() && !cluster->member(candidate)) {
    return fail(ctx, "member " + candidate + " does not exist in cluster " + name);
  }
  if (candidate == leader) return fail(ctx, "the candidate is the current leader");
  if (scheduled.empty() && !ctx.force) scheduled = ctx.ask("When should the switchover take place (e.g. 2030-01-01T12:00+00:00)", "now");
  if (scheduled == "now") scheduled.clear();
  if (!scheduled.empty() && !parseIsoTime(scheduled)) return fail(ctx, "cannot parse the time '" + scheduled + "'");
  // A scheduled switchover's target is judged when its time comes.
  if (!candidate.empty() && scheduled.empty()) {
    if (auto why = dcs::whyNotCandidate(*cluster, candidate)) return fail(ctx, "cannot switch over: " + *why);
  }
  listCommand(ctx, ListOptions{scope});
  if (!ctx.confirm("Are you sure you want to switchover cluster " + name + ", demoting current leader " + leader + "?")) {
    return fail(ctx, "aborted");
  }
  std::string body = "{\"leader\":" + jsonString(leader);
  if (!candidate.empty()) body += ",\"candidate\":" + jsonString(candidate);
  if (!scheduled.empty()) body += ",\"scheduled_at\":" + jsonString(scheduled);
  body += "}";
  auto answer = ctx.callAny(*cluster, "POST", "/switchover", body);
  if (!answer.ok()) return fail(ctx, answer.error().message);
  if (answer->status != 200 && answer->status != 202) {
    return fail(ctx, "switchover failed (" + std::to_string(answer->status) + "): " + answer->body);
  }
  ctx.out() << answer->body << "\n";
  if (answer->status == 200) listCommand(ctx, ListOptions{scope});
  return 0;
}

int failoverCommand(Context& ctx, const std::string& scope, std::string candidate) {
  const std::string name = ctx.scopeOr(scope);
  auto cluster = ctx.load(scope);
  if (!cluster.ok()) return fail(ctx, cluster.error().message);
  std::string others;
  for (const auto& m : cluster->members) {
    if (!cluster->leader || m.name != cluster->leader->name) others += (others.empty() ? "" : ", ") + m.name;
  }
  if (candidate.empty() && !ctx.force) candidate = ctx.ask("Candidate [" + others + "]", "");
  if (candidate.empty()) return fail(ctx, "failover needs a candidate (--candidate)");
  if (!cluster->member(candidate)) return fail(ctx, "member " + candidate + " does not exist in cluster " + name);
  if (cluster->leader && candidate == cluster->leader->name) return fail(ctx, "the candidate is the current leader");
  if (auto why = dcs::whyNotCandidate(*cluster, candidate)) return fail(ctx, "cannot fail over: " + *why);
  listCommand(ctx, ListOptions{scope});
  if (!ctx.confirm("Are you sure you want to failover cluster " + name + "?")) return fail(ctx, "aborted");
  auto answer = ctx.callAny(*cluster, "POST", "/failover", "{\"candidate\":" + jsonString(candidate) + "}");
  if (!answer.ok()) return fail(ctx, answer.error().message);
  if (answer->status != 200) return fail(ctx, "failover failed (" + std::to_string(answer->status) + "): " + answer->body);
  ctx.out() << answer->body << "\n";
  listCommand(ctx, ListOptions{scope});
  return 0;
}

int versionCommand(Context& ctx, const MemberSelection& selection) {
  auto cluster = ctx.load(selection.scope);
  if (!cluster.ok()) return fail(ctx, cluster.error().message);
  auto picked = pickMembers(ctx, *cluster, selection);
  if (!picked.ok()) return fail(ctx, picked.error().message);
  ctx.out() << "dcctl version " << kDcctlVersion << "\n\n";
  int failures = 0;
  for (const auto* m : *picked) {
    auto answer = ctx.callMember(*m, "GET", "/patroni");
    boost::system::error_code ec;
    const json::value doc = answer.ok() && answer->status == 200 ? json::parse(answer->body, ec) : json::value();
    const json::object* o = doc.if_object();
    if (!o) {
      ++failures;
      ctx.terminal().err << "dcctl: " << m->name << ": cannot ask its REST API\n";
      continue;
    }
    std::string agent = "?";
    if (const auto* p = o->if_contains("patroni"); p && p->is_object()) agent = text(p->as_object().if_contains("version"));
    std::string postgres;
    if (const auto* v = o->if_contains("server_version"); v && v->is_int64()) {
      // 150018 -> 15.18
      postgres = " PostgreSQL " + std::to_string(v->as_int64() / 10000) + "." + std::to_string(v->as_int64() % 100);
    }
    ctx.out() << m->name << ": pgtandem " << agent << postgres << "\n";
  }
  return failures ? 1 : 0;
}

int restartCommand(Context& ctx, const MemberSelection& selection, const RestartOptions& given) {
  auto cluster = ctx.load(selection.scope);
  if (!cluster.ok()) return fail(ctx, cluster.error().message);
  auto picked = pickMembers(ctx, *cluster, selection);
  if (!picked.ok()) return fail(ctx, picked.error().message);
  RestartOptions options = given;
  if (options.scheduled == "now") options.scheduled.clear();  // as patronictl takes it
  if (!options.scheduled.empty() && !parseIsoTime(options.scheduled)) {
    return fail(ctx, "cannot parse the time '" + options.scheduled + "'");
  }
  if (!ctx.confirm("Are you sure you want to restart members " + names(*picked) + "?")) return fail(ctx, "aborted");
  json::object body;
  if (options.pending) body["restart_pending"] = true;
  if (!options.postgres_version.empty()) body["postgres_version"] = options.postgres_version;
  if (!options.scheduled.empty()) body["schedule"] = options.scheduled;
  int failures = 0;
  for (const auto* m : *picked) {
    auto answer = ctx.callMember(*m, "POST", "/restart", json::serialize(body));
    if (answer.ok() && (answer->status == 200 || answer->status == 202)) {
      ctx.out() << (answer->status == 202 ? "Success: restart scheduled on member " : "Success: restart on member ")
                << m->name << "\n";
    } else {
      ++failures;
      reportFailure(ctx, "restart", *m, answer);
    }
  }
  return failures ? 1 : 0;
}

int reloadCommand(Context& ctx, const MemberSelection& selection) {
  auto cluster = ctx.load(selection.scope);
  if (!cluster.ok()) return fail(ctx, cluster.error().message);
  auto picked = pickMembers(ctx, *cluster, selection);
  if (!picked.ok()) return fail(ctx, picked.error().message);
  if (!ctx.confirm("Are you sure you want to reload members " + names(*picked) + "?")) return fail(ctx, "aborted");
  int failures = 0;
  for (const auto* m : *picked) {
    auto answer = ctx.callMember(*m, "POST", "/reload");
    if (answer.ok() && answer->status == 202) {
      ctx.out() << "Reload request received for member " << m->name << " and will be processed within "
                << ctx.dynamic(*cluster).config.loop_wait << " seconds\n";
    } else {
      ++failures;
      reportFailure(ctx, "reload", *m, answer);
    }
  }
  return failures ? 1 : 0;
}

int reinitCommand(Context& ctx, const MemberSelection& selection, bool wait, bool from_leader) {
  if (selection.members.empty()) return fail(ctx, "name the members to reinitialize");
  auto cluster = ctx.load(selection.scope);
  if (!cluster.ok()) return fail(ctx, cluster.error().message);
  auto picked = pickMembers(ctx, *cluster, selection);
  if (!picked.ok()) return fail(ctx, picked.error().message);
  int failures = 0;
  std::vector<const dcs::MemberInfo*> started;
  for (const auto* m : *picked) {
    if (!ctx.confirm("Are you sure you want to reinitialize member " + m->name + "?")) return fail(ctx, "aborted");
    const std::string body = std::string("{\"force\":") + (ctx.force ? "true" : "false") +
                             ",\"from_leader\":" + (from_leader ? "true" : "false") + "}";
    auto answer = ctx.callMember(*m, "POST", "/reinitialize", body);
    if (answer.ok() && answer->status == 200) {
      ctx.out() << "Success: reinitialize for member " << m->name << "\n";
      started.push_back(m);
    } else {
      ++failures;
      reportFailure(ctx, "reinitialize", *m, answer);
    }
  }
  if (wait && !started.empty()) {
    ctx.out() << "Waiting for the reinitialization to finish...\n";
    // Bounded: an hour of 1 s rounds.
    for (int round = 0; round < 3600 && !started.empty(); ++round) {
      ctx.clock->sleepFor(std::chrono::seconds(1));
      auto now = ctx.load(selection.scope);
      if (!now.ok()) continue;
      started.erase(std::remove_if(started.begin(), started.end(),
                                   [&](const dcs::MemberInfo* m) {
                                     const dcs::MemberInfo* current = now->member(m->name);
                                     if (!current || current->state != "running") return false;
                                     ctx.out() << "Reinitialize of " << m->name << " is done\n";
                                     return true;
                                   }),
                    started.end());
    }
    if (!started.empty()) return fail(ctx, "the reinitialization did not finish within an hour");
  }
  return failures ? 1 : 0;
}

int flushCommand(Context& ctx, const MemberSelection& selection, const std::string& what) {
  auto cluster = ctx.load(selection.scope);
  if (!cluster.ok()) return fail(ctx, cluster.error().message);
  if (what == "switchover") {
    if (!cluster->failover || cluster->failover->scheduled_at.empty()) return fail(ctx, "no switchover is scheduled");
    if (!ctx.confirm("Are you sure you want to cancel the scheduled switchover?")) return fail(ctx, "aborted");
    auto answer = ctx.callAny(*cluster, "DELETE", "/switchover");
    if (!answer.ok()) return fail(ctx, answer.error().message);
    if (answer->status != 200) return fail(ctx, "not cancelled (" + std::to_string(answer->status) + "): " + answer->body);
    ctx.out() << "Success: scheduled switchover deleted\n";
    return 0;
  }
  if (what != "restart") return fail(ctx, "flush takes restart or switchover, not '" + what + "'");
  auto picked = pickMembers(ctx, *cluster, selection);
  if (!picked.ok()) return fail(ctx, picked.error().message);
  int failures = 0;
  for (const auto* m : *picked) {
    if (m->scheduled_restart.empty()) continue;
    auto answer = ctx.callMember(*m, "DELETE", "/restart");
    if (answer.ok() && answer->status == 200) {
      ctx.out() << "Success: flush scheduled restart for member " << m->name << "\n";
    } else {
      ++failures;
      reportFailure(ctx, "flush scheduled restart", *m, answer);
    }
  }
  return failures ? 1 : 0;
}

int pauseCommand(Context& ctx, const std::string& scope, bool pause, bool wait) {
  const std::string name = ctx.scopeOr(scope);
  auto cluster = ctx.load(scope);
  if (!cluster.ok()) return fail(ctx, cluster.error().message);
  if (ctx.dynamic(*cluster).pause == pause) {
    return fail(ctx, std::string("cluster ") + name + (pause ? " is already paused" : " is not paused"));
  }
  auto answer = ctx.callAny(*cluster, "PATCH", "/config", pause ? R"({"pause":true})" : R"({"pause":null})");
  if (!answer.ok()) return fail(ctx, answer.error().message);
  if (answer->status != 200) return fail(ctx, "the change was refused (" + std::to_string(answer->status) + "): " + answer->body);
  if (wait) {
    ctx.out() << "'" << (pause ? "pause" : "resume") << "' request sent, waiting until it is recognized by all members\n";
    bool everywhere = false;
    for (int round = 0; round < 120 && !everywhere; ++round) {  // 60 s
      ctx.clock->sleepFor(std::chrono::milliseconds(500));
      auto now = ctx.load(scope);
      everywhere = now.ok() && std::all_of(now->members.begin(), now->members.end(),
                                           [&](const dcs::MemberInfo& m) { return m.pause == pause; });
    }
    if (!everywhere) return fail(ctx, "not every member recognized the change within 60 s");
  }
  ctx.out() << (pause ? "Success: cluster management is paused\n" : "Success: cluster management is resumed\n");
  return 0;
}

int editConfigCommand(Context& ctx, const std::string& scope, const EditOptions& o) {
  const std::string name = ctx.scopeOr(scope);
  auto cluster = ctx.load(scope);
  if (!cluster.ok()) return fail(ctx, cluster.error().message);
  const std::string before = cluster->config_json.value_or("{}");
  std::string after = before;
  if (o.sets.empty() && o.pg_sets.empty() && o.apply_file.empty() && o.replace_file.empty()) {
    auto yaml = config::jsonToYaml(before);
    if (!yaml.ok()) return fail(ctx, "/config is not valid JSON: " + yaml.error().message);
    auto edited = editInEditor(*yaml);
    if (!edited.ok()) return fail(ctx, edited.error().message);
    auto parsed = config::yamlToJson(*edited, "the edited configuration");
    if (!parsed.ok()) return fail(ctx, parsed.error().message + "; nothing was written");
    after = *parsed;
  }
  if (!o.replace_file.empty()) {
    auto input = readInput(ctx, o.replace_file);
    if (!input.ok()) return fail(ctx, input.error().message);
    auto parsed = config::yamlToJson(*input, o.replace_file);
    if (!parsed.ok()) return fail(ctx, parsed.error().message);
    after = *parsed;
  }
  if (!o.apply_file.empty()) {
    auto input = readInput(ctx, o.apply_file);
    if (!input.ok()) return fail(ctx, input.error().message);
    auto parsed = config::yamlToJson(*input, o.apply_file);
    if (!parsed.ok()) return fail(ctx, parsed.error().message);
    auto merged = config::applyMergePatch(after, *parsed);
    if (!merged.ok()) return fail(ctx, merged.error().message);
    after = *merged;
  }
  for (const auto& [list, prefix] : {std::pair{&o.sets, std::string()}, std::pair{&o.pg_sets, std::string("postgresql.parameters.")}}) {
    for (const auto& assignment : *list) {
      auto patch = setting(assignment, prefix);
      if (!patch.ok()) return fail(ctx, patch.error().message);
      auto merged = config::applyMergePatch(after, json::serialize(*patch));
      if (!merged.ok()) return fail(ctx, merged.error().message);
      after = *merged;
    }
  }
  if (json::parse(after) == json::parse(before)) {
    ctx.out() << "Not changed\n";
    return 0;
  }
  if (auto valid = config::validateDynamicJson(after, ctx.config().bootstrap.dcs); !valid.ok()) {
    return fail(ctx, "the new configuration is invalid, nothing was written: " + valid.error().message);
  }
  if (!o.quiet) {
    auto a = config::jsonToYaml(before), b = config::jsonToYaml(after);
    ctx.out() << "---\n+++\n" << lineDiff(a.ok() ? *a : before, b.ok() ? *b : after);
  }
  if (!ctx.confirm("Apply these changes?")) return fail(ctx, "aborted, nothing was written");
  // One compare-and-set: a change made meanwhile by someone else is not lost.
  auto swapped = dcs::compareAndSet(ctx.dcs(), ctx.paths(scope).config(), after, cluster->config_mod_revision);
  if (!swapped.ok()) return fail(ctx, "cannot write /config: " + swapped.error().message);
  if (!*swapped) return fail(ctx, "/config of " + name + " changed meanwhile; nothing was written, try again");
  ctx.out() << "Configuration changed\n";
  return 0;
}

int removeCommand(Context& ctx, const std::string& scope) {
  const std::string name = ctx.scopeOr(scope);
  auto cluster = ctx.load(scope);
  if (!cluster.ok()) return fail(ctx, cluster.error().message);
  if (ctx.ask("Please confirm the cluster name to remove", "") != name) return fail(ctx, "cluster names specified do not match");
  if (ctx.ask("You are about to remove all information in DCS for " + name + ", please type: \"Yes I am aware\"", "") !=
      "Yes I am aware") {
    return fail(ctx, "you did not exactly type \"Yes I am aware\"");
  }
  if (const dcs::MemberInfo* leader = cluster->leaderMember(); leader && leader->state == "running") {
    if (ctx.ask("This cluster currently is healthy. Please specify the leader name to continue", "") != leader->name) {
      return fail(ctx, "you did not specify the current leader of the cluster");
    }
  }
  auto erased = ctx.dcs().erasePrefix(ctx.paths(scope).base());
  if (!erased.ok()) return fail(ctx, "cannot remove the cluster: " + erased.error().message);
  ctx.out() << "Removed " << *erased << " keys of cluster " << name << "\n";
  return 0;
}

int dsnCommand(Context& ctx, const std::string& scope, const std::string& role, const std::string& member) {
  auto cluster = ctx.load(scope);
  if (!cluster.ok()) return fail(ctx, cluster.error().message);
  auto chosen = chooseMember(ctx, *cluster, scope, role, member);
  if (!chosen.ok()) return fail(ctx, chosen.error().message);
  auto hp = pg::parseConnUrl((*chosen)->conn_url);
  if (!hp.ok()) return fail(ctx, hp.error().message);
  ctx.out() << "host=" << hp->first << " port=" << hp->second << "\n";
  return 0;
}

int queryCommand(Context& ctx, const QueryOptions& o) {
  if (o.sql.empty() == o.file.empty()) return fail(ctx, "give the SQL with -c or -f (one of them)");
  std::string sql = o.sql;
  if (!o.file.empty()) {
    auto input = readInput(ctx, o.file);
    if (!input.ok()) return fail(ctx, input.error().message);
    sql = *input;
  }
  auto cluster = ctx.load(o.scope);
  if (!cluster.ok()) return fail(ctx, cluster.error().message);
  auto chosen = chooseMember(ctx, *cluster, o.scope, o.role, o.member);
  if (!chosen.ok()) return fail(ctx, chosen.error().message);
  auto hp = pg::parseConnUrl((*chosen)->conn_url);
  if (!hp.ok()) return fail(ctx, hp.error().message);
  const config::Credentials& superuser = ctx.config().postgresql.superuser;
  std::string user = o.username.empty() ? superuser.username : o.username;
  if (user.empty()) user = "postgres";
  std::string password = o.username.empty() ? superuser.password : "";
  if (o.ask_password) password = ctx.ask("Password", "");
  std::map<std::string, std::string> params{{"host", hp->first}, {"port", std::to_string(hp->second)},
                                            {"user", user}, {"dbname", o.dbname}, {"connect_timeout", "5"}};
  if (!password.empty()) params["password"] = password;
  auto session = pg::PgSession::connect(pg::conninfo(params));
  if (!session.ok()) return fail(ctx, (*chosen)->name + ": " + session.error().message);
  auto result = (*session)->queryTable(sql);
  if (!result.ok()) return fail(ctx, (*chosen)->name + ": " + result.error().message);
  Table t;
  t.columns = result->columns;
  for (const auto& row : result->rows) {
    std::vector<std::string> cells;
    for (const auto& field : row) cells.push_back(field.value_or(""));
    t.rows.push_back(std::move(cells));
  }
  render(t, o.format, ctx.out());
  return 0;
}

int versionCommand(Context& ctx) {
  ctx.out() << "dcctl version " << kVersion << "\n";
  return 0;
}

}  // namespace pgtandem::ctl
