#include "dc-agent/ha/operation_rules.h"

#include "common/pg/postgres.h"

#include <cstdio>
#include <functional>
#include <optional>

namespace pgtandem::agent {

namespace {

using Kind = OperationRequest::Kind;
using Type = OperationVerdict::Type;

struct Rule {
  const char* id;
  Kind kind;
  // nullopt: the rule does not apply; the next one is asked.
  std::function<std::optional<OperationVerdict>(const OperationRequest&, const OperationContext&)> when;
};

OperationVerdict verdict(Type type, const char* rule, std::string message = "", ErrorCode code = ErrorCode::kConflict) {
  return OperationVerdict{type, code, std::move(message), rule};
}

OperationVerdict refuse(const char* rule, std::string message, ErrorCode code = ErrorCode::kConflict) {
  return verdict(Type::kRefuse, rule, std::move(message), code);
}

using pg::versionNumber;

const std::vector<Rule>& rules() {
  static const std::vector<Rule> table = {
      {"reload.run", Kind::kReload,
       [](const OperationRequest&, const OperationContext&) -> std::optional<OperationVerdict> {
         return verdict(Type::kRun, "reload.run");
       }},
      {"cancel_restart.none", Kind::kCancelRestart,
       [](const OperationRequest&, const OperationContext& c) -> std::optional<OperationVerdict> {
         if (c.restart_scheduled) return std::nullopt;
         return refuse("cancel_restart.none", "no restarts are scheduled", ErrorCode::kNotFound);
       }},
      {"cancel_restart.run", Kind::kCancelRestart,
       [](const OperationRequest&, const OperationContext&) -> std::optional<OperationVerdict> {
         return verdict(Type::kRun, "cancel_restart.run");
       }},
      {"restart.scheduled_twice", Kind::kRestart,
       [](const OperationRequest& r, const OperationContext& c) -> std::optional<OperationVerdict> {
         if (!r.scheduled_at || !c.restart_scheduled) return std::nullopt;
         return refuse("restart.scheduled_twice", "Another restart is already scheduled");
       }},
      {"restart.scheduled_paused", Kind::kRestart,
       [](const OperationRequest& r, const OperationContext& c) -> std::optional<OperationVerdict> {
         if (!r.scheduled_at || !c.paused) return std::nullopt;
         return refuse("restart.scheduled_paused", "Can't schedule restart in the paused state", ErrorCode::kInvalidArgument);
       }},
      {"restart.schedule", Kind::kRestart,
       [](const OperationRequest& r, const OperationContext&) -> std::optional<OperationVerdict> {
         if (!r.scheduled_at) return std::nullopt;
         return verdict(Type::kSchedule, "restart.schedule", "Restart scheduled");
       }},
      {"restart.not_initialized", Kind::kRestart,
       [](const OperationRequest&, const OperationContext& c) -> std::optional<OperationVerdict> {
         if (c.data_initialized) return std::nullopt;
         return refuse("restart.not_initialized", "postgres is not initialized");
       }},
      {"restart.role", Kind::kRestart,
       [](const OperationRequest& r, const OperationContext& c) -> std::optional<OperationVerdict> {
         const std::string role = restartRole(c);
         if (r.role.empty() || r.role == role) return std::nullopt;
         return refuse("restart.role", "restart conditions are not satisfied: role is " + role);
       }},
      {"restart.not_pending", Kind::kRestart,
       [](const OperationRequest& r, const OperationContext& c) -> std::optional<OperationVerdict> {
         if (!r.only_if_pending || c.pending_restart) return std::nullopt;
         return refuse("restart.not_pending", "restart conditions are not satisfied: no restart pending");
       }},
      {"restart.bad_version", Kind::kRestart,
       [](const OperationRequest& r, const OperationContext&) -> std::optional<OperationVerdict> {
         if (r.postgres_version.empty() || versionNumber(r.postgres_version)) return std::nullopt;
         return refuse("restart.bad_version", "postgres_version must look like 15.20", ErrorCode::kInvalidArgument);
       }},
      {"restart.version_not_older", Kind::kRestart,
       [](const OperationRequest& r, const OperationContext& c) -> std::optional<OperationVerdict> {
         if (r.postgres_version.empty() || c.server_version <= 0) return std::nullopt;
         if (c.server_version < *versionNumber(r.postgres_version)) return std::nullopt;
         return refuse("restart.version_not_older", "restart conditions are not satisfied: version is not older");
       }},
      {"restart.run", Kind::kRestart,
       [](const OperationRequest&, const OperationContext&) -> std::optional<OperationVerdict> {
         return verdict(Type::kRun, "restart.run");
       }},
      {"reinitialize.no_leader", Kind::kReinitialize,
       [](const OperationRequest&, const OperationContext& c) -> std::optional<OperationVerdict> {
         if (!c.cluster_unlocked) return std::nullopt;
         return refuse("reinitialize.no_leader", "Cluster has no leader, can not reinitialize");
       }},
      {"reinitialize.leader", Kind::kReinitialize,
       [](const OperationRequest&, const OperationContext& c) -> std::optional<OperationVerdict> {
         if (!c.leads) return std::nullopt;
         return refuse("reinitialize.leader", "I am the leader, can not reinitialize");
       }},
      {"reinitialize.run", Kind::kReinitialize,
       [](const OperationRequest&, const OperationContext&) -> std::optional<OperationVerdict> {
         return verdict(Type::kRun, "reinitialize.run");
       }},
  };
  return table;
}

}  // namespace

std::string restartRole(const OperationContext& c) {
  if (c.leads && c.standby_cluster) return "standby_leader";
  if (!c.pg_running) return "";
  return c.pg_primary ? "primary" : "replica";
}

OperationVerdict judgeOperation(const OperationRequest& request, const OperationContext& context) {
  for (const Rule& rule : rules()) {
    if (rule.kind != request.kind) continue;
    if (auto v = rule.when(request, context)) return *v;
  }
  return refuse("unknown", "unknown operation", ErrorCode::kInvalidArgument);
}

std::vector<std::string> operationRuleIds() {
  std::vector<std::string> ids;
  for (const Rule& rule : rules()) ids.emplace_back(rule.id);
  return ids;
}

}  // namespace pgtandem::agent
