#!/usr/bin/env bash
# Runs every pgtandem test on a fresh Debian 12 machine: installs the
# dependencies, builds once with AddressSanitizer and UndefinedBehaviorSanitizer,
# and runs the whole suite (which starts its own etcd and PostgreSQL on free
# loopback ports). Run as root; tests that need PostgreSQL drop to `postgres`.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
build_dir=${PGTANDEM_TEST_BUILD_DIR:-$root/build-test}

"$root/scripts/install-deps.sh"

# Tests run PostgreSQL as the postgres user: it must reach the build tree.
chmod o+rx "$root" 2>/dev/null || true
if ! runuser -u postgres -- test -x "$root"; then
  blocking=$root
  while [[ $blocking != / ]] && ! runuser -u postgres -- test -x "$(dirname "$blocking")"; do blocking=$(dirname "$blocking"); done
  echo "test.sh: the postgres user cannot reach $root: $blocking is not searchable by others" \
    "(/root is 0700 on Debian). Clone pgtandem where postgres can traverse (/srv, /opt, /home/<you>)," \
    "or run: chmod o+x $blocking" >&2
  exit 1
fi

cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Debug -DPGTANDEM_SANITIZE=ON
cmake --build "$build_dir" -j "$(nproc)"

# Every test's temporary directory lives under one directory per run. A
# test that crashes (an AddressSanitizer abort skips its teardown) leaves
# etcd, PostgreSQL or agents running; they all name a path under it on their
# command line, so they are found and stopped here, whatever the outcome.
shm=/dev/shm
[[ -d $shm ]] || shm=/tmp
run_dir=$(mktemp -d "$shm/pgtandem-run.XXXXXX")
chmod 1777 "$run_dir"  # like /tmp: tests running as postgres make their directories here too
export PGTANDEM_TEST_TMPDIR=$run_dir
reap() {
  local rc=$? pids
  pids=$(pgrep -f -- "$run_dir" || true)
  if [[ -n $pids ]]; then
    echo "test.sh: stopping $(wc -w <<<"$pids") process(es) a test left behind: $(tr '\n' ' ' <<<"$pids")" >&2
    kill -KILL $pids 2>/dev/null || true
  fi
  rm -rf "$run_dir"
  exit "$rc"
}
trap reap EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
(cd "$build_dir" && ctest --output-on-failure --timeout 900 "$@")

# The fuzzers (libFuzzer, clang), for a bounded time each from their seed
# corpus: REST requests, then dc-backup's inputs. PGTANDEM_FUZZ_SECONDS=0
# skips them.
fuzz_seconds=${PGTANDEM_FUZZ_SECONDS:-60}
if ((fuzz_seconds > 0)); then
  fuzz_dir=${PGTANDEM_FUZZ_BUILD_DIR:-$root/build-fuzz}
  cmake -S "$root" -B "$fuzz_dir" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ -DPGTANDEM_FUZZ=ON
  cmake --build "$fuzz_dir" -j "$(nproc)" --target rest_request_fuzz
  corpus=$(mktemp -d)
  cp "$root"/tests/dc-agent/rest/fuzz_corpus/* "$corpus"/
  (cd "$corpus" && "$fuzz_dir/tests/rest_request_fuzz" \
    -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "$corpus" 2>&1 | tail -15)
  rm -rf "$corpus"
  # What dc-backup reads from outside: tar streams, manifests, its config, etcd's answers.
  cmake --build "$fuzz_dir" -j "$(nproc)" --target backup_input_fuzz
  corpus=$(mktemp -d)
  cp "$root"/tests/backup/fuzz_corpus/* "$corpus"/
  (cd "$corpus" && "$fuzz_dir/tests/backup_input_fuzz" \
    -max_total_time="$((fuzz_seconds / 2 + 1))" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "$corpus" 2>&1 | tail -15)
  rm -rf "$corpus"
fi
