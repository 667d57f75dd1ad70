#!/usr/bin/env bash
# Load benchmark of the HTTP shim regen-queue-http, run as root from the repository:
#
#   bash bench/http_load.sh [--check] [--duration S] [--drain-jobs N] [--overhead-seconds S]
#
#   --check               short run (5 s per route, 20000 jobs for the drain route, 3 s for
#                         the overhead) for the test suite: the same checks, a bounded time
#   --duration S          seconds of wrk on each route (DURATION; 30, or 5 with --check)
#   --drain-jobs N        jobs queued in SQL before the drain route's run (DRAIN_JOBS; 300000,
#                         or 20000 with --check)
#   --overhead-seconds S  seconds of each one-connection run of the overhead figure, 3 rounds
#                         of two runs (OVERHEAD_SECONDS; 5, or 2 with --check)
#
# REGEN_SHIM_BIN names a regen-queue-http binary to use; without it the shim is built with
# CMake into a temporary directory. Everything runs on loopback: a throwaway cluster on
# 127.0.0.1:5494 (scripts/lib/cluster.sh) and the shim on 127.0.0.1:18201.
#
# Phases: (1) the enqueue route under wrk, 64 connections, then the drain route (curl, one
# call at a time) until the queue is empty; (2) jobs queued in SQL, then the drain route under
# wrk, 64 connections; (3) the enqueue route through the shim with one connection against the
# same two statements sent straight to PostgreSQL by pgbench, one client, in alternating rounds:
# the median of each and their difference, the shim's overhead. Every phase checks that nothing was lost, doubled
# or refused, and prints "ok" or "not ok" per check. Speed is reported, never checked.
#
# Exit status: 0 when every check passed, 1 when one failed, 2 on a bad argument.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib/cluster.sh
source "$repo/scripts/lib/cluster.sh"

readonly DB=regen_load PORT=5494 SHIM_PORT=18201
readonly SHIM_ROLE=regen_shim
# The shim's pool: 16 connections keep both cores of this machine busy (each statement waits
# on a commit or a drain worker most of the time) and 16 concurrent regen_drain() calls, one
# background worker each, fit in max_worker_processes (64) next to the launcher, pg_cron and
# parallel workers; 64 wrk connections then share 16 database connections.
readonly POOL_SIZE=16
readonly CONNECTIONS=64 THREADS=2
# After its active seconds, each wrk connection waits for its last answer and falls idle; wrk
# runs TAIL_S more so that nothing is in flight when it stops. wrk's --timeout must be longer
# than that tail (it counts idle connections as timed out otherwise), and the shim's
# --request-timeout (10 s) closes idle connections only after it.
readonly TAIL_S=5 WRK_TIMEOUT_S=10
# One connection's last answer comes within milliseconds: a shorter tail does.
readonly SINGLE_TAIL_S=2
# The overhead runs alternate, shim then pgbench, so that other load on the machine (a burst,
# autovacuum) hits both alike; each side's figure is the median of its rounds' medians.
readonly OVERHEAD_ROUNDS=3
readonly ENQUEUE_OVERRIDES='{"topic":"Load benchmark"}'
readonly ENQUEUE_BODY="{\"overrides\":$ENQUEUE_OVERRIDES}"
readonly SHIM_RSS_LIMIT_KIB=$((256 * 1024))

CHECK_MODE=0
DURATION=${DURATION:-}
DRAIN_JOBS=${DRAIN_JOBS:-}
OVERHEAD_SECONDS=${OVERHEAD_SECONDS:-}

usage() {
    sed -n '4,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit "${1:-2}"
}

while (($# > 0)); do
    case $1 in
        --check) CHECK_MODE=1; shift ;;
        --duration) DURATION=${2:-}; shift 2 || usage ;;
        --drain-jobs) DRAIN_JOBS=${2:-}; shift 2 || usage ;;
        --overhead-seconds) OVERHEAD_SECONDS=${2:-}; shift 2 || usage ;;
        -h | --help) usage 0 ;;
        *) echo "http_load: unknown argument $1" >&2; usage ;;
    esac
