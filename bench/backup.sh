#!/usr/bin/env bash
# dc-backup against pgBackRest 2.45 (Debian's pgbackrest) on this machine, in
# one run, on the same pgbench database, with the same settings: zstd level
# 3, the same number of processes, a fast checkpoint, both repositories on
# the same disk. Run as root on Debian 12.
#
#   bench/backup.sh [--scale 140] [--trials 3] [--process-max 2] [--segments 64]
#                   [--parts backup,incr,push,async] [--dir /var/tmp/...]
#
# Measures, alternating the tools each trial:
#   backup: a full backup, and a restore of it into an empty directory;
#   incr:   an incremental backup after 5 % of pgbench_accounts' rows
#           changed (a full of each first, untimed): its time and the
#           bytes it stored (pgBackRest 2.45 and dc-backup both compare
#           whole files, by size and timestamp);
#   push:   archive-push of real WAL segments one by one, as PostgreSQL's
#           archiver calls it (synchronous);
#   async:  the asynchronous archive-push (dc-backup archive_async,
#           pgBackRest archive-async) under pgbench load: a backlog of at
#           least --segments segments is made with archiving paused, then
#           archive_command is set to the tool while pgbench keeps writing,
#           and the time until every segment of the backlog is in the
#           repository is taken.
# Prints the medians and the ratios pgBackRest / dc-backup (above 1:
# dc-backup is faster).
set -euo pipefail
cd "$(dirname "$0")/.."
scale=140 trials=3 procs=2 segments=64 parts=backup,incr,push,async dir=/var/tmp/pgtandem-backup-bench
while (($#)); do
  case $1 in
    --scale) scale=$2; shift 2 ;;
    --trials) trials=$2; shift 2 ;;
    --process-max) procs=$2; shift 2 ;;
    --segments) segments=$2; shift 2 ;;
    --parts) parts=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *) echo "bench/backup.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "bench/backup.sh: run as root" >&2; exit 1; }
./scripts/install-deps.sh >/dev/null
dpkg-query -W -f='${Status}' pgbackrest 2>/dev/null | grep -q "install ok installed" ||
  apt-get install -y --no-install-recommends pgbackrest >/dev/null
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DPGTANDEM_SANITIZE=OFF >/dev/null
cmake --build build-release -j "$(nproc)" --target dc-backup >/dev/null
chmod o+rx . build-release build-release/backup 2>/dev/null || true
dcbackup=$(pwd)/build-release/backup/dc-backup
bin=/usr/lib/postgresql/15/bin
port=54999
pgpid=""

as_pg() { runuser -u postgres -- "$@"; }
part() { [[ ,$parts, == *,$1,* ]]; }
loadpid=""
cleanup() {
  [[ -n $loadpid ]] && kill "$loadpid" 2>/dev/null || true
  [[ -n $pgpid ]] && kill -INT "$pgpid" 2>/dev/null && sleep 2 || true
  rm -rf "$dir"
}
trap cleanup EXIT
rm -rf "$dir" && mkdir -p "$dir" && chown postgres: "$dir"

data=$dir/data
as_pg $bin/initdb -D "$data" -U postgres >/dev/null
cat >"$dir/pgbackrest.conf" <<CONF
[global]
repo1-path=$dir/pgbackrest-repo
compress-type=zst
compress-level=3
process-max=$procs
start-fast=y
log-level-console=warn
repo1-retention-full=99
log-path=$dir
lock-path=$dir

