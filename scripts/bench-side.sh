#!/usr/bin/env bash
# The client benchmark (make bench calls this): the same governed session
# through libgovpool -- threaded, from one event-loop thread -- and through
# the stacks teams use instead, against the ungoverned statement and the
# raw-libpq floor, on one machine and one server in one run, reported as
# medians, spreads and ratios measured in this run.  One load generator
# (client/bench/side_libpq.c) drives every C stack.
#
# The governed session, identical in every stack: check a connection out (or
# use a dedicated one), BEGIN; SELECT governance.set_context($1, $2, $3, true)
# with agent, tenant and correlation id as bind parameters (never spliced into
# the SQL; a new correlation id per transaction); the statement; COMMIT; check
# the connection back in.  Statements: "SELECT 1", or the PK lookup
# "SELECT v FROM bench_side_kv WHERE id = $1" with a random id in 1..10000
# (bench/side-setup.sql).  Each stack checks that the statement returned its
# row.
#
#   stack        what                                           round trips per tx
#   gov_run      libgovpool govpool_run from N threads: the     1 (one pipeline,
#                prepared set_context + the statement (prepared     no BEGIN/COMMIT)
#                from its second use: the statement cache), one Sync
#   gov_run_wide the same with a pool as wide as the client      1   (opt-in: not in
#                count (no thread waits for a connection)           make bench)
#   gov_async    the same govpool_run, N in flight from ONE     1
#                thread (govpool_run_start + an epoll loop)
#   gov_session  libgovpool govpool_begin / govpool_exec / commit  2
#   raw_pipe1    raw libpq, dedicated connection per client,    1   govpool_run's floor
#                set_context prepared once, it + the statement
#                in one pipeline with one Sync
#   raw_one      raw libpq, dedicated connection per client,    1   ungoverned
#                the statement alone, unprepared (PQexecParams)
#   raw_prep     the same, prepared once per connection         1   ungoverned, what a
#                (PQexecPrepared)                                   driver with a statement
#                                                                   cache sends
#   raw_pipe     raw libpq, dedicated connection per client,    1   the floor of the
#                BEGIN, set_context, statement, COMMIT in one       four statements
#                pipeline
#   raw_naive    raw libpq, dedicated connection per client,    4   the floor, naive
#                one PQexecParams per statement
#   raw_connect  raw libpq, PQconnectdb + raw_naive + PQfinish  connect + 4
#   pgb_pipe     raw_pipe through PgBouncer (transaction mode)  1 (+ the pooler hop)
#   pgb_naive    raw_naive through PgBouncer                    4 (+ the pooler hop)
#   sqlalchemy   the seed documents' stack: SQLAlchemy 1.4 AsyncEngine on asyncpg
#                (Debian's python3-sqlalchemy / python3-asyncpg), pool_size=20,
#                max_overflow=10, pool_pre_ping=True, an AsyncSession per request
#                as get_db_session() does                       5 (BEGIN, pre-ping, 2, COMMIT)
#   asyncpg      asyncpg.create_pool(min_size=20, max_size=30)  5 (BEGIN, 2, COMMIT, reset)
#   node_pg      node-postgres pg.Pool({max: 30, min: 20})      4
#   (sqlalchemy_core, not in the default set: the same engine through
#    engine.begin() without the ORM Session, to see what the Session costs)
#
# (What each stack sends, as the server logs it with log_statement = all:
# the C stacks BEGIN / set_context / statement / COMMIT as unnamed extended-
# protocol statements; SQLAlchemy "BEGIN ISOLATION LEVEL READ COMMITTED", its
# pre-ping "SELECT 1" inside that transaction, the two statements as asyncpg
# prepared statements, "COMMIT"; asyncpg "BEGIN", the two prepared
# statements, "COMMIT", then its reset "SELECT pg_advisory_unlock_all();
# CLOSE ALL; UNLISTEN *; RESET ALL"; node-postgres BEGIN / COMMIT as simple
# queries, the two statements unnamed extended-protocol.)
#
# Fairness:
#   * Same server (one throwaway cluster, fsync off), same database, same
#     statements and parameters, same loopback TCP to 127.0.0.1 for every
#     client (PgBouncer reaches the server over its unix socket, its best case).
#   * Pool limits: 20 kept + 10 overflow everywhere a pool is involved:
#     libgovpool DATABASE_POOL_SIZE=20 DATABASE_MAX_OVERFLOW=10, SQLAlchemy
#     pool_size=20 max_overflow=10, asyncpg min_size=20 max_size=30, pg.Pool
#     min 20 max 30, PgBouncer default_pool_size=30 server connections.  At 64
#     clients the pooled stacks queue for their 30 connections; the
#     dedicated-connection stacks (raw_*, and the PgBouncer clients) open 64
#     connections (with-cluster sets max_connections = 200).
#   * Each stack does its own default checkout work: libgovpool's zero-round-trip
#     socket liveness check, SQLAlchemy's pre-ping (a round trip per checkout:
#     the seed configuration), asyncpg's reset query on release (its default);
#     libgovpool reports pool stats every 10 s riding on its pipelines (default).
#   * Clients are threads (C) or asyncio tasks / async loops in one process
#     (Python, Node: one event loop, as an async service worker runs), each
#     looping transactions back to back.  Connections are made before the
#     clock starts (pools: the min(clients, 20) they keep, by checking that
#     many out at once and back); every run then has BENCH_WARMUP seconds of
#     uncounted warm-up, and counts the transactions that complete in the next
#     BENCH_SECONDS (tx/s = count / BENCH_SECONDS; latency = per transaction,
#     checkout to checkin, p50 / p99).
#   * The machine stalls now and then: each round runs every (clients,
#     workload) cell once per stack, in an order rotated per cell and round;
#     the figures are medians over BENCH_ROUNDS rounds, ratios are of those
#     medians.
#
# Wide cells: clients above 200 (default 1024 in-flight requests) run only
# BENCH_WIDE_STACKS (default "gov_async gov_run"; no stack with a dedicated
# connection per client fits max_connections), with a pool of
# BENCH_WIDE_POOL (32) connections and no overflow.  gov_async prints what a
# queued request costs (its govpool_op, its copied arguments, and the
# resident memory n started requests added, divided by n).
#
# Targets (printed as "target met" / "target MISSED"; a miss does not fail
# make): at 16 and 64 clients, govpool_run >= 0.9x the ungoverned unprepared
# statement (raw_one: governance at the price of one statement), the event
# loop from one thread >= 0.9x the threaded govpool_run; at 16 clients
# govpool_run >= 0.9x the floor (raw_pipe1, the same one round trip),
# >= 10x the SQLAlchemy stack, >= 1.5x PgBouncer (pgb_pipe, the same one round
# trip through the pooler); 1,024 requests in flight on 32 connections
# within 10% of the event loop's 64-client figure, <= 1 KiB per queued
# request; uncontended checkout + checkin <= 500 ns (client/bench/checkout_micro).
#
# Settings (environment): BENCH_ROUNDS (3), BENCH_SECONDS (2), BENCH_WARMUP
# (0.2), BENCH_CLIENTS ("1 16 64 1024"), BENCH_WORKLOADS ("select1 pk"),
# BENCH_STACKS (all of the above; e.g. "gov_run raw_pipe sqlalchemy"),
# BENCH_WIDE_STACKS, BENCH_WIDE_POOL.
# About 9 minutes with the defaults on 2 cores (3 x 6 cells x 11 stacks x 2.2 s
# of load, plus start-up: Python imports SQLAlchemy in ~0.5 s a run).
#
# Set-up: installs what is missing as root (python3-sqlalchemy,
# python3-asyncpg, pgbouncer, nodejs, npm; then npm ci in bench/node); as any
# other user it prints the apt-get line and leaves those stacks out.  Runs in a
# throwaway cluster (scripts/with-cluster) unless DATABASE_URL is set (then its
# user must be able to create databases; the extension must be installed).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/bench.bash