done
if ((CHECK_MODE)); then
    : "${DURATION:=5}" "${DRAIN_JOBS:=20000}" "${OVERHEAD_SECONDS:=2}"
else
    : "${DURATION:=30}" "${DRAIN_JOBS:=300000}" "${OVERHEAD_SECONDS:=5}"
fi
for n in "$DURATION" "$DRAIN_JOBS" "$OVERHEAD_SECONDS"; do
    [[ "$n" =~ ^[1-9][0-9]{0,6}$ ]] || { echo "http_load: not a count: '$n'" >&2; usage; }
done
((DURATION <= 600 && OVERHEAD_SECONDS <= 600 && DRAIN_JOBS <= 1000000)) ||
    { echo "http_load: at most 600 s per run and 1000000 jobs" >&2; usage; }

if [[ "$(id -u)" -ne 0 ]]; then
    echo "http_load: run as root (PostgreSQL itself runs as postgres)" >&2
    exit 1
fi
for tool in wrk curl "$RQ_PGBIN/pgbench"; do
    if ! command -v "$tool" >/dev/null; then
        echo "not ok - $tool is not installed (bash scripts/install-deps.sh installs it)"
        exit 1
    fi
done

# ------------------------------------------------------------------------------------------------
# Checks and figures

checks=0 failures=0
check() {
    local description=$1
    shift
    checks=$((checks + 1))
    if "$@"; then
        echo "ok $checks - $description"
    else
        failures=$((failures + 1))
        echo "not ok $checks - $description"
    fi
}
# check_eq DESCRIPTION ACTUAL EXPECTED
check_eq() {
    local description=$1 actual=$2 expected=$3
    if [[ "$actual" == "$expected" ]]; then
        check "$description ($actual)" true
    else
        check "$description (got $actual, expected $expected)" false
    fi
}

