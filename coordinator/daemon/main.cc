// dc-coordinator: serves the site operations over gRPC (proto/coordinator.proto)
// on the sites file's coordinator.listen, and runs the sites file's
// scheduled backups and drills (`backups:`). It keeps no state: the journals
// live in the DCs' DCSs, so it can be restarted, or run anywhere that reaches
// both DCs, and dcctl runs the same code itself when no daemon answers.

#include <signal.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/util/log.h"
#include "coordinator/backup_runner.h"
#include "coordinator/rpc/coordinator_rpc.h"
#include "coordinator/run_operation.h"
#include "coordinator/site_operations.h"

using namespace pgtandem;

int main(int argc, char** argv) {
  CLI::App app{"dc-coordinator: the site operations of both data centers, over gRPC"};
  std::string sites_file;
  app.add_option("-s,--sites", sites_file, "the sites file; default $PGTANDEM_SITES, else /etc/pgtandem/sites.yml");
  CLI11_PARSE(app, argc, argv);
  sites_file = coordinator::sitesFilePath(sites_file);
  auto sites = coordinator::loadSitesFile(sites_file);
  if (!sites.ok()) {
    std::cerr << "dc-coordinator: " << sites.error().message << "\n";
    return 2;
  }
  for (const auto& w : sites->warnings) spdlog::warn("{}", w.toString());
  if (sites->listen.empty()) {
    std::cerr << "dc-coordinator: " << sites_file << ": coordinator.listen is required\n";
    return 2;
  }
  // SIGTERM and SIGINT end the daemon; they are taken by a waiting thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto peers = coordinator::makeRealSitePeers();
  auto server = coordinator::CoordinatorServer::start(sites->listen, *sites, coordinator::etcdDcsFactory(), *peers,
                                                      RealClock::instance());
  if (!server.ok()) {
    std::cerr << "dc-coordinator: " << server.error().message << "\n";
    return 1;
  }
  spdlog::info("dc-coordinator listening on {} for {} and {}{}", sites->listen, sites->sites[0].name,
               sites->sites[1].name,
               !sites->tls.serverTls() ? " (plain text)"
               : sites->tls.cafile.empty() ? " (TLS)"
                                           : " (TLS, client certificates required)");
  const bool loopback = sites->listen.rfind("127.", 0) == 0 || sites->listen.rfind("[::1]", 0) == 0 ||
                        sites->listen.rfind("localhost:", 0) == 0;
  if (!loopback && (!sites->tls.serverTls() || sites->tls.cafile.empty())) {
    spdlog::warn("{} is not a loopback address and client certificates are not required: whoever reaches it can "
                 "fence and promote DCs (set coordinator.certfile, keyfile and cafile)",
                 sites->listen);
  }
  // The scheduled backups and drills: one run at a time, on this thread.
  std::atomic<bool> stopping{false};
  std::mutex wake_mutex;
  std::condition_variable wake;
  std::thread scheduler;
  if (sites->backups.any()) {
    spdlog::info("scheduled backups with {}{}{}{}", sites->backups.config,
                 sites->backups.full ? ", full " + sites->backups.full->text : "",
                 sites->backups.incr ? ", incr " + sites->backups.incr->text : "",
                 sites->backups.drill ? ", drill " + sites->backups.drill->text : "");
    scheduler = std::thread([&] {
      auto runner = coordinator::makeDcBackupRunner(sites->backups, [&] { return stopping.load(); });
      while (!stopping) {
        coordinator::SiteOperations operations(*sites, coordinator::etcdDcsFactory(), *peers, RealClock::instance());
        auto ran = operations.runScheduled(*runner);
        if (!ran.ok()) spdlog::error("scheduled run: {}", ran.error().message);
        else if (*ran) spdlog::info("scheduled run done: {}", **ran);
        std::unique_lock lock(wake_mutex);
        wake.wait_for(lock, std::chrono::seconds(15), [&] { return stopping.load(); });
      }
    });
  }
  std::thread stopper([&] {
    int signo = 0;
    sigwait(&stop_signals, &signo);
    spdlog::info("signal {}: stopping", signo);
    {
      std::lock_guard lock(wake_mutex);
      stopping = true;
    }
    wake.notify_all();
    (*server)->stop();
  });
  (*server)->wait();
  stopper.join();
  if (scheduler.joinable()) scheduler.join();
  return 0;
}