PY=/usr/bin/python3                 # Debian's: sees python3-sqlalchemy / python3-asyncpg
PGBOUNCER=${PGBOUNCER:-/usr/sbin/pgbouncer}
all_stacks="gov_run gov_async gov_session raw_pipe1 raw_one raw_prep raw_pipe raw_naive raw_connect pgb_pipe pgb_naive sqlalchemy asyncpg node_pg"

# ---- set-up (outside the cluster) ----
if [ -z "${BENCH_SIDE_INNER:-}" ]; then
  missing=()
  $PY -c 'import sqlalchemy' 2>/dev/null || missing+=(python3-sqlalchemy)
  $PY -c 'import asyncpg' 2>/dev/null || missing+=(python3-asyncpg)
  [ -x "$PGBOUNCER" ] || missing+=(pgbouncer)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
      echo "bench-side: installing ${missing[*]}"
      aptlog=$(mktemp)
      { DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" ||
          { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"; }; } >"$aptlog" 2>&1 ||
        { tail -n 5 "$aptlog"; echo "bench-side: apt-get install failed; those stacks are left out"; }
      rm -f "$aptlog"
    else
      echo "bench-side: missing ${missing[*]}: run  apt-get install -y ${missing[*]}  as root; those stacks are left out"
    fi
  fi
  if command -v npm >/dev/null && { [ ! -f bench/node/node_modules/.package-lock.json ] ||
       [ bench/node/package-lock.json -nt bench/node/node_modules/.package-lock.json ]; }; then
    (cd bench/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
      echo "bench-side: npm ci in bench/node failed; node_pg is left out"
  fi
  make -s -C client bench >/dev/null
  export BENCH_SIDE_INNER=1
  # a throwaway cluster, or (DATABASE_URL set) PG* derived from DATABASE_URL
  if [ -z "${GOVERNANCE_THROWAWAY:-}" ]; then
    exec scripts/with-cluster -- bash "$0" "$@"
  fi
fi

# ---- which stacks can run here ----
stacks=()
for s in ${BENCH_STACKS:-$all_stacks}; do
  case $s in
    pgb_*) [ -x "$PGBOUNCER" ] || { echo "bench-side: no $PGBOUNCER, $s left out"; continue; } ;;
    sqlalchemy|sqlalchemy_core) $PY -c 'import sqlalchemy, asyncpg' 2>/dev/null || { echo "bench-side: no python3-sqlalchemy, $s left out"; continue; } ;;
    asyncpg) $PY -c 'import asyncpg' 2>/dev/null || { echo "bench-side: no python3-asyncpg, $s left out"; continue; } ;;
    node_pg) [ -f bench/node/node_modules/pg/package.json ] && command -v node >/dev/null ||
               { echo "bench-side: no node / npm pg, $s left out"; continue; } ;;
    gov_run|gov_run_wide|gov_async|gov_session|raw_pipe1|raw_one|raw_prep|raw_pipe|raw_naive|raw_connect) ;;
    *) echo "bench-side: unknown stack $s" >&2; exit 2 ;;
  esac
  stacks+=("$s")