step() { printf '\n== %s\n' "$*"; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
# per_second COUNT WINDOW_MS: a rate over a window, n/a for an empty one.
per_second() {
    awk -v n="$1" -v ms="$2" 'BEGIN { if (ms > 0) printf "%.1f", n * 1000 / ms; else print "n/a" }'
}
ms() { calc "$1 / 1000" "${2:-2}"; }
# The median of numbers on standard input, one a line (0 for none).
median() {
    sort -n | awk '{ v[NR] = $1 }
                   END { print NR == 0 ? 0 : NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# The 99th percentile (nearest rank) of numbers on standard input (0 for none).
p99() {
    sort -n | awk '{ v[NR] = $1 } END { r = int(NR * 0.99); if (r < NR * 0.99) r++; print NR ? v[r] : 0 }'
}

# psql against the load cluster only, always by socket directory and port.
sql() { rq_psql -h "$RQ_CLUSTER_DIR" -p "$PORT" -d "$DB" "$@"; }
value() { sql -tA -c "$1"; }

# One value of a counts file written by http_load.lua's done(): count FILE NAME (0 if absent).
count() { awk -v name="$2" '$1 == name { v = $2 } END { print v + 0 }' "$1"; }

shim_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$shim_pid/status" 2>/dev/null || echo 0; }
shim_threads() { awk '/^Threads:/ { print $2 }' "/proc/$shim_pid/status" 2>/dev/null || echo 0; }
max_rss_kib=0
note_rss() {
    local rss
    rss=$(shim_rss_kib)
    ((rss <= max_rss_kib)) || max_rss_kib=$rss
    echo "shim memory $1: RSS $(calc "$rss / 1024" 1) MiB, $(shim_threads) threads"
}

# Lines of the shim's log for one route and status (it logs one line per request).
log_lines() {
    grep -c -F " $1 $2 " "$shim_log" || true
}

# ------------------------------------------------------------------------------------------------
# The shim: built unless given, stopped by the exit trap

build_dir="" shim_pid="" shim_log=""
stop_shim() {
    [[ -n "$shim_pid" ]] || return 0
    kill -TERM "$shim_pid" 2>/dev/null || true
    local deadline=$((SECONDS + 20))
    while kill -0 "$shim_pid" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.1
    done
    kill -KILL "$shim_pid" 2>/dev/null || true
    wait "$shim_pid" 2>/dev/null || true
    shim_pid=""
}
cleanup() {
    local status=$?
    stop_shim
    [[ -z "$build_dir" ]] || rm -rf "$build_dir"
    (exit "$status")
    rq_cleanup
}

if [[ -n "${REGEN_SHIM_BIN:-}" ]]; then
    shim_bin=$REGEN_SHIM_BIN
    [[ -x "$shim_bin" ]] || { echo "http_load: REGEN_SHIM_BIN=$shim_bin is not executable" >&2; exit 1; }
else
    build_dir=$(mktemp -d /tmp/rq-load-build.XXXXXX)
    trap cleanup EXIT
    echo "building regen-queue-http in $build_dir"
    if ! { cmake -S "$repo" -B "$build_dir" -DREGEN_BUILD_TESTS=OFF &&
           cmake --build "$build_dir" -j "$(nproc)" --target regen-queue-http; } \
        >"$build_dir/build.log" 2>&1; then
        tail -n 30 "$build_dir/build.log" >&2
        echo "not ok - regen-queue-http does not build"
        exit 1
    fi
    shim_bin=$build_dir/regen-queue-http
fi

# ------------------------------------------------------------------------------------------------
step "machine"
echo "cores: $(nproc); memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk: $(wrk -v 2>&1 | head -n 1)"
echo "shim: $shim_bin ($("$shim_bin" --version))"
echo "mode: $( ((CHECK_MODE)) && echo check || echo full); $DURATION s per route," \
     "$DRAIN_JOBS jobs for the drain route, $OVERHEAD_ROUNDS x 2 overhead runs of $OVERHEAD_SECONDS s"

# No background worker drains the database (regen_queue.databases is empty): the HTTP drain
# route is the only thing that runs jobs, so its processedCount adds up to every job run.
rq_cluster_start load "$PORT" \
    "regen_queue.databases = ''" \
    "regen_queue.inline_processing = off" \
    "max_worker_processes = 64" \
    "shared_buffers = '512MB'" \
    "max_wal_size = '8GB'" \
    "checkpoint_timeout = '30min'"
trap cleanup EXIT

token="load-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
# What the shim sends for it: pgbench sends the same (bytea input syntax).
token_sha256="\\x$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)"
sql -d postgres -c "CREATE DATABASE $DB"
sql -v shim="$SHIM_ROLE" <<'EOF' >/dev/null
CREATE EXTENSION regen_queue;
CREATE SCHEMA load;

-- Every run of the handler leaves a row; no unique constraint, so that a job run twice shows.
CREATE TABLE load.handler_run (job_id uuid NOT NULL);
CREATE FUNCTION load.record_run(job regen_queue.job_queue) RETURNS jsonb
    LANGUAGE sql
    AS $$ INSERT INTO load.handler_run (job_id) VALUES (job.id); SELECT '{}'::jsonb $$;
SELECT regen_register_handler('plan_regeneration', 'load.record_run(regen_queue.job_queue)');

CREATE ROLE :shim LOGIN;
GRANT EXECUTE ON FUNCTION regen_enqueue(uuid, jsonb, uuid, integer, timestamptz, integer, text)
    TO :shim;
GRANT USAGE ON SCHEMA regen_queue TO :shim;
GRANT EXECUTE ON FUNCTION regen_drain(integer), regen_stats(),
    regen_queue.http_check_token(bytea), regen_queue.http_request_overrides(text) TO :shim;
GRANT SELECT ON regen_queue.job_queue, regen_queue.handler TO :shim;
GRANT UPDATE (status, attempts, result, last_error, scheduled_for, started_at, completed_at,
              updated_at, lease_owner, lease_expires_at, lease_drain, lease_size, run_alone)
    ON regen_queue.job_queue TO :shim;
-- Drains run the handler as their caller.
GRANT USAGE ON SCHEMA load TO :shim;
GRANT INSERT ON load.handler_run TO :shim;
GRANT EXECUTE ON FUNCTION load.record_run(regen_queue.job_queue) TO :shim;
EOF
# The token goes through ALTER SYSTEM (never a command line of the server), so that both
# routes take the Bearer path.
sql -d postgres -c "SET log_statement = 'none'" \
    -c "ALTER SYSTEM SET regen_queue.worker_token = '$token'" -c "SELECT pg_reload_conf()" \
    >/dev/null
rq_poll "SELECT current_setting('regen_queue.worker_token') = '$token'" 30 "$DB"

echo "cluster: PostgreSQL $(value "SHOW server_version") on 127.0.0.1:$PORT;" \
     "$(value "SELECT string_agg(name || ' ' || setting, ', ' ORDER BY name) FROM pg_settings
               WHERE name IN ('fsync', 'synchronous_commit', 'max_worker_processes',
                              'max_connections', 'regen_queue.databases',
                              'regen_queue.max_jobs_per_drain')")"

shim_log=$RQ_CLUSTER_DIR/shim.log
"$shim_bin" --listen "127.0.0.1:$SHIM_PORT" \
    --database-url "host=127.0.0.1 port=$PORT dbname=$DB user=$SHIM_ROLE" \
    --pool-size "$POOL_SIZE" --shutdown-timeout 10 >"$shim_log" 2>&1 &
shim_pid=$!
base_url=http://127.0.0.1:$SHIM_PORT
# curl must go straight to the shim, whatever proxy the environment names.
curl_shim() { curl -sS --noproxy '*' --max-time 60 "$@"; }
# Our shim, not whatever else might hold the port: it logs that it listens before /healthz
# counts, and it exits at once when the port is taken.
deadline=$((SECONDS + 30))
until grep -q "listening on 127.0.0.1 port $SHIM_PORT" "$shim_log" &&
    [[ "$(curl_shim -o /dev/null -w '%{http_code}' "$base_url/healthz" 2>/dev/null)" == 200 ]]; do
    if ! kill -0 "$shim_pid" 2>/dev/null || ((SECONDS >= deadline)); then
        echo "not ok - the shim did not answer /healthz within 30 s; its log:"
        sed 's/^/    /' "$shim_log"
        exit 1
    fi
    sleep 0.2
done
echo "shim: pid $shim_pid on $base_url, pool of $POOL_SIZE connections"
note_rss "at start"

# ------------------------------------------------------------------------------------------------
# run_wrk NAME ROUTE RUN ACTIVE_S CONNECTIONS THREADS [TAIL_S]: wrk with http_load.lua; its
# counts go to $RQ_CLUSTER_DIR/NAME.counts and its report to NAME.wrk. False when wrk failed.
run_wrk() {
    local name=$1 route=$2 run=$3 active_s=$4 connections=$5 threads=$6 tail_s=${7:-$TAIL_S}
    local path=/api/internal/jobs/regeneration/process
    [[ "$route" == drain ]] || path=/api/v1/plans/00000000-0000-4000-8000-000000000000/regenerate

    RQ_LOAD_ROUTE=$route RQ_LOAD_TOKEN=$token RQ_LOAD_ACTIVE_S=$active_s RQ_LOAD_RUN=$run \
    RQ_LOAD_BODY=$ENQUEUE_BODY RQ_LOAD_OUT=$RQ_CLUSTER_DIR/$name.counts \
        timeout --kill-after=5 $((active_s + tail_s + 30)) \
        wrk -c "$connections" -t "$threads" -d "$((active_s + tail_s))s" \
            --timeout "${WRK_TIMEOUT_S}s" --latency -s "$here/http_load.lua" "$base_url$path" \
        >"$RQ_CLUSTER_DIR/$name.wrk" 2>&1 && [[ -s "$RQ_CLUSTER_DIR/$name.counts" ]]
}

# One check of a wrk run's answers: check_wrk LABEL NAME EXPECTED_STATUS [ROWS], ROWS being
# the job rows its requests should have created. The description says what was wrong.
check_wrk() {
    local label=$1 counts=$RQ_CLUSTER_DIR/$2.counts expected=$3 rows=${4:-}
    local answered name problems=()
    answered=$(count "$counts" answered)
    for name in errors_connect errors_read errors_write errors_timeout errors_status unreadable; do
        (($(count "$counts" "$name") == 0)) || problems+=("$name $(count "$counts" "$name")")
    done
    (($(count "$counts" "status_$expected") == answered)) ||
        problems+=("$((answered - $(count "$counts" "status_$expected"))) answers not $expected")
    (($(count "$counts" sent) == answered)) ||
        problems+=("$(($(count "$counts" sent) - answered)) in flight at the end")
    ((answered > 0)) || problems+=("no answer")
    [[ -z "$rows" ]] || ((rows == answered)) || problems+=("$rows job rows for $answered answers")

    if ((${#problems[@]} == 0)); then
        check "$label: $answered answers, all $expected, no errors, none in flight${rows:+, as many job rows}" true
    else
        local IFS=,
        check "$label: ${problems[*]}" false
    fi
}

# Print a wrk run's figures and check its answers: report_wrk NAME LABEL EXPECTED_STATUS.
report_wrk() {
    local name=$1 label=$2 expected=$3 counts=$RQ_CLUSTER_DIR/$1.counts
    local answered window_ms
    answered=$(count "$counts" answered)
    window_ms=$(count "$counts" window_ms)
    echo "$label: $answered answers in $(ms "$window_ms") s," \
         "$(per_second "$answered" "$window_ms") requests/s;" \
         "latency median $(ms "$(count "$counts" latency_p50_us)") ms," \
         "p99 $(ms "$(count "$counts" latency_p99_us)") ms," \
         "max $(ms "$(count "$counts" latency_max_us)") ms"
    echo "  wrk's report (its Requests/sec divides by the whole run, idle tail included):"
    sed 's/^/    /' "$RQ_CLUSTER_DIR/$name.wrk"

    check_eq "$label: socket errors (connect, read, write, timeout)" \
        "$(count "$counts" errors_connect), $(count "$counts" errors_read), $(count "$counts" errors_write), $(count "$counts" errors_timeout)" \
        "0, 0, 0, 0"
    check_eq "$label: answers other than $expected" \
        "$((answered - $(count "$counts" "status_$expected")))" 0
    check_eq "$label: non-2xx answers counted by wrk" "$(count "$counts" errors_status)" 0
    check_eq "$label: requests in flight when wrk stopped (sent - answered)" \
        "$(($(count "$counts" sent) - answered))" 0
    check_eq "$label: $expected answers whose body is not the route's" \
        "$(count "$counts" unreadable)" 0
    check "$label: some requests were answered ($answered)" test "$answered" -gt 0
}

# The job table's state: "total completed pending processing failed".
job_counts() {
    value "SELECT count(*), count(*) FILTER (WHERE status = 'completed'),
                  count(*) FILTER (WHERE status = 'pending'),
                  count(*) FILTER (WHERE status = 'processing'),
                  count(*) FILTER (WHERE status = 'failed')
             FROM regen_queue.job_queue" | tr '|' ' '
}

# Handler runs per job: "jobs that ran once, jobs that ran more than once, runs of no job".
run_counts() {
    value "SELECT count(*) FILTER (WHERE r.runs = 1), count(*) FILTER (WHERE r.runs > 1),
                  (SELECT count(*) FROM load.handler_run h
                    WHERE NOT EXISTS (SELECT FROM regen_queue.job_queue j WHERE j.id = h.job_id))
             FROM (SELECT job_id, count(*) AS runs FROM load.handler_run GROUP BY job_id) r" |
        tr '|' ' '
}

reset_tables() {
    sql -c "TRUNCATE regen_queue.job_queue, load.handler_run" \
        -c "VACUUM ANALYZE regen_queue.job_queue" -c "VACUUM ANALYZE load.handler_run" \
        -c "CHECKPOINT"
}

# ------------------------------------------------------------------------------------------------
step "1. enqueue route: wrk -c$CONNECTIONS -t$THREADS for $DURATION s, then drain route until empty"
enqueue_lines_before=$(log_lines /api/v1/plans/:planId/regenerate 202)
if ! run_wrk enqueue enqueue 1 "$DURATION" "$CONNECTIONS" "$THREADS"; then
    check "enqueue route: wrk ran" false
    sed 's/^/    /' "$RQ_CLUSTER_DIR/enqueue.wrk"
    exit 1
fi
report_wrk enqueue "enqueue route" 202
note_rss "after the enqueue route"
accepted=$(count "$RQ_CLUSTER_DIR/enqueue.counts" status_202)

read -r jobs _ pending _ _ <<<"$(job_counts)"
check_eq "202 answers == job rows created" "$accepted" "$jobs"
check_eq "plan ids queued more than once" \
    "$(value "SELECT count(*) - count(DISTINCT plan_id) FROM regen_queue.job_queue")" 0
check_eq "shim log: lines of 202 enqueue answers == 202 answers" \
    "$(($(log_lines /api/v1/plans/:planId/regenerate 202) - enqueue_lines_before))" "$accepted"

# Drain through the HTTP route, one call at a time, until a call finds nothing. Bounded: at
# least 100 jobs per call (max_jobs_per_drain), so twice the calls needed is plenty.
drain_calls=0 drain_refused=0 drain_processed=0 drain_body=$RQ_CLUSTER_DIR/drain.body
drain_started=$SECONDS processed_count_re='"processedCount": ?([0-9]+)'
max_calls=$((2 * pending / 100 + 20)) deadline=$((SECONDS + 120 + pending / 100))
while ((drain_calls < max_calls && SECONDS < deadline)); do
    drain_calls=$((drain_calls + 1))
    code=$(curl_shim -o "$drain_body" -w '%{http_code}' -X POST \
        -H "Authorization: Bearer $token" "$base_url/api/internal/jobs/regeneration/process" ||
        true)
    if [[ "$code" != 200 ]] || ! [[ "$(cat "$drain_body")" =~ $processed_count_re ]]; then
        drain_refused=$((drain_refused + 1))
        echo "  drain call $drain_calls answered $code: $(head -c 300 "$drain_body" 2>/dev/null)"
        ((drain_refused < 5)) || break
        continue
    fi
    processed_now=${BASH_REMATCH[1]}
    ((processed_now > 0)) || break
    drain_processed=$((drain_processed + processed_now))
done
echo "drain route until empty: $drain_calls calls in $((SECONDS - drain_started)) s," \
     "processedCount summed to $drain_processed"
note_rss "after draining the queue"

read -r jobs completed pending processing failed <<<"$(job_counts)"
read -r ran_once ran_twice stray_runs <<<"$(run_counts)"
check_eq "drain route until empty: answers other than 200" "$drain_refused" 0
check_eq "sum of processedCount == jobs completed" "$drain_processed" "$completed"
check_eq "jobs left pending, processing or failed" "$pending, $processing, $failed" "0, 0, 0"
check_eq "jobs whose handler ran exactly once == jobs queued" "$ran_once" "$jobs"
check_eq "jobs run more than once, handler runs of no job" "$ran_twice, $stray_runs" "0, 0"

# ------------------------------------------------------------------------------------------------
step "2. drain route: $DRAIN_JOBS jobs queued in SQL, then wrk -c$CONNECTIONS -t$THREADS for $DURATION s"
reset_tables >/dev/null
sql -c "SELECT count(regen_enqueue(
                     ('00000000-0002-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
                     '$ENQUEUE_OVERRIDES'))
          FROM generate_series(1, $DRAIN_JOBS) AS i" \
    -c "VACUUM ANALYZE regen_queue.job_queue" -c "CHECKPOINT" >/dev/null
read -r jobs _ pending _ _ <<<"$(job_counts)"
check_eq "jobs queued in SQL before the drain route" "$pending" "$DRAIN_JOBS"

if ! run_wrk drain drain 0 "$DURATION" "$CONNECTIONS" "$THREADS"; then
    check "drain route: wrk ran" false
    sed 's/^/    /' "$RQ_CLUSTER_DIR/drain.wrk"
    exit 1
fi
report_wrk drain "drain route" 200
note_rss "after the drain route"
counts=$RQ_CLUSTER_DIR/drain.counts
processed=$(count "$counts" processed)
window_ms=$(count "$counts" window_ms)
echo "drain route: processedCount summed to $processed," \
     "$(per_second "$processed" "$window_ms") jobs/s"

read -r jobs completed pending processing failed <<<"$(job_counts)"
read -r ran_once ran_twice stray_runs <<<"$(run_counts)"
((pending > 0)) || echo "note: the queue ran empty before wrk stopped; the last drains found" \
    "nothing (queue more jobs with --drain-jobs for a drain-bound figure)"
check_eq "sum of processedCount == jobs completed" "$processed" "$completed"
check_eq "sums of completedCount, failedCount" \
    "$(count "$counts" completed), $(count "$counts" failed)" "$completed, 0"
check_eq "jobs processing or failed" "$processing, $failed" "0, 0"
check_eq "jobs completed + pending == jobs queued" "$((completed + pending))" "$DRAIN_JOBS"
check_eq "jobs whose handler ran exactly once == jobs completed" "$ran_once" "$completed"
check_eq "jobs run more than once, handler runs of no job" "$ran_twice, $stray_runs" "0, 0"

# ------------------------------------------------------------------------------------------------
step "3. overhead: the enqueue route, one connection, against its two statements from pgbench"
echo "$OVERHEAD_ROUNDS rounds, alternating: wrk -c1 -t1 through the shim for $OVERHEAD_SECONDS s," \
     "then pgbench -c1 -M prepared over 127.0.0.1 for $OVERHEAD_SECONDS s; empty tables before each"
cp "$here/http_load_enqueue.pgbench.sql" "$RQ_CLUSTER_DIR/"
chown postgres: "$RQ_CLUSTER_DIR/http_load_enqueue.pgbench.sql"
shim_medians=() sql_medians=()
for ((round = 1; round <= OVERHEAD_ROUNDS; round++)); do
    reset_tables >/dev/null
    if run_wrk "single$round" enqueue $((10 + round)) "$OVERHEAD_SECONDS" 1 1 "$SINGLE_TAIL_S"; then
        read -r jobs _ _ _ _ <<<"$(job_counts)"
        check_wrk "overhead round $round, shim" "single$round" 202 "$jobs"
    else
        check "overhead round $round, shim: wrk ran" false
        sed 's/^/    /' "$RQ_CLUSTER_DIR/single$round.wrk"
    fi
    shim_medians+=("$(count "$RQ_CLUSTER_DIR/single$round.counts" latency_p50_us)")

    reset_tables >/dev/null
    pgbench_status=0
    (cd "$RQ_CLUSTER_DIR" &&
        timeout --kill-after=5 $((OVERHEAD_SECONDS + 60)) \
            runuser -u postgres -- "$RQ_PGBIN/pgbench" -n -M prepared -h 127.0.0.1 -p "$PORT" \
            -U "$SHIM_ROLE" -c 1 -j 1 -T "$OVERHEAD_SECONDS" \
            -D token_sha256="$token_sha256" -D body="$ENQUEUE_BODY" -D run=$((20 + round)) -D n=0 \
            --log --log-prefix="$RQ_CLUSTER_DIR/pgbench_$round" \
            -f "$RQ_CLUSTER_DIR/http_load_enqueue.pgbench.sql" "$DB") \
        >"$RQ_CLUSTER_DIR/pgbench_$round.out" 2>&1 || pgbench_status=$?
    transactions=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*$/\1/p' \
        "$RQ_CLUSTER_DIR/pgbench_$round.out")
    read -r jobs _ _ _ _ <<<"$(job_counts)"
    check "overhead round $round, pgbench: exit status $pgbench_status, ${transactions:-0} transactions, $jobs job rows" \
        test "$pgbench_status" -eq 0 -a "${transactions:-0}" -gt 0 -a "${transactions:-0}" -eq "$jobs"
    ((pgbench_status == 0)) || sed 's/^/    /' "$RQ_CLUSTER_DIR/pgbench_$round.out"
    # Per-transaction log lines: client, transaction number, latency in microseconds, ...
    cat "$RQ_CLUSTER_DIR/pgbench_$round".[0-9]* 2>/dev/null | awk '{ print $3 }' \
        >"$RQ_CLUSTER_DIR/pgbench_$round.latencies"
    sql_medians+=("$(median <"$RQ_CLUSTER_DIR/pgbench_$round.latencies")")

    counts=$RQ_CLUSTER_DIR/single$round.counts
    echo "  round $round: shim $(count "$counts" answered) requests," \
         "median $(ms "${shim_medians[-1]}" 3) ms (p99 $(ms "$(count "$counts" latency_p99_us)" 3) ms);" \
         "pgbench ${transactions:-0} transactions, median $(ms "${sql_medians[-1]}" 3) ms" \
         "(p99 $(ms "$(p99 <"$RQ_CLUSTER_DIR/pgbench_$round.latencies")" 3) ms)"
done
shim_p50_us=$(printf '%s\n' "${shim_medians[@]}" | median)
sql_p50_us=$(printf '%s\n' "${sql_medians[@]}" | median)
echo "median of the rounds' medians: through the shim $(ms "$shim_p50_us" 3) ms," \
     "straight SQL $(ms "$sql_p50_us" 3) ms"
echo "shim overhead at the median: $(calc "($shim_p50_us - $sql_p50_us) / 1000" 3) ms (target < 1 ms)"

# ------------------------------------------------------------------------------------------------
step "shim"
note_rss "at the end"
check "shim RSS stayed under $((SHIM_RSS_LIMIT_KIB / 1024)) MiB (highest seen: $(calc "$max_rss_kib / 1024" 1) MiB)" \
    test "$max_rss_kib" -lt "$SHIM_RSS_LIMIT_KIB"
# Request lines are "<time> <method> <route> <status> <ms> ms".
check_eq "shim log: lines of 5xx answers" \
    "$(awk '$4 ~ /^5[0-9][0-9]$/ && $6 == "ms" { n++ } END { print n + 0 }' "$shim_log")" 0
check_eq "shim and server logs: lines holding the token" \
    "$(cat "$shim_log" "$RQ_SERVER_LOG" | grep -c -F "$token" || true)" 0
stopped_pid=$shim_pid
kill -TERM "$shim_pid"
shim_status=0
deadline=$((SECONDS + 20))
while kill -0 "$stopped_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
wait "$stopped_pid" || shim_status=$?
shim_pid=""
check_eq "shim exit status after SIGTERM" "$shim_status" 0

# ------------------------------------------------------------------------------------------------
step "summary"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if ((failures > 0)); then
    cp "$shim_log" /tmp/rq-load-shim.log && echo "shim log kept at /tmp/rq-load-shim.log"
fi
rq_cluster_stop
echo "$checks checks, $((checks - failures)) ok, $failures not ok"
((failures == 0))
