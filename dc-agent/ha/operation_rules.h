#pragma once
// When the agent runs an operation asked from outside its loop (POST
// /restart, /reload, /reinitialize, DELETE /restart): one pure, first-match
// table of conditions, as decision.h is for the HA loop. The loop observes,
// asks judgeOperation, then does what it says (agent.cc runOperation).
// Messages are Patroni's, so its tools and runbooks read them.

#include <string>
#include <vector>

#include "common/util/result.h"
#include "dc-agent/ha/operations.h"

namespace pgtandem::agent {

struct OperationContext {
  bool data_initialized = false;
  bool pg_running = false;
  bool pg_primary = false;
  bool pending_restart = false;  // a parameter waits for a restart
  int server_version = 0;        // 150020; 0 when unknown
  bool leads = false;            // this member holds the leader lock
  bool standby_cluster = false;  // this DC is a standby cluster
  bool paused = false;           // maintenance mode
  bool restart_scheduled = false;
  bool cluster_unlocked = false;  // nobody holds the leader lock
};

struct OperationVerdict {
  enum class Type {
    kRun,       // do it now
    kSchedule,  // keep the restart for its time
    kRefuse,    // answer `code` with `message`
  };
  Type type = Type::kRefuse;
  ErrorCode code = ErrorCode::kConflict;
  std::string message;
  std::string rule;  // "restart.role", ...
};

// The member's role as a restart request names it: primary, replica,
// standby_leader, or "" when PostgreSQL is down.
std::string restartRole(const OperationContext& context);

OperationVerdict judgeOperation(const OperationRequest& request, const OperationContext& context);

// The rule ids in table order (for tests and docs).
std::vector<std::string> operationRuleIds();

}  // namespace pgtandem::agent