done
[ ${#stacks[@]} -gt 0 ] || { echo "bench-side: no stack to run" >&2; exit 2; }

rounds=${BENCH_ROUNDS:-3}
secs=${BENCH_SECONDS:-2}
warm=${BENCH_WARMUP:-0.2}
clients_list=${BENCH_CLIENTS:-"1 16 64 1024"}
wide_stacks=${BENCH_WIDE_STACKS:-"gov_async gov_run"}
wide_pool=${BENCH_WIDE_POOL:-32}
workloads=${BENCH_WORKLOADS:-"select1 pk"}
db=governance_side
work=$(mktemp -d "${TMPDIR:-/tmp}/benchside.XXXXXX")
bpid=""
cleanup() {
  if [ -n "$bpid" ]; then kill "$bpid" 2>/dev/null || true; fi
  PGOPTIONS='-c client_min_messages=warning' psql -XqAt -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# ---- the database ----
psql -XqAt -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" \
  -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
psql -XqAt -v ON_ERROR_STOP=1 -d $db -c "CREATE EXTENSION pg_governance" -f bench/side-setup.sql >/dev/null
# DATABASE_URL with the database replaced; user / password / host / port for PgBouncer
read -r url db_user db_pass <<<"$($PY - "$DATABASE_URL" "$db" <<'PY'
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
print(u.urlunsplit(("postgresql", p.netloc, "/" + sys.argv[2], p.query, "")),
      u.unquote(p.username or "postgres"), u.unquote(p.password or "") or "-")
PY
)"

# every stack connects over TCP: make sure that reaches this same server
sysid="SELECT pg_postmaster_start_time()"
if [ "$(psql "$url" -XAtqc "$sysid" 2>&1)" != "$(psql -XAtq -d $db -c "$sysid")" ]; then
  echo "bench-side: DATABASE_URL (database $db) does not reach the server PG* points at" >&2
  exit 1
fi

# ---- PgBouncer, transaction mode, as the postgres user when root ----
burl=""
if [[ " ${stacks[*]} " == *" pgb_"* ]]; then
  bport=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  pw=""; [ "$db_pass" = - ] || pw=" password=$db_pass"
  cat >"$work/pgbouncer.ini" <<INI
[databases]
$db = host=$PGHOST port=$PGPORT dbname=$db user=$db_user$pw
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bport
unix_socket_dir =
auth_type = trust
auth_file = $work/users.txt
pool_mode = transaction
default_pool_size = 30
max_client_conn = 200
server_reset_query =
log_connections = 0
log_disconnections = 0
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
INI
  echo "\"$db_user\" \"\"" >"$work/users.txt"
  if [ "$(id -u)" -eq 0 ]; then chown -R postgres: "$work"; runas=(runuser -u postgres --); else runas=(); fi
  "${runas[@]}" "$PGBOUNCER" -d "$work/pgbouncer.ini" || true
  for _ in $(seq 50); do [ -s "$work/pgbouncer.pid" ] && break; sleep 0.1; done
  bpid=$(cat "$work/pgbouncer.pid" 2>/dev/null || true)
  burl="postgresql://$db_user@127.0.0.1:$bport/$db"
  for _ in $(seq 50); do psql "$burl" -XAtqc 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
  if ! psql "$burl" -XAtqc 'SELECT 1' >/dev/null 2>&1; then
    echo "bench-side: PgBouncer did not start ($(tail -n 1 "$work/pgbouncer.log" 2>/dev/null)); pgb_* left out"
    keep=(); for s in "${stacks[@]}"; do [[ $s == pgb_* ]] || keep+=("$s"); done; stacks=("${keep[@]}")
  fi
fi

# ---- one run of one stack: prints its summary line ----
govenv=(env ENVIRONMENT=prod DATABASE_URL="$url" DATABASE_POOL_SIZE=20 DATABASE_MAX_OVERFLOW=10
        DATABASE_STATEMENT_TIMEOUT_MS=0 DATABASE_ECHO=false GOVPOOL_LOG_LEVEL=warn)
side=client/build/bench/side_libpq
run_one() {                       # stack workload clients
  local s=$1 w=$2 c=$3 cmd
  local a=(--workload "$w" -c "$c" -T "$secs" -W "$warm")
  local gov=("${govenv[@]}")
  [ "$c" -le 200 ] || gov+=(DATABASE_POOL_SIZE="$wide_pool" DATABASE_MAX_OVERFLOW=0)
  case $s in
    gov_run)     cmd=("${gov[@]}" $side --stack gov-run "${a[@]}") ;;
    gov_run_wide) cmd=("${gov[@]}" DATABASE_POOL_SIZE="$c" DATABASE_MAX_OVERFLOW=0 $side --stack gov-run "${a[@]}") ;;
    gov_async)   cmd=("${gov[@]}" $side --stack gov-async "${a[@]}") ;;
    raw_pipe1)   cmd=($side --stack raw-pipe1 --url "$url" "${a[@]}") ;;
    raw_one)     cmd=($side --stack raw-one --url "$url" "${a[@]}") ;;
    raw_prep)    cmd=($side --stack raw-prep --url "$url" "${a[@]}") ;;
    gov_session) cmd=("${gov[@]}" $side --stack gov-session "${a[@]}") ;;
    raw_pipe)    cmd=($side --stack raw-pipe --url "$url" "${a[@]}") ;;
    raw_naive)   cmd=($side --stack raw-naive --url "$url" "${a[@]}") ;;
    raw_connect) cmd=($side --stack raw-connect --url "$url" "${a[@]}") ;;
    pgb_pipe)    cmd=($side --stack raw-pipe --url "$burl" "${a[@]}") ;;
    pgb_naive)   cmd=($side --stack raw-naive --url "$burl" "${a[@]}") ;;
    sqlalchemy)  cmd=($PY bench/python/side.py --stack sqlalchemy --url "$url" "${a[@]}") ;;
    sqlalchemy_core) cmd=($PY bench/python/side.py --stack sqlalchemy-core --url "$url" "${a[@]}") ;;
    asyncpg)     cmd=($PY bench/python/side.py --stack asyncpg --url "$url" "${a[@]}") ;;
    node_pg)     cmd=(node bench/node/side.js --url "$url" "${a[@]}") ;;
  esac
  # every load stops by itself; timeout only catches a hung client
  timeout -k 5 "$(awk -v s="$secs" -v w="$warm" 'BEGIN { printf "%d", s + w + 60 }')" "${cmd[@]}" 2>&1 |
    sed "s/^/[$s $w $c] /" >"$work/run.out" || true
  cat "$work/run.out" >>"$work/runs.log"
  sed -n "s/^\[$s $w $c\] async: .* op_bytes=\([0-9]*\) arg_bytes=\([0-9]*\) rss_per_request=\([0-9-]*\).*/\1 \2 \3/p" \
    "$work/run.out" >>"$work/mem.$c"
  sed -n "s/^\[$s $w $c\] \(summary:.*\)/\1/p" "$work/run.out" | tail -1
}