[bench]
pg1-path=$data
pg1-port=$port
pg1-socket-path=$dir
CONF
chown postgres: "$dir/pgbackrest.conf"
br() { as_pg pgbackrest --config="$dir/pgbackrest.conf" --stanza=bench "$@"; }
cat >>"$data/postgresql.conf" <<CONF
port = $port
unix_socket_directories = '$dir'
listen_addresses = ''
shared_buffers = 256MB
max_wal_size = 4GB
archive_mode = on
archive_command = 'pgbackrest --config=$dir/pgbackrest.conf --stanza=bench archive-push %p && $dcbackup archive-push --repo $dir/dc-backup-repo --stanza bench %p'
CONF
as_pg mkdir -p "$dir/dc-backup-repo" "$dir/pgbackrest-repo"
as_pg $bin/pg_ctl -D "$data" -l "$dir/postgres.log" -w start >/dev/null
pgpid=$(head -1 "$data/postmaster.pid")
br stanza-create
as_pg "$dcbackup" stanza-create --repo "$dir/dc-backup-repo" --stanza bench --pg-data "$data" >/dev/null
echo "pgbench -i -s $scale ..."
as_pg $bin/pgbench -i -q -s "$scale" -h "$dir" -p "$port" -U postgres postgres >/dev/null 2>&1
as_pg psql -qAt -h "$dir" -p "$port" -U postgres -c "CHECKPOINT" postgres
size=$(as_pg psql -qAt -h "$dir" -p "$port" -U postgres -c "SELECT pg_size_pretty(pg_database_size('postgres'))" postgres)
echo "database: $size, $procs processes, zstd level 3, $trials trials"

now() { date +%s.%N; }
declare -A times
record() { times[$1]+="$2 "; }
timed() { # name command...
  local t0 t1
  t0=$(now)
  "${@:2}" >/dev/null 2>&1
  t1=$(now)
  record "$1" "$(echo "$t1 - $t0" | bc -l)"
}

if part backup; then
for ((t = 1; t <= trials; t++)); do
  for tool in dc-backup pgbackrest; do
    [[ $((t % 2)) -eq 0 ]] && tool=$([[ $tool == dc-backup ]] && echo pgbackrest || echo dc-backup)
    rm -rf "$dir/restored"
    if [[ $tool == dc-backup ]]; then
      timed dc-backup.backup as_pg "$dcbackup" backup --repo "$dir/dc-backup-repo" --stanza bench --pg-data "$data" \
        --pg-host "$dir" --pg-port "$port" --process-max "$procs" --allow-primary
      timed dc-backup.restore as_pg "$dcbackup" restore --repo "$dir/dc-backup-repo" --stanza bench --to "$dir/restored" \
        --process-max "$procs"
    else
      timed pgbackrest.backup br backup --type=full
      timed pgbackrest.restore br restore --pg1-path="$dir/restored"
    fi
    rm -rf "$dir/restored"
  done
done
fi

