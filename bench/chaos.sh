#!/usr/bin/env bash
# The fault loop on the lab (issue 16): N cycles of each fault, in
# synchronous and asynchronous mode, on three lab hosts (network namespaces)
# each running an etcd member, PostgreSQL 15 and dc-agent. Prints a table
# (fault, cycles, median and max time to writable, two-writer instants,
# acknowledged writes lost), then one JSON line: cycles, two_writer_instants,
# acked_lost_sync, acked_lost_async, max_time_to_writable_s.
# Run as root on Debian 12.
#
#   bench/chaos.sh [CYCLES] [--timings TTL/LOOP_WAIT/RETRY_TIMEOUT]
#                               (default 5 cycles, at most 100; timings 10/1/3)
#
# Each cycle of each fault takes about 20-40 s; bounded by a timeout of
# 30 minutes plus 5 minutes per cycle.
set -euo pipefail
cd "$(dirname "$0")/.."
cycles=5
timings=10/1/3
while (($#)); do
  case $1 in
    --timings) timings=${2:-}; shift 2 || { echo "chaos.sh: --timings needs a value" >&2; exit 2; } ;;
    *) cycles=$1; shift ;;
  esac
done
[[ $cycles =~ ^[0-9]+$ ]] && ((cycles >= 1 && cycles <= 100)) || { echo "chaos.sh: CYCLES must be 1..100" >&2; exit 2; }
if [[ ! $timings =~ ^([0-9]+)/([0-9]+)/([0-9]+)$ ]] || ((BASH_REMATCH[1] < 4 || BASH_REMATCH[1] > 60 || BASH_REMATCH[2] < 1 ||
    BASH_REMATCH[3] < 1 || BASH_REMATCH[2] + 2 * BASH_REMATCH[3] > BASH_REMATCH[1])); then
  echo "chaos.sh: --timings must be TTL/LOOP_WAIT/RETRY_TIMEOUT with 4 <= TTL <= 60 and LOOP_WAIT + 2*RETRY_TIMEOUT <= TTL" >&2
  exit 2
fi
./scripts/install-deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DPGTANDEM_SANITIZE=OFF >/dev/null
cmake --build build-release -j "$(nproc)" --target dc-agent fault_lab_test
chmod o+rx . 2>/dev/null || true
run_dir=$(mktemp -d /dev/shm/pgtandem-chaos.XXXXXX)
chmod 1777 "$run_dir"
cleanup() {
  local pids
  pids=$(pgrep -f -- "$run_dir" || true)
  [[ -n $pids ]] && kill -KILL $pids 2>/dev/null || true
  rm -rf "$run_dir"
}
trap cleanup EXIT
log=$run_dir/chaos.log
set +e
PGTANDEM_TEST_TMPDIR=$run_dir PGTANDEM_FAULT_CYCLES=$cycles PGTANDEM_FAULT_TIMINGS=$timings \
  timeout $((1800 + 300 * cycles)) ./build-release/tests/fault_lab_test >"$log" 2>&1
rc=$?
set -e
echo "timings (ttl/loop_wait/retry_timeout): $timings, $cycles cycles of each fault"
grep -E '^(sync|async): ' "$log" || true
echo
grep -E '^\||^\{' "$log" || true
if ((rc != 0)); then
  echo "chaos.sh: the fault loop failed (exit $rc); the end of its log:" >&2
  grep -v '^\[20' "$log" | tail -40 >&2
fi
exit "$rc"