field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }
declare -A tps p50 p99 errs
echo "side-by-side: ${#stacks[@]} stacks x clients {$clients_list} x workloads {$workloads}," \
     "$rounds rounds x ${secs}s (+${warm}s warm-up), $(nproc) cores, $(psql -XAtqc 'SHOW server_version' -d $db)"
t_start=$(date +%s)
cells=()
for c in $clients_list; do for w in $workloads; do cells+=("$w:$c"); done; done
for r in $(seq 1 "$rounds"); do
  k=0
  for cell in "${cells[@]}"; do
    w=${cell%%:*}; c=${cell##*:}
    cell_stacks=("${stacks[@]}")
    if [ "$c" -gt 200 ]; then
      cell_stacks=(); for s in "${stacks[@]}"; do [[ " $wide_stacks " == *" $s "* ]] && cell_stacks+=("$s"); done
      [ ${#cell_stacks[@]} -gt 0 ] || continue
    fi
    n=${#cell_stacks[@]}; off=$(( (r * 3 + k * 7) % n )); k=$((k + 1))
    for i in $(seq 0 $((n - 1))); do
      s=${cell_stacks[$(( (i + off) % n ))]}
      line=$(run_one "$s" "$w" "$c")
      if [ -z "$line" ]; then
        echo "  $s $w $c clients: no result (see below)"; errs[$s]=1; continue
      fi
      key="$s|$w|$c"
      tps[$key]+="$(field tps <<<"$line") "
      p50[$key]+="$(field p50_ms <<<"$line") "
      p99[$key]+="$(field p99_ms <<<"$line") "
      e=$(field errors <<<"$line"); [ "${e:-0}" = 0 ] || errs[$s]=1
    done
  done
  echo "  round $r/$rounds done ($(( $(date +%s) - t_start )) s)"
done

med() { local -n arr=$1; bench_median <<<"${arr[$2]:-}"; }
# spread of a cell's tx/s samples: (max - min) / median, in percent
spread() { local m _q1 _q3 lo hi; read -r m _q1 _q3 lo hi <<<"$(bench_stats <<<"${tps[$1]:-}")"
  [ -n "$m" ] && awk -v m="$m" -v lo="$lo" -v hi="$hi" 'BEGIN { printf "%.0f", m ? 100 * (hi - lo) / m : 0 }'; }
ratio() { local r; r=$(bench_ratio "$1" "$2"); [ "$r" = n/a ] && echo n/a || echo "${r}x"; }
label() {
  case $1 in
    gov_run) echo "libgovpool govpool_run" ;;
    gov_run_wide) echo "govpool_run, pool = clients" ;;
    gov_async) echo "govpool_run, 1-thread event loop" ;;
    raw_pipe1) echo "raw libpq one-stmt pipe (floor)" ;;
    raw_one) echo "raw libpq ungoverned statement" ;;
    raw_prep) echo "raw libpq ungoverned, prepared" ;;
    gov_session) echo "libgovpool begin/exec/commit" ;;
    raw_pipe) echo "raw libpq pipelined (floor)" ;;
    raw_naive) echo "raw libpq naive (floor)" ;;
    raw_connect) echo "raw libpq connect per tx" ;;
    pgb_pipe) echo "libpq pipelined via PgBouncer" ;;
    pgb_naive) echo "libpq naive via PgBouncer" ;;
    sqlalchemy) echo "SQLAlchemy 1.4 async (seed)" ;;
    sqlalchemy_core) echo "SQLAlchemy 1.4 Core, no Session" ;;
    asyncpg) echo "asyncpg pool" ;;
    node_pg) echo "node-postgres pg.Pool" ;;
  esac
}

