#!/usr/bin/env bash
# The README's main command as a new user runs it: from a copy of the source
# tree as a fresh clone has it, `./playground up` alone installs, builds and
# starts both DCs. Then rows written through dc1's write port are read from
# dc2's read port, `dcctl site switchover` moves the primary DC to dc2 and
# back without losing a row, `up` run again changes nothing, and `down`
# stops every process it started.
#
#   tests/playground/playground_test.sh SOURCE_DIR
set -euo pipefail

src=$(cd "${1:?usage: $0 SOURCE_DIR}" && pwd)
work=$(mktemp -d /var/tmp/pgtandem-playground-test.XXXXXX)
chmod 755 "$work"
clone=$work/pgtandem
export PGTANDEM_PLAYGROUND=$work/home
log=$work/test.log

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

cleanup() {
  local rc=$?
  if [[ -x $clone/playground ]]; then "$clone/playground" down >/dev/null 2>&1 || true; fi
  if ((rc != 0)) && [[ -d $PGTANDEM_PLAYGROUND/log ]]; then
    for f in "$PGTANDEM_PLAYGROUND"/log/*.log; do echo "=== $f (last lines)"; tail -n 15 "$f"; done
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

# A port offset that leaves every playground port free (they are spread
# over 12379..28003 plus the offset; ss lists what listens).
listening=$(ss -Htln | awk '{print $4}' | sed 's/.*://' | sort -u)
offset=
for candidate in 1000 2000 3000 4000 5000 6000 7000 8000 9000 500 1500 2500; do
  busy=0
  for base in 12379 12380 22379 22380 15000 15001 25000 25001 17000 15431 15432 15433 18001 18002 18003 25431 25432 28001 28002; do
    if grep -qx "$((base + candidate))" <<<"$listening"; then busy=1; break; fi
  done
  if ((busy == 0)); then offset=$candidate; break; fi
done
[[ -n $offset ]] || fail "no free set of playground ports"
export PGTANDEM_PLAYGROUND_PORT_OFFSET=$offset
port() { echo $(($1 + offset)); }

step "a fresh copy of the source tree (what git tracks, as it is now)"
mkdir -p "$clone"
(cd "$src" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$clone"
[[ ! -e $clone/build-playground ]] || fail "the copy has a build directory"

step "./playground up (port offset $offset)"
"$clone/playground" up >"$log" 2>&1 || { cat "$log"; fail "playground up failed"; }
cat "$log"
for expected in "dc1" "dc2" "Standby Leader" "Connect:"; do
  grep -q "$expected" "$log" || fail "'up' did not print '$expected'"
done

dcctl=$clone/build-playground/ctl/dcctl
sites=$PGTANDEM_PLAYGROUND/sites.yml
psql_at() {  # port sql
  psql "host=127.0.0.1 port=$1 user=postgres dbname=postgres connect_timeout=3" -v ON_ERROR_STOP=1 -Atqc "$2"
}
# Waits up to 60 s for `psql_at port sql` to print `want`.
expect_rows() {  # port sql want what
  local got=
  for ((i = 0; i < 120; i++)); do
    got=$(psql_at "$1" "$2" 2>/dev/null || true)
    [[ $got == "$3" ]] && return 0
    sleep 0.5
  done
  fail "$4: wanted '$3', got '$got'"
}

step "write through dc1's write port, read through dc2's read port"
psql_at "$(port 15000)" "CREATE TABLE playground_test (id int PRIMARY KEY, dc text); INSERT INTO playground_test SELECT g, 'dc1' FROM generate_series(1, 100) g"
expect_rows "$(port 25001)" "SELECT count(*) FROM playground_test" 100 "rows from dc1 read in dc2"

step "up again: everything already runs"
"$clone/playground" up >"$log" 2>&1 || { cat "$log"; fail "a second 'up' failed"; }
psql_at "$(port 15000)" "INSERT INTO playground_test VALUES (101, 'dc1')"

step "dcctl site switchover --to dc2"
"$dcctl" site -s "$sites" switchover --to dc2 --force
expect_rows "$(port 25000)" "SELECT pg_is_in_recovery()" f "dc2's write port after the switchover"
psql_at "$(port 25000)" "INSERT INTO playground_test SELECT g, 'dc2' FROM generate_series(102, 150) g"
expect_rows "$(port 15001)" "SELECT count(*) FROM playground_test" 150 "rows from dc2 read in dc1"

step "dcctl site switchover --to dc1"
"$dcctl" site -s "$sites" switchover --to dc1 --force
expect_rows "$(port 15000)" "SELECT pg_is_in_recovery()" f "dc1's write port after the switchover back"
expect_rows "$(port 15000)" "SELECT count(*), count(DISTINCT dc) FROM playground_test" "150|2" "every row after there and back"
psql_at "$(port 15000)" "INSERT INTO playground_test VALUES (151, 'dc1')"
expect_rows "$(port 25001)" "SELECT count(*) FROM playground_test" 151 "dc2 follows dc1 again"

step "status"
"$clone/playground" status >"$log" 2>&1 || { cat "$log"; fail "playground status failed"; }
cat "$log"
running=$(grep -c "^  running" "$log" || true)
((running == 10)) || fail "status shows $running running processes, wanted 10 (2 etcd, 5 agents, 2 HAProxy, 1 coordinator)"

step "down"
pids=()
for f in "$PGTANDEM_PLAYGROUND"/pids/*; do pids+=("$(cat "$f")"); done
postmasters=()
for f in "$PGTANDEM_PLAYGROUND"/dc*/*/postmaster.pid; do [[ -f $f ]] && postmasters+=("$(head -1 "$f")"); done
((${#postmasters[@]} == 5)) || fail "found ${#postmasters[@]} postmasters, wanted 5"
"$clone/playground" down
for pid in "${pids[@]}" "${postmasters[@]}"; do
  for ((i = 0; i < 60; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then fail "process $pid still runs after down"; fi
done
echo "PASS"
