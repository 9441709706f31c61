#pragma once
// The command-line options every benchmark takes.

#include <signal.h>

#include <CLI/CLI.hpp>
#include <string>

#include "bench/bench_cluster.h"
#include "common/util/log.h"

namespace pgtandem::bench {

struct CommonOptions {
  std::string dc_agent;
  std::string patroni = "/usr/bin/patroni";
  int trials = 3;
  Timings timings;
};

inline void addCommonOptions(CLI::App& app, CommonOptions& o, const std::string& trials_help) {
  app.add_option("--dc-agent", o.dc_agent, "dc-agent binary (a Release build)")->required();
  app.add_option("--patroni", o.patroni, "patroni executable");
  app.add_option("--trials", o.trials, trials_help);
  app.add_option("--ttl", o.timings.ttl);
  app.add_option("--loop-wait", o.timings.loop_wait);
  app.add_option("--retry-timeout", o.timings.retry_timeout);
}

// After parsing: our libraries' logs quiet, no SIGPIPE from closed sockets.
inline void quietBenchProcess() {
  spdlog::set_level(spdlog::level::warn);
  ::signal(SIGPIPE, SIG_IGN);
}

}  // namespace pgtandem::bench
