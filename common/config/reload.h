#pragma once
// What a re-read patroni.yml changes in a running agent (SIGHUP, POST
// /reload), as Patroni applies it: tags, log level, the REST API's
// authentication, allowlist and TLS, PostgreSQL's parameters, pg_hba,
// credentials, callbacks and replica creation take effect at once; what
// names the node or where it listens or stores data (name, scope,
// namespace, the DCS, listen addresses, data_dir, bin_dir, watchdog) keeps
// its running value until the agent restarts; bootstrap is read only when a
// cluster is created. Pure.

#include <string>
#include <vector>

#include "common/config/config.h"

namespace pgtandem::config {

struct ReloadPlan {
  Config next;                            // the running configuration with the live changes applied
  std::vector<std::string> applied;       // keys whose new value takes effect now
  std::vector<std::string> need_restart;  // keys whose new value waits for an agent restart
  std::vector<std::string> ignored;       // bootstrap keys: read only when a cluster is created

  bool restApiTlsChanged(const Config& running) const;
};

ReloadPlan planReload(const Config& running, const Config& reread);

}  // namespace pgtandem::config