for w in $workloads; do
  echo
  [ "$w" = select1 ] && echo "workload select1: SELECT 1" || echo "workload pk: SELECT v FROM bench_side_kv WHERE id = \$1 (10,000 rows)"
  printf '%-32s' "median tx/s ±spread (p50/p99 ms)"
  for c in $clients_list; do printf '%30s' "$c client$([ "$c" = 1 ] || echo s)"; done
  echo
  for s in "${stacks[@]}"; do
    printf '%-32s' "$(label "$s")"
    for c in $clients_list; do
      t=$(med tps "$s|$w|$c"); a=$(med p50 "$s|$w|$c"); b=$(med p99 "$s|$w|$c")
      if [ -n "$t" ]; then printf '%9.0f ±%2s%% (%5.2f/%6.2f)' "$t" "$(spread "$s|$w|$c")" "$a" "$b"; else printf '%30s' "n/a"; fi
    done
    echo
  done
  hdr="ratios of the medians"
  for pair in "govpool_run / ungoverned stmt|gov_run|raw_one" \
              "pool = clients / ungoverned stmt|gov_run_wide|raw_one" \
              "govpool_run / ungoverned prepared|gov_run|raw_prep" "event loop / threaded run|gov_async|gov_run" \
              "govpool_run / one-stmt floor|gov_run|raw_pipe1" \
              "govpool_run / raw pipelined|gov_run|raw_pipe" "begin/exec/commit / raw naive|gov_session|raw_naive" \
              "govpool_run / SQLAlchemy|gov_run|sqlalchemy" "govpool_run / SQLAlchemy Core|gov_run|sqlalchemy_core" \
              "govpool_run / asyncpg pool|gov_run|asyncpg" \
              "govpool_run / node pg.Pool|gov_run|node_pg" "govpool_run / PgBouncer pipe|gov_run|pgb_pipe" \
              "govpool_run / PgBouncer naive|gov_run|pgb_naive" "govpool_run / connect per tx|gov_run|raw_connect"; do
    IFS='|' read -r l a b <<<"$pair"
    [[ " ${stacks[*]} " == *" $a "* && " ${stacks[*]} " == *" $b "* ]] || continue
    [ -z "$hdr" ] || { echo "$hdr"; hdr=""; }
    printf '  %-30s' "$l"
    for c in $clients_list; do printf '%30s' "$(ratio "$(med tps "$a|$w|$c")" "$(med tps "$b|$w|$c")")"; done
    echo
  done
