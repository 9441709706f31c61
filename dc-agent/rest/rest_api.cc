#include "dc-agent/rest/rest_api.h"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <thread>

#include "common/config/dynamic_json.h"
#include "common/dcs/candidates.h"
#include "common/dcs/cluster_json.h"
#include "common/http/http_client.h"
#include "common/util/log.h"
#include "dc-agent/ha/decision.h"
#include "dc-agent/rest/health.h"
#include "dc-agent/rest/metrics.h"
#include "dc-agent/rest/views.h"

namespace pgtandem::rest {

namespace json = boost::json;

namespace {

HttpResponse text(int status, std::string body) { return HttpResponse{status, std::move(body), "text/plain", {}}; }
HttpResponse jsonResponse(int status, std::string body) { return HttpResponse{status, std::move(body), "application/json", {}}; }

// The request body as a JSON object, or the 400 that says why not.
Result<json::object> bodyObject(const HttpRequest& request, bool optional) {
  if (request.body.empty()) {
    if (optional) return json::object{};
    return makeError(ErrorCode::kInvalidArgument, "a JSON object body is required");
  }
  boost::system::error_code ec;
  json::value v = json::parse(request.body, ec);
  if (ec) return makeError(ErrorCode::kInvalidArgument, "the body is not valid JSON: " + ec.message());
  if (!v.is_object()) return makeError(ErrorCode::kInvalidArgument, "the body must be a JSON object");
  if (v.get_object().empty() && !optional) return makeError(ErrorCode::kInvalidArgument, "the body must not be empty");
  return std::move(v.get_object());
}

// An optional string field; a value of another type is an error.
Result<std::string> stringField(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return std::string();
  if (!v->is_string()) return makeError(ErrorCode::kInvalidArgument, std::string("'") + key + "' must be a string");
  return std::string(v->get_string());
}

Result<bool> boolField(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return false;
  if (!v->is_bool()) return makeError(ErrorCode::kInvalidArgument, std::string("'") + key + "' must be true or false");
  return v->get_bool();
}

bool hasTimezone(const std::string& iso) {
  const auto t = iso.find('T');
  if (t == std::string::npos) return false;
  return iso.find_first_of("Z+-", t) != std::string::npos;
}

bool isReadMethod(const std::string& method) { return method == "GET" || method == "HEAD" || method == "OPTIONS"; }

std::string firstSegment(const std::string& path) {
  const std::size_t start = path.find_first_not_of('/');
  if (start == std::string::npos) return "";
  return path.substr(start, path.find('/', start) - start);
}

}  // namespace

Result<AccessPolicy> RestApi::accessPolicy(const config::Config& config) {
  AccessPolicy policy;
  for (const auto& entry : config.restapi.allowlist) {
    auto networks = IpNetwork::parse(entry);
    if (!networks.ok()) return networks.error();
    policy.allowlist.insert(policy.allowlist.end(), networks->begin(), networks->end());
  }
  policy.require_client_certificate =
      !config.restapi.certfile.empty() &&
      (config.restapi.verify_client == "optional" || config.restapi.verify_client == "required");
  if (!config.restapi.authentication.username.empty()) {
    policy.basic_auth =
        http::basicAuthorization(config.restapi.authentication.username, config.restapi.authentication.password);
  }
  policy.include_members = config.restapi.allowlist_include_members;
  return policy;
}

Result<std::unique_ptr<RestApi>> RestApi::create(const config::Config& config, dcs::Dcs& dcs,
                                                 const agent::StatusBoard& board,
                                                 agent::OperationMailbox& operations, const Clock& clock) {
  auto policy = accessPolicy(config);
  if (!policy.ok()) return policy.error();
  return std::unique_ptr<RestApi>(new RestApi(config, dcs, board, operations, clock, std::move(*policy)));
}

Status RestApi::applyConfig(const config::Config& config) {
  auto policy = accessPolicy(config);
  if (!policy.ok()) return policy.error();
  std::lock_guard lock(policy_mutex_);
  policy_ = std::make_shared<const AccessPolicy>(std::move(*policy));
  return okStatus();
}

std::shared_ptr<const AccessPolicy> RestApi::policy() {
  std::lock_guard lock(policy_mutex_);
  return policy_;
}

RestApi::RestApi(const config::Config& config, dcs::Dcs& dcs, const agent::StatusBoard& board,
                 agent::OperationMailbox& operations, const Clock& clock, AccessPolicy policy)
    : config_(config),
      dcs_(dcs),
      board_(board),
      operations_(operations),
      clock_(clock),
      policy_(std::make_shared<const AccessPolicy>(std::move(policy))),
      paths_(config.namespace_, config.scope),
      switchover_wait_(std::chrono::seconds(2 * std::max(10, config.bootstrap.dcs.loop_wait))) {}

bool RestApi::needsWorker(const HttpRequest& request) {
  if (!isReadMethod(request.method)) return true;
  const std::string path = request.target.substr(0, request.target.find('?'));
  const std::string segment = firstSegment(path);
  return segment == "cluster" || segment == "history" || segment == "config";
}

HttpResponse RestApi::handle(const HttpRequest& request) {
  auto parsed = boost::urls::parse_origin_form(request.target);
  if (!parsed) return text(400, "malformed request target");
  std::string path = parsed->path();
  if (path.empty()) path = "/";
  if (isReadMethod(request.method)) {
    QueryParams query;
    for (const auto& p : parsed->params()) query.emplace_back(p.key, p.value);
    return handleRead(request, path, query);
  }
  return handleChange(request, path);
}

HttpResponse RestApi::handleRead(const HttpRequest& request, const std::string& path, const QueryParams& query) {
  const auto status = board_.current();
  const MonoTime now = clock_.monotonicNow();
  const std::string segment = firstSegment(path);
  const bool with_body = request.method == "GET";
  if (segment == "patroni") return jsonResponse(200, statusDocument(status));
  if (segment == "metrics") return HttpResponse{200, renderMetrics(*status, now, clock_.wallNow()), "text/plain; version=0.0.4", {}};
  if (segment == "cluster") return clusterView();
  if (segment == "history") return history();
  if (segment == "config") return readConfig();
  if (segment == "failsafe") return readFailsafe(*status);
  if (segment == "liveness") return text(livenessStatus(*status, now), "");
  if (segment == "readiness") return text(readinessStatus(query, *status, now), "");
  const int code = healthStatus(path, query, *status, now);
  return with_body ? jsonResponse(code, statusDocument(status)) : HttpResponse{code, "", "application/json", {}};
}

std::string RestApi::statusDocument(const std::shared_ptr<const agent::AgentStatus>& status) {
  // Serialized once per published status, not once per request.
  std::lock_guard lock(document_mutex_);
  if (document_status_ != status) {
    document_ = patroniJson(*status);
    document_status_ = status;
  }
  return document_;
}

HttpResponse RestApi::handleChange(const HttpRequest& request, const std::string& path) {
  const std::string segment = firstSegment(path);
  const std::string& m = request.method;
  const bool known = (m == "POST" && (segment == "switchover" || segment == "failover" || segment == "restart" ||
                                      segment == "reload" || segment == "reinitialize" || segment == "failsafe")) ||
                     (m == "DELETE" && (segment == "switchover" || segment == "restart")) ||
                     ((m == "PATCH" || m == "PUT") && segment == "config");
  if (!known) return HttpResponse{405, "method not allowed for " + path, "text/plain", {{"Allow", "GET, HEAD, OPTIONS"}}};
  const std::shared_ptr<const AccessPolicy> policy = this->policy();
  const bool allowlist_active = !policy->allowlist.empty() || policy->include_members;
  const auto members = policy->include_members ? memberNetworks() : std::vector<IpNetwork>{};
  if (auto denied = checkAccess(*policy, members, allowlist_active, request)) return *denied;

  if (segment == "switchover") return m == "POST" ? failover(request, true) : cancelSwitchover();
  if (segment == "failover") return failover(request, false);
  if (segment == "config") return patchConfig(request, m == "PUT");
  if (segment == "restart") {
    return m == "DELETE" ? cancelRestart() : restart(request);
  }
  if (segment == "reload") return reload();
  if (segment == "failsafe") return failsafeHeartbeat(request);
  return reinitialize(request);
}

HttpResponse RestApi::readFailsafe(const agent::AgentStatus& status) {
  if (!status.failsafe_mode) return text(502, "Failsafe mode is not enabled");
  json::object members;
  for (const auto& [name, url] : status.failsafe_members) members[name] = url;
  return jsonResponse(200, json::serialize(members));
}

// A leader's heartbeat while it cannot reach the DCS (failsafe.h): a
// replica promises not to take the lock for ttl; a primary refuses, since
// two members claim to be the leader.
HttpResponse RestApi::failsafeHeartbeat(const HttpRequest& request) {
  const auto status = board_.current();
  if (!status->failsafe_mode || !failsafe_heartbeats_) return text(502, "Failsafe mode is not enabled");
  auto leader = agent::parseFailsafeHeartbeat(request.body);
  if (!leader.ok()) return text(400, leader.error().message);
  if (status->pg_primary) return text(500, "Running as a leader");
  failsafe_heartbeats_->heard(*leader, clock_.monotonicNow());
  return text(200, "Accepted");
}

Result<dcs::ClusterSnapshot> RestApi::loadSnapshot() { return dcs::loadCluster(dcs_, paths_, malformed_); }

std::vector<IpNetwork> RestApi::memberNetworks() {
  std::vector<IpNetwork> networks;
  auto snapshot = loadSnapshot();
  if (!snapshot.ok()) return networks;
  for (const auto& member : snapshot->members) {
    auto url = boost::urls::parse_uri(member.api_url);
    if (!url) continue;
    auto found = IpNetwork::parse(std::string(url->host()));
    if (found.ok()) networks.insert(networks.end(), found->begin(), found->end());
  }
  return networks;
}

HttpResponse RestApi::failover(const HttpRequest& request, bool switchover) {
  const std::string action = switchover ? "switchover" : "failover";
  const std::string Action = switchover ? "Switchover" : "Failover";
  auto body = bodyObject(request, false);
  if (!body.ok()) return text(400, body.error().message);
  auto leader = stringField(*body, "leader");
  auto candidate = stringField(*body, "candidate");
  auto member = stringField(*body, "member");
  auto scheduled_at = stringField(*body, "scheduled_at");
  for (const auto* field : {&leader, &candidate, &member, &scheduled_at}) {
    if (!field->ok()) return text(400, field->error().message);
  }
  if (candidate->empty()) candidate = *member;
  auto snapshot = loadSnapshot();
  if (!snapshot.ok()) return text(503, "cannot read the DCS: " + snapshot.error().message);
  const auto dynamic = config::storedDynamic(snapshot->config_json, config_.bootstrap.dcs);
  const bool paused = dynamic && dynamic->pause;
  const bool synchronous = dynamic && dynamic->config.synchronous_mode;
  spdlog::info("received {} request with leader={} candidate={} scheduled_at={}", action, *leader, *candidate,
               *scheduled_at);

  if (!switchover && candidate->empty()) return text(400, "Failover could be performed only to a specific candidate");
  if (switchover && leader->empty()) return text(400, "Switchover could be performed only from a specific leader");
  if (!scheduled_at->empty()) {
    if (!switchover) return text(400, "Failover can't be scheduled");
    if (paused) return text(400, "Can't schedule switchover in the paused state");
    const auto at = parseIsoTime(*scheduled_at);
    if (!at) return text(400, "Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601");
    if (!hasTimezone(*scheduled_at)) return text(400, "Timezone information is mandatory for the scheduled switchover");
    if (*at < clock_.wallNow()) return text(422, "Cannot schedule switchover in the past");
  }
  if (paused && candidate->empty()) return text(400, Action + " is possible only to a specific candidate in a paused state");

  if (scheduled_at->empty()) {
    // Patroni's is_failover_possible, judged from the member keys.
    if (!leader->empty() && (!snapshot->leader || snapshot->leader->name != *leader)) {
      return text(412, "leader name does not match");
    }
    const std::string current_leader = snapshot->leader ? snapshot->leader->name : "";
    if (!candidate->empty()) {
      if (switchover && synchronous && !agent::allowedBySync(*snapshot, *candidate)) {
        return text(412, "candidate name does not match with sync_standby");
      }
      const dcs::MemberInfo* m = snapshot->member(*candidate);
      if (!m) return text(412, "candidate does not exists");
      if (*candidate == current_leader) return text(412, "candidate is already the leader");
      if (!dcs::eligibleCandidate(*m)) return text(412, action + " is not possible: no good candidates have been found");
    } else {
      bool any = false, others = false;
      for (const auto& m : snapshot->members) {
        if (m.name == current_leader) continue;
        if (synchronous && !agent::allowedBySync(*snapshot, m.name)) continue;
        others = true;
        any = any || dcs::eligibleCandidate(m);
      }
      if (!others) {
        return text(412, synchronous ? action + " is not possible: can not find sync_standby"
                                     : action + " is not possible: cluster does not have members except leader");
      }
      if (!any) return text(412, action + " is not possible: no good candidates have been found");
    }
  }

  dcs::FailoverInfo info;
  info.leader = *leader;
  info.candidate = *candidate;
  info.scheduled_at = *scheduled_at;
  if (auto written = dcs_.put(paths_.failover(), dcs::toJson(info)); !written.ok()) {
    return text(503, "failed to write " + action + " key into DCS");
  }
  operations_.wake();
  if (!scheduled_at->empty()) return text(202, Action + " scheduled");

  // Wait for the outcome, as Patroni does, but look every 100 ms.
  const std::string old_leader = snapshot->leader ? snapshot->leader->name : "";
  const long rounds = switchover_wait_.count() / 100;
  for (long round = 0; round < rounds; ++round) {
    clock_.sleepFor(std::chrono::milliseconds(100));
    auto now = loadSnapshot();
    if (!now.ok()) continue;
    if (now->leader && now->leader->name != old_leader) {
      // Patroni's words: "Successfully switched over to ...", "Failed over to ... instead of ...".
      if (candidate->empty() || *candidate == now->leader->name) {
        return text(200, std::string("Successfully ") + (switchover ? "switched" : "failed") + " over to \"" +
                             now->leader->name + "\"");
      }
      return text(200, std::string(switchover ? "Switched" : "Failed") + " over to \"" + now->leader->name +
                           "\" instead of \"" + *candidate + "\"");
    }
    if (!now->failover) return text(503, Action + " failed");
  }
  return text(503, Action + " status unknown");
}

HttpResponse RestApi::cancelSwitchover() {
  auto snapshot = loadSnapshot();
  if (!snapshot.ok()) return text(503, "cannot read the DCS: " + snapshot.error().message);
  if (!snapshot->failover || snapshot->failover->scheduled_at.empty()) return text(404, "No scheduled switchover");
  auto deleted = dcs::compareAndDelete(dcs_, paths_.failover(), snapshot->failover->mod_revision);
  if (!deleted.ok()) return text(503, "failed to delete the switchover: " + deleted.error().message);
  if (!*deleted) return text(409, "The scheduled switchover changed meanwhile; not deleted");
  return text(200, "scheduled switchover deleted");
}

HttpResponse RestApi::readConfig() {
  auto got = dcs_.get(paths_.config());
  if (!got.ok()) return text(503, "cannot read the DCS: " + got.error().message);
  if (got->kvs.empty()) return text(502, "the cluster has no /config");
  return jsonResponse(200, got->kvs.front().value);
}

HttpResponse RestApi::patchConfig(const HttpRequest& request, bool replace) {
  auto body = bodyObject(request, false);
  if (!body.ok()) return text(400, body.error().message);
  auto got = dcs_.get(paths_.config());
  if (!got.ok()) return text(503, "cannot read the DCS: " + got.error().message);
  std::string base = "{}";
  dcs::Revision revision = 0;
  if (!replace) {
    if (got->kvs.empty()) return text(503, "the cluster has no /config to patch");
    base = got->kvs.front().value;  // garbage in the DCS counts as {}: the patch starts afresh
    revision = got->kvs.front().mod_revision;
  }
  auto merged = config::applyMergePatch(base, request.body);
  if (!merged.ok()) return text(400, merged.error().message);
  const std::string& serialized = *merged;
  // Refuse what the agents could not apply, with the reason.
  if (auto valid = config::validateDynamicJson(serialized, config_.bootstrap.dcs); !valid.ok()) {
    return text(400, "invalid configuration: " + valid.error().message);
  }
  if (replace) {
    if (auto put = dcs_.put(paths_.config(), serialized); !put.ok()) return text(502, "failed to write /config");
  } else {
    auto swapped = dcs::compareAndSet(dcs_, paths_.config(), serialized, revision);
    if (!swapped.ok()) return text(503, "failed to write /config: " + swapped.error().message);
    if (!*swapped) return text(409, "Conflict: /config changed meanwhile");
  }
  operations_.wake();
  return jsonResponse(200, serialized);
}

HttpResponse RestApi::clusterView() {
  auto snapshot = loadSnapshot();
  if (!snapshot.ok()) return text(503, "cannot read the DCS: " + snapshot.error().message);
  dcs::ClusterFlags flags;
  if (const auto dynamic = config::storedDynamic(snapshot->config_json, config_.bootstrap.dcs)) {
    flags.pause = dynamic->pause;
    flags.synchronous_mode = dynamic->config.synchronous_mode;
    flags.standby_cluster = dynamic->config.standby_cluster.has_value();
  }
  json::value doc = json::parse(dcs::clusterJson(*snapshot, flags));
  doc.get_object()["scope"] = config_.scope;
  return jsonResponse(200, json::serialize(doc));
}

HttpResponse RestApi::history() {
  auto snapshot = loadSnapshot();
  if (!snapshot.ok()) return text(503, "cannot read the DCS: " + snapshot.error().message);
  return jsonResponse(200, dcs::toJson(snapshot->history));
}

namespace {

// Waits for the HA loop's answer (bounded: the loop may be busy). The
// status for an error comes from `status_for`.
HttpResponse awaitOperation(std::future<agent::OperationOutcome> future, std::chrono::seconds limit, int ok_status,
                            int (*status_for)(ErrorCode)) {
  if (future.wait_for(limit) != std::future_status::ready) return text(503, "the agent did not answer in time");
  auto outcome = future.get();
  if (outcome.ok()) return text(ok_status, *outcome);
  return text(status_for(outcome.error().code), outcome.error().message);
}

int unavailable(ErrorCode) { return 503; }

}  // namespace

HttpResponse RestApi::restart(const HttpRequest& request) {
  auto body = bodyObject(request, true);
  if (!body.ok()) return text(400, body.error().message);
  agent::OperationRequest op;
  op.kind = agent::OperationRequest::Kind::kRestart;
  auto pending = boolField(*body, "restart_pending");
  auto role = stringField(*body, "role");
  auto version = stringField(*body, "postgres_version");
  auto schedule = stringField(*body, "schedule");
  if (!pending.ok()) return text(400, pending.error().message);
  if (!role.ok()) return text(400, role.error().message);
  if (!version.ok()) return text(400, version.error().message);
  if (!schedule.ok()) return text(400, schedule.error().message);
  if (!schedule->empty()) {
    const auto at = parseIsoTime(*schedule);
    if (!at) return text(400, "Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601");
    if (!hasTimezone(*schedule)) return text(400, "Timezone information is mandatory for the scheduled restart");
    if (*at < clock_.wallNow()) return text(422, "Cannot schedule restart in the past");
    if (board_.current()->pause) return text(500, "Can't schedule restart in the paused state");
    op.scheduled_at = at;
    op.schedule = *schedule;
  }
  if (!role->empty() && *role != "primary" && *role != "master" && *role != "replica" && *role != "standby_leader") {
    return text(400, "PostgreSQL role should be primary, standby_leader or replica");
  }
  op.only_if_pending = *pending;
  op.role = *role == "master" ? "primary" : *role;
  op.postgres_version = *version;
  if (op.scheduled_at) {
    return awaitOperation(operations_.submit(op), std::chrono::seconds(30), 202, [](ErrorCode code) {
      return code == ErrorCode::kConflict ? 409 : code == ErrorCode::kInvalidArgument ? 500 : 503;
    });
  }
  return awaitOperation(operations_.submit(op), std::chrono::seconds(120), 200, unavailable);
}

HttpResponse RestApi::cancelRestart() {
  agent::OperationRequest op;
  op.kind = agent::OperationRequest::Kind::kCancelRestart;
  return awaitOperation(operations_.submit(op), std::chrono::seconds(30), 200,
                        [](ErrorCode code) { return code == ErrorCode::kNotFound ? 404 : 503; });
}

HttpResponse RestApi::reload() {
  agent::OperationRequest op;
  op.kind = agent::OperationRequest::Kind::kReload;
  (void)operations_.submit(op);
  return text(202, "reload scheduled");
}

HttpResponse RestApi::reinitialize(const HttpRequest& request) {
  auto body = bodyObject(request, true);
  if (!body.ok()) return text(400, body.error().message);
  auto force = boolField(*body, "force");
  auto from_leader = boolField(*body, "from_leader");
  if (!force.ok()) return text(400, force.error().message);
  if (!from_leader.ok()) return text(400, from_leader.error().message);
  agent::OperationRequest op;
  op.kind = agent::OperationRequest::Kind::kReinitialize;
  op.force = *force;
  op.from_leader = *from_leader;
  return awaitOperation(operations_.submit(op), std::chrono::seconds(10), 200, unavailable);
}

}  // namespace pgtandem::rest
