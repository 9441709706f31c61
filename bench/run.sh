#!/usr/bin/env bash
# Measures pgtandem against Patroni (Debian's patroni 3.0.2) on this machine,
# in one run, with identical timings. Run as root on Debian 12.
#
#   bench/run.sh [failover] [--trials N ...]   failover, switchover, REST, RSS, CPU
#   bench/run.sh dc-switchover [--trials N]    planned DC switchover (Patroni by hand)
#   bench/run.sh soak [--minutes N --ttl S ...]  loaded soak: false failovers at a ttl
set -euo pipefail
cd "$(dirname "$0")/.."
which=failover
if [[ ${1:-} == failover || ${1:-} == dc-switchover || ${1:-} == soak ]]; then which=$1; shift; fi
./scripts/install-deps.sh
for p in patroni wrk; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    apt-get install -y --no-install-recommends "$p"
  fi
done
systemctl disable --now patroni >/dev/null 2>&1 || true
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DPGTANDEM_SANITIZE=OFF >/dev/null
cmake --build build-release -j "$(nproc)" --target dc-agent dcctl failover_bench dc_switchover_bench soak_bench
chmod o+rx . 2>/dev/null || true
bin=$(pwd)/build-release
if [[ $which == failover ]]; then
  "$bin/bench/failover_bench" --dc-agent "$bin/dc-agent/dc-agent" "$@"
elif [[ $which == soak ]]; then
  "$bin/bench/soak_bench" --dc-agent "$bin/dc-agent/dc-agent" "$@"
else
  "$bin/bench/dc_switchover_bench" --dc-agent "$bin/dc-agent/dc-agent" --dcctl "$bin/ctl/dcctl" "$@"
fi
