// dc-agent: the per-node HA agent.
//   dc-agent [--validate-config] patroni.yml
// Runs as the postgres user. Wakes on DCS changes (etcd watch), on the
// postmaster's death (pidfd) and every loop_wait; SIGTERM stops gracefully.

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "common/config/config.h"
#include "common/config/dynamic_json.h"
#include "common/config/reload.h"
#include "common/config/etcd_options.h"
#include "common/pg/postgres.h"
#include "common/util/log.h"
#include "dc-agent/ha/agent.h"
#include "dc-agent/ha/peer_site.h"
#include "dc-agent/ha/real_postgres.h"
#include "dc-agent/rest/http_server.h"
#include "dc-agent/rest/failsafe_peers.h"
#include "dc-agent/rest/rest_api.h"
#include "standby/remote_source.h"

namespace {

using namespace pgtandem;

// The signals the loop reads through a signalfd. They are blocked in main()
// before any thread exists (gRPC starts threads), so that no thread takes one
// with its default action.
const sigset_t& handledSignals() {
  static const sigset_t set = [] {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGHUP);
    return s;
  }();
  return set;
}

// A standby-cluster member refuses to start under a name the other DC uses
// (standby/member_names.h). When the other DC cannot be asked, it starts:
// a DR site must come up while the primary DC is down.
Status checkNameAcrossDcs(const config::Config& config, dcs::Dcs& dcs, const dcs::ClusterPaths& paths,
                          agent::RealPostgres& postgres) {
  config::DynamicConfig dynamic = config.bootstrap.dcs;
  if (auto stored = dcs.get(paths.config()); stored.ok() && !stored->kvs.empty()) {
    if (auto parsed = config::parseDynamicJson(stored->kvs[0].value, config.bootstrap.dcs); parsed.ok()) {
      dynamic = parsed->config;
    }
  }
  auto remote = standby::remotePrimary(dynamic, agent::kRemotePrimary);
  if (!remote || remote->conn_url.empty()) return okStatus();
  auto names = postgres.namesAt(*remote);
  if (!names.ok()) {
    spdlog::warn("cannot check that the name '{}' is unique across both DCs: {}", config.name, names.error().toString());
    return okStatus();
  }
  const auto pg = postgres.observe();
  if (auto why = standby::nameCollision(config.name, *names, pg.running && pg.following == agent::kRemotePrimary)) {
    return makeError(ErrorCode::kConfig, config.source_file + ": name: " + *why);
  }
  return okStatus();
}

rest::HttpServerOptions httpOptions(const config::Config& config) {
  rest::HttpServerOptions http;
  http.listen = config.restapi.listen;
  http.certfile = config.restapi.certfile;
  http.keyfile = config.restapi.keyfile;
  http.keyfile_password = config.restapi.keyfile_password;
  http.cafile = config.restapi.cafile;
  http.verify_client = config.restapi.verify_client.empty() ? "none" : config.restapi.verify_client;
  return http;
}

