#!/usr/bin/env bash
# Measures pgtandem against Patroni (Debian's patroni 3.0.2) on this machine,
# in one run, with identical timings. Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
for p in patroni wrk; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    apt-get install -y --no-install-recommends "$p"
  fi
done
systemctl disable --now patroni >/dev/null 2>&1 || true
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DPGTANDEM_SANITIZE=OFF >/dev/null
cmake --build build-release -j "$(nproc)" --target dc-agent failover_bench
chmod o+rx . 2>/dev/null || true
./build-release/bench/failover_bench --dc-agent "$(pwd)/build-release/dc-agent/dc-agent" "$@"
