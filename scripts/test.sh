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

cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Debug -DPGTANDEM_SANITIZE=ON
cmake --build "$build_dir" -j "$(nproc)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build_dir"
ctest --output-on-failure --timeout 900 "$@"