// `config` is the running configuration: every component reads it, and a
// reload (SIGHUP, POST /reload) changes it in place on the loop's thread.
int runAgent(config::Config config) {
  auto client = dcs::EtcdDcs::create(
      config::etcdOptions(config.etcd, std::chrono::seconds(std::max(1, config.bootstrap.dcs.retry_timeout))));
  if (!client.ok()) {
    spdlog::critical("{}", client.error().message);
    return 2;
  }
  PosixProcessRunner runner;
  agent::RealPostgres postgres(config, runner);
  agent::ScriptCallbacks callbacks(config.postgresql.callbacks, config.scope, runner);
  agent::Agent ha(config, **client, postgres, callbacks, RealClock::instance());
  if (auto unique = checkNameAcrossDcs(config, **client, ha.paths(), postgres); !unique.ok()) {
    spdlog::critical("{}", unique.error().message);
    return 2;
  }

  const int signal_fd = signalfd(-1, &handledSignals(), SFD_CLOEXEC);
  const int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  const auto wake = [wake_fd] {
    const uint64_t one = 1;
    (void)!::write(wake_fd, &one, sizeof one);
  };

  // The REST API answers from the status the loop publishes after each
  // cycle, and hands operations (restart, reload, reinitialize) to the loop.
  agent::StatusBoard board;
  agent::OperationMailbox operations(wake);
  ha.attachStatusBoard(&board);
  ha.runLongActionsOnWorker(wake);
  ha.attachOperations(&operations);
  // The last line of defence of the lease deadline (lease_deadline.h): it
  // fires 200 ms after the deadline, when the loop has not demoted by then.
  agent::ThreadLeaseGuard guard([&postgres] { postgres.refuseWritesNow(); }, std::chrono::milliseconds(200));
  ha.attachLeaseGuard(&guard);
  auto peer_sites = agent::makeEtcdPeerSiteReader(config.etcd);
  ha.attachPeerSiteReader(peer_sites.get());
  agent::Watchdog watchdog(config.watchdog, agent::makeLinuxWatchdogDevice(config.watchdog.device), RealClock::instance());
  ha.attachWatchdog(&watchdog);
  auto site_memory = agent::makeFileSiteMemory(config.postgresql.data_dir,
                                               agent::dcsIdentity(config.etcd.hosts, config.namespace_, config.scope));
  ha.attachSiteMemory(site_memory.get());
  agent::FailsafeHeartbeats failsafe_heartbeats;
  auto failsafe_peers = rest::makeHttpFailsafePeers(config);
  ha.attachFailsafe(failsafe_peers.get(), &failsafe_heartbeats);
  auto api = rest::RestApi::create(config, **client, board, operations, RealClock::instance());
  if (!api.ok()) {
    spdlog::critical("{}", api.error().message);
    return 2;
  }
  (*api)->attachFailsafeHeartbeats(&failsafe_heartbeats);
  rest::RestApi* handler = api->get();
  auto server = rest::HttpServer::start(
      httpOptions(config), {[handler](const rest::HttpRequest& r) { return handler->handle(r); }, &rest::RestApi::needsWorker});
  if (!server.ok()) {
    spdlog::critical("{}", server.error().message);
    return 2;
  }

  // patroni.yml re-read: checked whole first (errors name file, line and
  // key, and change nothing), then each live part applied.
  ha.attachConfigReloader([&]() -> Result<std::string> {
    auto loaded = config::loadConfigFile(config.source_file, config::processEnvironment());
    if (!loaded.ok()) return loaded.error();
    for (const auto& warning : loaded->warnings) spdlog::warn("{}", warning.toString());
    const config::ReloadPlan plan = config::planReload(config, loaded->config);
    if (plan.restApiTlsChanged(config)) PGT_TRY((*server)->reloadTls(httpOptions(plan.next)));
    PGT_TRY((*api)->applyConfig(plan.next));
    config = plan.next;
    callbacks.setCommands(config.postgresql.callbacks);
    setLogLevel(config.log_level);
    for (const auto& key : plan.need_restart) {
      spdlog::warn("{}: {} changed: it takes effect when the agent restarts", config.source_file, key);
    }
    for (const auto& key : plan.ignored) {
      spdlog::info("{}: {} changed: it is read only when a cluster is created", config.source_file, key);
    }
    std::string summary;
    for (const auto& key : plan.applied) summary += (summary.empty() ? "" : ", ") + key;
    return "patroni.yml re-read: " + (summary.empty() ? std::string("no change to apply") : summary + " applied");
  });

  // The watch wakes the loop at once when the cluster changes (a leader key
  // that disappears starts the race now, not at the next tick).
  const std::string leader_key = ha.paths().leader();
  const std::string failover_key = ha.paths().failover();
  const std::string config_key = ha.paths().config();
  const std::string site_key = ha.paths().site();  // fencing takes effect at once
  auto watch = (*client)->watchPrefix(ha.paths().base(), 0, [&](const dcs::WatchUpdate& update) {
    bool relevant = update.kind == dcs::WatchUpdate::Kind::kResync;
    for (const auto& e : update.events) {
      relevant |= e.kv.key == leader_key || e.kv.key == failover_key || e.kv.key == config_key || e.kv.key == site_key;
    }
    if (relevant) wake();
  });
  if (!watch.ok()) spdlog::warn("cannot watch the DCS ({}); relying on loop_wait", watch.error().toString());

  spdlog::info("dc-agent {} starting for cluster {}", config.name, config.scope);
  for (;;) {
    ha.runCycle();
    // While a long action runs, PostgreSQL (and its pidfd) belong to the worker.
    const int pidfd = ha.busy() ? -1 : postgres.postmasterPidfd();
    pollfd fds[3] = {{signal_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}, {pidfd, POLLIN, 0}};
    const int count = fds[2].fd >= 0 ? 3 : 2;
    const auto until_next = ha.nextCycleBy() - RealClock::instance().monotonicNow();
    const int timeout_ms =
        static_cast<int>(std::max<long>(0, std::chrono::duration_cast<std::chrono::milliseconds>(until_next).count()));
    const int ready = ::poll(fds, count, timeout_ms);
    if (ready < 0 && errno != EINTR) {
      spdlog::error("poll failed: {}", std::strerror(errno));
    }
    if (fds[1].revents & POLLIN) {
      uint64_t drained;
      (void)!::read(wake_fd, &drained, sizeof drained);
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info{};
      (void)!::read(signal_fd, &info, sizeof info);
      if (info.ssi_signo == SIGHUP) {
        spdlog::info("SIGHUP: re-reading {} and reloading PostgreSQL's configuration", config.source_file);
        agent::OperationRequest reload;
        reload.kind = agent::OperationRequest::Kind::kReload;
        (void)operations.submit(reload);
        continue;
      }
      spdlog::info("signal {}: stopping", info.ssi_signo);
      watch = Result<std::unique_ptr<dcs::Watch>>(makeError(ErrorCode::kUnavailable, "stopping"));
      auto stopped = ha.shutdown();
      if (!stopped.ok()) spdlog::error("graceful stop: {}", stopped.error().toString());
      return stopped.ok() ? 0 : 1;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  sigprocmask(SIG_BLOCK, &handledSignals(), nullptr);
  CLI::App app{"pgtandem dc-agent: keeps one PostgreSQL leader per data center"};
  std::string config_file;
  bool validate_only = false;
  app.add_option("config", config_file, "Patroni-format configuration file (patroni.yml)")->required();
  app.add_flag("--validate-config", validate_only, "check the configuration file and exit");
  // As `patroni --version`: Ansible roles and monitoring call it.
  app.set_version_flag("--version", std::string("dc-agent ") + agent::kAgentVersion);
  CLI11_PARSE(app, argc, argv);

  auto loaded = config::loadConfigFile(config_file, config::processEnvironment());
  if (!loaded.ok()) {
    std::cerr << loaded.error().message << "\n";
    return 2;
  }
  for (const auto& warning : loaded->warnings) std::cerr << "warning: " << warning.toString() << "\n";
  if (validate_only) {
    std::cout << config_file << ": configuration is valid\n";
    return 0;
  }
  if (auto root = pg::refuseRoot("dc-agent"); !root.ok()) {
    std::cerr << root.error().message << "\n";
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);  // libpq and gRPC sockets
  setLogLevel(loaded->config.log_level);
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  return runAgent(loaded->config);
}