if part incr; then
  sql() { as_pg psql -qAt -h "$dir" -p "$port" -U postgres -c "$1" postgres; }
  stored_kb() { du -sk "$1" | cut -f1; }
  rows=$((scale * 100000 / 20))
  for ((t = 1; t <= trials; t++)); do
    as_pg "$dcbackup" backup --repo "$dir/dc-backup-repo" --stanza bench --pg-data "$data" --pg-host "$dir" \
      --pg-port "$port" --process-max "$procs" --allow-primary >/dev/null 2>&1
    br backup --type=full >/dev/null 2>&1
    sql "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 20 = $((t % 20))" >/dev/null
    sql "CHECKPOINT"
    sleep 1  # past the second the full backups started in
    for tool in dc-backup pgbackrest; do
      [[ $((t % 2)) -eq 0 ]] && tool=$([[ $tool == dc-backup ]] && echo pgbackrest || echo dc-backup)
      if [[ $tool == dc-backup ]]; then
        timed dc-backup.incr as_pg "$dcbackup" backup --type incr --repo "$dir/dc-backup-repo" --stanza bench \
          --pg-data "$data" --pg-host "$dir" --pg-port "$port" --process-max "$procs" --allow-primary
        newest=$(ls "$dir/dc-backup-repo/bench/backup" | tail -1)
        record dc-backup.incr-kb "$(stored_kb "$dir/dc-backup-repo/bench/backup/$newest")"
      else
        timed pgbackrest.incr br backup --type=incr
        newest=$(ls -d "$dir"/pgbackrest-repo/backup/bench/*I | tail -1)
        record pgbackrest.incr-kb "$(stored_kb "$newest")"
      fi
    done
  done
  echo "incr: $rows of $((scale * 100000)) rows (5 %) changed before each incremental"
fi

if part push; then
# archive-push: real segments, one call each, into fresh stanzas.
as_pg psql -qAt -h "$dir" -p "$port" -U postgres -c "SELECT pg_switch_wal()" postgres >/dev/null
mkdir -p "$dir/segments"
ls "$data/pg_wal" | grep -E '^[0-9A-F]{24}$' | head -n "$segments" | while read -r s; do cp "$data/pg_wal/$s" "$dir/segments/"; done
chown -R postgres: "$dir/segments"
count=$(ls "$dir/segments" | wc -l)
for ((t = 1; t <= trials; t++)); do
  as_pg $bin/pg_ctl -D "$data" -m fast stop >/dev/null && pgpid=""
  rm -rf "$dir/push-dc" "$dir/push-br" && as_pg mkdir -p "$dir/push-dc" "$dir/push-br"
  as_pg "$dcbackup" stanza-create --repo "$dir/push-dc" --stanza bench --pg-data "$data" >/dev/null
  sed -i "s|^repo1-path=.*|repo1-path=$dir/push-br|" "$dir/pgbackrest.conf"
  br --no-online stanza-create >/dev/null
  push_dc() { for s in "$dir"/segments/*; do as_pg "$dcbackup" archive-push --repo "$dir/push-dc" --stanza bench "$s"; done; }
  push_br() { for s in "$dir"/segments/*; do br archive-push "$s"; done; }
  timed dc-backup.archive-push push_dc
  timed pgbackrest.archive-push push_br
  sed -i "s|^repo1-path=.*|repo1-path=$dir/pgbackrest-repo|" "$dir/pgbackrest.conf"
  as_pg $bin/pg_ctl -D "$data" -l "$dir/postgres.log" -w start >/dev/null
  pgpid=$(head -1 "$data/postmaster.pid")
done
fi

# The asynchronous archive-push under pgbench load.
if part async; then
  sql() { as_pg psql -qAt -h "$dir" -p "$port" -U postgres -c "$1" "${2:-postgres}"; }
  set_archive() { sql "ALTER SYSTEM SET archive_command = '$1'" >/dev/null && sql "SELECT pg_reload_conf()" >/dev/null; }
  ready() { ls "$data/pg_wal/archive_status" | sed -n 's/^\([0-9A-F]\{24\}\)\.ready$/\1/p'; }
  in_repo() { # tool segment
    if [[ $1 == dc-backup ]]; then compgen -G "$dir/async-dc/bench/wal/${2:0:16}/$2-*.zst" >/dev/null
    else compgen -G "$dir/async-br/archive/bench/15-1/${2:0:16}/$2-*" >/dev/null; fi
  }
  as_pg mkdir -p "$dir/async-dc" "$dir/async-br" "$dir/spool-dc" "$dir/spool-br"
  cat >"$dir/dc-backup-async.yml" <<YML
repo: $dir/async-dc
stanza: bench
archive_async: true
spool_path: $dir/spool-dc
process_max: $procs
compress_level: 3
YML
  sed -e "s|^repo1-path=.*|repo1-path=$dir/async-br|" -e "s|^\[global\]$|[global]\narchive-async=y\nspool-path=$dir/spool-br|" \
    "$dir/pgbackrest.conf" >"$dir/pgbackrest-async.conf"
  chown postgres: "$dir/dc-backup-async.yml" "$dir/pgbackrest-async.conf"
  as_pg "$dcbackup" stanza-create --config "$dir/dc-backup-async.yml" --pg-data "$data" >/dev/null
  as_pg pgbackrest --config="$dir/pgbackrest-async.conf" --stanza=bench stanza-create >/dev/null
  declare -A async_command=(
    [dc-backup]="$dcbackup archive-push --config $dir/dc-backup-async.yml %p"
    [pgbackrest]="pgbackrest --config=$dir/pgbackrest-async.conf --stanza=bench archive-push %p")
  sql "CREATE DATABASE load" >/dev/null && sql "CREATE DATABASE backlog" >/dev/null
  as_pg $bin/pgbench -i -q -s 10 -h "$dir" -p "$port" -U postgres load >/dev/null 2>&1
  as_pg $bin/pgbench -c 4 -j 2 -T 3600 -h "$dir" -p "$port" -U postgres load >/dev/null 2>&1 &
  loadpid=$!
  echo "async archive-push: a backlog of $segments+ segments each trial, pgbench -c 4 writing throughout"
  for ((t = 1; t <= trials; t++)); do
    for tool in dc-backup pgbackrest; do
      [[ $((t % 2)) -eq 0 ]] && tool=$([[ $tool == dc-backup ]] && echo pgbackrest || echo dc-backup)
      # Drain what is left, then pause archiving and make the backlog.
      set_archive /bin/true
      for ((i = 0; i < 600 && $(ready | wc -l) > 0; i++)); do sleep 0.1; done
      # Neither tool's background worker may be left to push the next backlog early.
      for ((i = 0; i < 600; i++)); do
        as_pg flock -n "$dir/spool-dc/worker.lock" true 2>/dev/null && ! pgrep -f "pgbackrest.*archive-push:async" >/dev/null && break
        sleep 0.1
      done
      set_archive ""
      for ((i = 0; i < 4 * segments && $(ready | wc -l) < segments; i++)); do
        as_pg $bin/pgbench -i -q -s 4 -h "$dir" -p "$port" -U postgres backlog >/dev/null 2>&1
      done
      mapfile -t backlog < <(ready)
      t0=$(now)
      set_archive "${async_command[$tool]}"
      for s in "${backlog[@]}"; do
        for ((i = 0; i < 6000; i++)); do in_repo "$tool" "$s" && break; sleep 0.05; done
        in_repo "$tool" "$s" || { echo "bench/backup.sh: $tool did not archive $s within 300 s" >&2; exit 1; }
      done
      t1=$(now)
      record "$tool.async-push" "$(echo "${#backlog[@]} / ($t1 - $t0)" | bc -l)"
    done
  done
  set_archive /bin/true
  kill "$loadpid" 2>/dev/null; wait "$loadpid" 2>/dev/null || true; loadpid=""
  sql "ALTER SYSTEM RESET archive_command" >/dev/null && sql "SELECT pg_reload_conf()" >/dev/null
fi

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
printf "\n%-14s %12s %12s %8s\n" "" "dc-backup" "pgBackRest" "ratio"
for what in backup restore incr incr-kb archive-push async-push; do
  [[ -n ${times[dc-backup.$what]:-} ]] || continue
  a=$(echo "${times[dc-backup.$what]}" | median)
  b=$(echo "${times[pgbackrest.$what]}" | median)
  if [[ $what == incr-kb ]]; then
    printf "%-14s %9.1f MB %9.1f MB %8.2f   (stored by the incremental backup)\n" "incr stored" "$(echo "$a / 1024" | bc -l)" \
      "$(echo "$b / 1024" | bc -l)" "$(echo "$b / $a" | bc -l)"
  elif [[ $what == async-push ]]; then # recorded as rates
    printf "%-14s %9.1f/s %9.1f/s %8.2f   (segments per second, async, under pgbench load)\n" "$what" "$a" "$b" \
      "$(echo "$a / $b" | bc -l)"
  elif [[ $what == archive-push ]]; then
    printf "%-14s %9.1f/s %9.1f/s %8.2f   (segments per second, %d segments, one call each)\n" "$what" \
      "$(echo "$count / $a" | bc -l)" "$(echo "$count / $b" | bc -l)" "$(echo "$b / $a" | bc -l)" "$count"
  else
    printf "%-14s %11.2fs %11.2fs %8.2f\n" "$what" "$a" "$b" "$(echo "$b / $a" | bc -l)"
  fi
done
echo "all times: $(for k in "${!times[@]}"; do echo -n "$k=[${times[$k]% }] "; done)"