done

echo
check() {                         # workload label stack-a stack-b target [clients-a [clients-b]]
  local ca=${6:-16} cb=${7:-${6:-16}} a b v
  a=$(med tps "$3|$1|$ca"); b=$(med tps "$4|$1|$cb"); v=$(ratio "$a" "$b")
  if [ "$v" = n/a ]; then printf '%-70s %s\n' "$2 ($1, $ca clients)" "n/a (not measured)"; return; fi
  printf '%-70s %7s  target %s\n' "$2 ($1, $ca clients): ${3} / ${4}$([ "$ca" = "$cb" ] || echo " at $cb")" "$v" \
    "$(awk -v a="$a" -v b="$b" -v t="$5" 'BEGIN { print (a / b >= t) ? "met" : "MISSED" }') (>= $5x)"
}
for c in 16 64; do
  [[ " $clients_list " == *" $c "* ]] || continue
  for w in $workloads; do
    check "$w" "governance at the price of one statement" gov_run raw_one 0.9 "$c"
    check "$w" "event loop from one thread vs threaded" gov_async gov_run 0.9 "$c"
  done
done
for c in $clients_list; do
  [ "$c" -gt 200 ] && [[ " $clients_list " == *" 64 "* ]] || continue
  for w in $workloads; do
    check "$w" "$c in flight on $wide_pool connections vs 64" gov_async gov_async 0.9 "$c" 64
  done
  if [ -s "$work/mem.$c" ]; then
    read -r opb argb rss <<<"$(sort -n -k3 "$work/mem.$c" | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}')"
    printf '%-70s %7s  target %s\n' "memory per queued request at $c in flight (median RSS growth)" "$rss B" \
      "$(awk -v v="$rss" 'BEGIN { print (v <= 1024) ? "met" : "MISSED" }') (<= 1024 B; govpool_op $opb B + arguments $argb B + malloc)"
  fi
done
if [[ " $clients_list " == *" 16 "* ]]; then
  for w in $workloads; do
    check "$w" "libgovpool vs the floor" gov_run raw_pipe1 0.9
    check "$w" "libgovpool vs SQLAlchemy stack" gov_run sqlalchemy 10
    check "$w" "libgovpool vs PgBouncer" gov_run pgb_pipe 1.5
  done
  echo "(the floor: raw libpq sending what govpool_run sends; PgBouncer target against libpq"
  echo " pipelined through it, BEGIN/context/statement/COMMIT in one round trip, as named"
  echo " statements do not survive it; against libpq naive through it, the 'PgBouncer naive' ratios above)"
fi
for s in "${!errs[@]}"; do
  echo "note: $s had failed transactions or a run without result; its last messages:"
  { grep "^\[$s " "$work/runs.log" || true; } | { grep -v '\] summary:' || true; } | tail -3 | sed 's/^/  /'
done
micro=$(client/build/bench/checkout_micro 1000000)
micro_ns=$(sed -n 's/^checkout_checkin_ns=\([0-9.]*\).*/\1/p' <<<"$micro")
printf '%-70s %7s  target %s\n' "uncontended checkout + checkin (checkout_micro)" "$micro_ns ns" \
  "$(awk -v v="$micro_ns" 'BEGIN { print (v != "" && v <= 500) ? "met" : "MISSED" }') (<= 500 ns)"
echo "side-by-side: $(( $(date +%s) - t_start )) s of runs"
