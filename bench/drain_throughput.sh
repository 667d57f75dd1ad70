#!/usr/bin/env bash
# regen_queue benchmark (it prints figures and asserts nothing about speed), run as root:
#
#   bash bench/drain_throughput.sh [--jobs N] [--clients C] [--seconds S] [--rounds R]
#                                  [--latency-samples K] [--latency-gap-ms G]
#
#   --jobs N             jobs drained by one regen_drain(N), and rows of the single-statement
#                        table (100000; 100 to 1000000)
#   --clients C          pgbench clients of the enqueue phase (2)
#   --seconds S          pgbench duration of each enqueue run (7)
#   --rounds R           enqueue runs of each kind, alternating; the median is reported (3)
#   --latency-samples K  enqueue-commit to handler-start samples (400)
#   --latency-gap-ms G   pause between two latency samples (20)
#
# It starts a throwaway cluster on 127.0.0.1:5493 with regen_queue preloaded (the build installed
# in /usr/lib/postgresql/15; nothing is built or installed here), and measures:
#   1. drain throughput: N jobs queued beforehand, then ONE regen_drain(N) call, with a no-op
#      LANGUAGE sql handler and no background worker;
#   2. the single-statement limit: pgbench with one client running one statement that claims
#      and completes 100 rows of a plain table with the columns and indexes of
#      regen_queue.job_queue, filled with N pending rows;
#   3. enqueue throughput: regen_enqueue() against a plain INSERT of the same row, with pgbench;
#   4. the time from an enqueue's commit to its handler's start, with inline_processing on.
# Exit status: 0 when every phase ran (whether or not a target is met), 1 when a phase could
# not produce its figure, 2 on a bad argument.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib/cluster.sh
source "$repo/scripts/lib/cluster.sh"

readonly DB=regen_bench PORT=5493
readonly TARGET_JOBS_PER_S=15000 TARGET_RATIO_PCT=30
JOBS=100000
CLIENTS=2
SECONDS_PER_RUN=7
ROUNDS=3
LATENCY_SAMPLES=400
LATENCY_GAP_MS=20

usage() {
    sed -n '4,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit "${1:-2}"
}

while (($# > 0)); do
    case $1 in
        --jobs) JOBS=${2:-}; shift 2 || usage ;;
        --clients) CLIENTS=${2:-}; shift 2 || usage ;;
        --seconds) SECONDS_PER_RUN=${2:-}; shift 2 || usage ;;
        --rounds) ROUNDS=${2:-}; shift 2 || usage ;;
        --latency-samples) LATENCY_SAMPLES=${2:-}; shift 2 || usage ;;
        --latency-gap-ms) LATENCY_GAP_MS=${2:-}; shift 2 || usage ;;
        -h | --help) usage 0 ;;
        *) echo "drain_throughput: unknown argument $1" >&2; usage ;;
    esac
done
for n in "$JOBS" "$CLIENTS" "$SECONDS_PER_RUN" "$ROUNDS" "$LATENCY_SAMPLES" "$LATENCY_GAP_MS"; do
    [[ "$n" =~ ^[1-9][0-9]{0,6}$ ]] || { echo "drain_throughput: not a count: '$n'" >&2; usage; }
done
((JOBS >= 100 && JOBS <= 1000000)) ||
    { echo "drain_throughput: --jobs must be between 100 and 1000000" >&2; usage; }

if [[ "$(id -u)" -ne 0 ]]; then
    echo "drain_throughput: run as root (PostgreSQL itself runs as postgres)" >&2
    exit 1
fi

# Time bounds of the phases, in seconds. They assume at least about 500 jobs/s: a slower run
# is cut short and reported, not waited for.
readonly LOAD_TIMEOUT_S=$((60 + JOBS / 1000))
readonly DRAIN_TIMEOUT_S=$((60 + JOBS / 500))
readonly SINGLE_TIMEOUT_S=$((60 + JOBS / 500))
readonly PGBENCH_TIMEOUT_S=$((SECONDS_PER_RUN + 60))
readonly LATENCY_TIMEOUT_S=$((60 + LATENCY_SAMPLES * (LATENCY_GAP_MS + 100) / 1000))
readonly WORKER_TIMEOUT_S=30

missing=() # phases that could not produce their figure

step() { printf '\n== %s\n' "$*"; }
# psql against the bench cluster only, always by socket directory and port.
sql() { rq_psql -h "$RQ_CLUSTER_DIR" -p "$PORT" -d "$DB" "$@"; }
value() { sql -tA -c "$1"; }
# Run SQL with a statement timeout; regen_drain asks its worker to stop when it is cancelled.
timed_sql() {
    local timeout_s=$1
    shift
    PGOPTIONS="-c statement_timeout=${timeout_s}s" sql "$@"
}
# The duration in ms of the one statement of a psql run with \timing on (server round trip,
# without the connection).
elapsed_ms() { sed -n 's/^Time: \([0-9.]*\) ms.*$/\1/p' | tail -n 1; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
verdict() { awk "BEGIN { exit !($1) }" && echo MET || echo "NOT MET"; }

pgbench_run() {
    local timeout_s=$1 log=$2
    shift 2
    timeout --kill-after=10 "$timeout_s" \
        runuser -u postgres -- "$RQ_PGBIN/pgbench" -n -h "$RQ_CLUSTER_DIR" -p "$PORT" "$@" "$DB" \
        >"$log" 2>&1
}
# tps of a pgbench report, without the initial connection time.
pgbench_tps() { sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$1"; }
pgbench_done() { sed -n 's/^number of transactions actually processed: \([0-9]*\).*$/\1/p' "$1"; }
pgbench_failed() {
    echo "  pgbench failed or timed out; its output:" >&2
    sed 's/^/    /' "$1" >&2
}

# Point the background worker at the bench database (or at none) and wait until it is
# attached (or gone), then until it is idle.
worker_attached="EXISTS (SELECT FROM pg_stat_activity
                          WHERE datname = '$DB' AND backend_type = 'regen_queue worker')"
set_worker() {
    local databases=$1
    shift
    {
        echo "ALTER SYSTEM SET regen_queue.databases = '$databases';"
        local setting
        for setting in "$@"; do
            echo "ALTER SYSTEM SET $setting;"
        done
        echo "SELECT pg_reload_conf();"
    } | sql -d postgres >/dev/null
    if [[ -n "$databases" ]]; then
        rq_poll "SELECT $worker_attached AND NOT EXISTS (
                     SELECT FROM pg_stat_activity
                      WHERE backend_type = 'regen_queue worker' AND state = 'active')" \
            "$WORKER_TIMEOUT_S" "$DB"
    else
        rq_poll "SELECT NOT $worker_attached" "$WORKER_TIMEOUT_S" "$DB"
    fi
}

# Empty, vacuumed tables and a checkpoint before each measured phase.
reset_tables() {
    sql -c "TRUNCATE regen_queue.job_queue, bench.jobs, bench.handler_start, bench.enqueue_commit" \
        -c "VACUUM ANALYZE regen_queue.job_queue" -c "VACUUM ANALYZE bench.jobs" -c "CHECKPOINT"
}
settle() {
    sql -c "VACUUM ANALYZE regen_queue.job_queue" -c "VACUUM ANALYZE bench.jobs" -c "CHECKPOINT"
}

# ------------------------------------------------------------------------------------------------
library=/usr/lib/postgresql/15/lib/regen_queue.so
step "machine"
echo "cores: $(nproc); memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "kernel: $(uname -r); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
library_sha() { sha256sum "$library" | cut -c1-12; }
build_at_start=$(library_sha)
echo "regen_queue build: $library, modified $(stat -c %y "$library" | cut -d. -f1)," \
     "sha256 $build_at_start"

rq_cluster_start bench "$PORT" \
    "regen_queue.databases = ''" \
    "regen_queue.inline_processing = off" \
    "regen_queue.max_jobs_per_drain = $JOBS" \
    "shared_buffers = '1GB'" \
    "max_wal_size = '8GB'" \
    "checkpoint_timeout = '30min'" \
    "log_min_messages = warning"
sql -d postgres -c "CREATE DATABASE $DB"
sql -f "$here/setup.sql" >/dev/null
# pgbench runs as postgres: it reads copies of its scripts from the cluster's directory.
cp "$here"/*.pgbench.sql "$RQ_CLUSTER_DIR/"
chown postgres: "$RQ_CLUSTER_DIR"/*.pgbench.sql

step "server (127.0.0.1:$PORT, throwaway cluster)"
value "SELECT version()"
value "SELECT name || ' = ' || current_setting(name)
         FROM pg_settings
        WHERE name IN ('synchronous_commit', 'fsync', 'full_page_writes', 'wal_level',
                       'shared_buffers', 'max_wal_size', 'checkpoint_timeout',
                       'regen_queue.max_jobs_per_drain', 'regen_queue.lease_timeout',
                       'regen_queue.inline_processing', 'regen_queue.databases',
                       'regen_queue.drain_interval')
        ORDER BY name"
echo "(the regen_queue.* values are those of phases 1-3; phase 4 changes three of them)"

# ------------------------------------------------------------------------------------------------
step "1. drain throughput: $JOBS jobs, one regen_drain($JOBS), no-op LANGUAGE sql handler"
reset_tables
enqueue_set_ms=$(timed_sql "$LOAD_TIMEOUT_S" -c '\timing on' \
    -c "SELECT count(regen_enqueue(gen_random_uuid(), '{}')) FROM generate_series(1, $JOBS)" |
    elapsed_ms)
settle
queued=$(value "SELECT count(*) FROM regen_queue.job_queue WHERE status = 'pending'")
if ((queued != JOBS)); then
    echo "drain_throughput: $queued jobs pending after queueing $JOBS; cannot measure" >&2
    exit 1
fi
echo "queued $queued jobs beforehand, in one statement of $JOBS regen_enqueue() calls:" \
     "$(calc "$enqueue_set_ms / 1000") s ($(calc "$JOBS * 1000 / $enqueue_set_ms" 0) jobs/s)"
echo "background worker attached to $DB: $(value "SELECT $worker_attached")"

drain_rate=n/a drain_verdict="NOT MET (no figure)" drain_out=$RQ_CLUSTER_DIR/drain.out
if timed_sql "$DRAIN_TIMEOUT_S" -tA -c '\timing on' -c "SELECT regen_drain($JOBS)" \
    >"$drain_out" 2>&1; then
    drain_ms=$(elapsed_ms <"$drain_out")
    echo "regen_drain($JOBS) -> $(head -n 1 "$drain_out")"
    echo "wall time of the call: $(calc "$drain_ms / 1000" 3) s"
else
    echo "regen_drain($JOBS) failed or was cut off after ${DRAIN_TIMEOUT_S} s:" >&2
    sed 's/^/    /' "$drain_out" >&2
    drain_ms=""
    missing+=("drain")
fi
IFS='|' read -r drain_completed drain_other drain_span_s <<<"$(value "
    SELECT count(*) FILTER (WHERE status = 'completed'),
           count(*) FILTER (WHERE status <> 'completed'),
           round(extract(epoch FROM max(completed_at) - min(started_at))::numeric, 3)
      FROM regen_queue.job_queue")"
if ((drain_completed == JOBS && drain_other == 0)); then
    drain_check="all $JOBS jobs completed"
else
    drain_check="NOT ALL COMPLETED: $drain_completed of $JOBS completed, $drain_other not"
fi
echo "check: $drain_check (first claim to last completion: ${drain_span_s:-n/a} s)"
if [[ -n "$drain_ms" ]]; then
    drain_rate=$(calc "$drain_completed * 1000 / $drain_ms" 0)
    drain_verdict=$(verdict "$drain_rate >= $TARGET_JOBS_PER_S")
    ((drain_completed == JOBS)) || drain_verdict="NOT MET (not all jobs completed)"
fi
echo "drain throughput: $drain_rate jobs/s (completed jobs / wall time of the call)"

# ------------------------------------------------------------------------------------------------
single_tx=$((JOBS / 100))
step "2. single-statement limit: pgbench -c 1 -t $single_tx, 100 rows claimed and completed per statement"
reset_tables
insert_set_ms=$(timed_sql "$LOAD_TIMEOUT_S" -c '\timing on' \
    -c "INSERT INTO bench.jobs (job_type, plan_id, payload)
        SELECT 'plan_regeneration', gen_random_uuid(), '{\"overrides\": {}}'
          FROM generate_series(1, $((single_tx * 100)))" | elapsed_ms)
settle
echo "filled bench.jobs with $((single_tx * 100)) pending rows in one plain INSERT:" \
     "$(calc "$insert_set_ms / 1000") s ($(calc "$single_tx * 100000 / $insert_set_ms" 0) rows/s)"
echo "plan of the statement:"
sql -c "EXPLAIN (COSTS OFF) $(grep -v '^--' "$here/claim_complete_100.pgbench.sql")" |
    sed 's/^/  /'
single_rate=n/a ratio=n/a ratio_verdict="NOT MET (no figure)" single_log=$RQ_CLUSTER_DIR/single.log
if pgbench_run "$SINGLE_TIMEOUT_S" "$single_log" -c 1 -t "$single_tx" \
    -f "$RQ_CLUSTER_DIR/claim_complete_100.pgbench.sql"; then
    single_tps=$(pgbench_tps "$single_log")
    single_done=$(value "SELECT count(*) FROM bench.jobs WHERE status = 'completed'")
    echo "pgbench: $(pgbench_done "$single_log") transactions, $single_tps tps;" \
         "$single_done of $((single_tx * 100)) rows completed"
    if ((single_done == single_tx * 100)); then
        single_rate=$(calc "$single_tps * 100" 0)
    else
        echo "  some statements found fewer than 100 rows: no figure" >&2
        missing+=("single statement")
    fi
else
    pgbench_failed "$single_log"
    missing+=("single statement")
fi
echo "single-statement limit: $single_rate rows/s (tps * 100)"
if [[ "$drain_rate" != n/a && "$single_rate" != n/a ]]; then
    ratio=$(calc "100 * $drain_rate / $single_rate" 1)
    ratio_verdict=$(verdict "$ratio >= $TARGET_RATIO_PCT")
fi

# ------------------------------------------------------------------------------------------------
step "3. enqueue throughput: pgbench -c $CLIENTS -j $CLIENTS -T $SECONDS_PER_RUN, one row per transaction, $ROUNDS rounds"
echo "regen_enqueue(): $(sed -n '2,$p' "$here/enqueue_one.pgbench.sql")"
echo "plain INSERT:    $(sed -n '2,$p' "$here/insert_one.pgbench.sql" | tr '\n' ' ' | sed 's/ $//')"
# The two kinds alternate, so that a burst of other load on the machine hits both alike; each
# kind's figure is the median of its rounds.
declare -A runs=([enqueue]="" [insert]="") tps=([enqueue]=n/a [insert]=n/a)
for ((round = 1; round <= ROUNDS; round++)); do
    for kind in enqueue insert; do
        reset_tables
        log=$RQ_CLUSTER_DIR/$kind.log
        if pgbench_run "$PGBENCH_TIMEOUT_S" "$log" -c "$CLIENTS" -j "$CLIENTS" \
            -T "$SECONDS_PER_RUN" -f "$RQ_CLUSTER_DIR/${kind}_one.pgbench.sql"; then
            run_tps=$(calc "$(pgbench_tps "$log")" 0)
            runs[$kind]+="$run_tps "
            rows=$(value "SELECT (SELECT count(*) FROM regen_queue.job_queue)
                                 + (SELECT count(*) FROM bench.jobs)")
            printf '  round %d, %-8s %6s tps (%s transactions, %s rows written)\n' \
                "$round" "$kind:" "$run_tps" "$(pgbench_done "$log")" "$rows"
        else
            pgbench_failed "$log"
            missing+=("enqueue ($kind, round $round)")
        fi
    done
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
for kind in enqueue insert; do
    # shellcheck disable=SC2086 # the list of a kind's runs is split on purpose
    [[ -z "${runs[$kind]}" ]] || tps[$kind]=$(calc "$(median ${runs[$kind]})" 0)
done
enqueue_ratio=n/a
if [[ "${tps[enqueue]}" != n/a && "${tps[insert]}" != n/a ]]; then
    enqueue_ratio=$(calc "100 * ${tps[enqueue]} / ${tps[insert]}" 1)
fi
echo "medians: regen_enqueue ${tps[enqueue]} tps, plain INSERT ${tps[insert]} tps: $enqueue_ratio %"

# ------------------------------------------------------------------------------------------------
step "4. enqueue commit to handler start: $LATENCY_SAMPLES samples, ${LATENCY_GAP_MS} ms apart"
reset_tables
set_worker "$DB" "regen_queue.inline_processing = on" "regen_queue.drain_interval = '10s'"
echo "background worker attached to $DB and idle; inline_processing on, drain_interval 10s"
if ! timed_sql "$LATENCY_TIMEOUT_S" \
    -c "CALL bench.measure_latency($LATENCY_SAMPLES, $LATENCY_GAP_MS,
                                   clock_timestamp() + interval '$((LATENCY_TIMEOUT_S - 10)) s',
                                   interval '15 s')"; then
    echo "  the latency run failed or was cut off; the samples taken are reported" >&2
fi
IFS='|' read -r latency_n latency_min latency_p50 latency_p99 latency_max <<<"$(value "
    SELECT count(*),
           round((1000 * min(s))::numeric, 2),
           round((1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY s))::numeric, 2),
           round((1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY s))::numeric, 2),
           round((1000 * max(s))::numeric, 2)
      FROM (SELECT extract(epoch FROM h.started - c.committed) AS s
              FROM bench.enqueue_commit c JOIN bench.handler_start h USING (job_id)) AS l")"
set_worker ""
echo "samples: $latency_n of $LATENCY_SAMPLES; min ${latency_min:-n/a} ms," \
     "median ${latency_p50:-n/a} ms, p99 ${latency_p99:-n/a} ms, max ${latency_max:-n/a} ms"
((latency_n == LATENCY_SAMPLES)) || missing+=("latency")

# ------------------------------------------------------------------------------------------------
step "summary"
cat <<EOF
machine: $(nproc) cores, $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); load average after: $(cut -d' ' -f1-3 /proc/loadavg)
$(value "SELECT 'PostgreSQL ' || current_setting('server_version')
                || ', synchronous_commit ' || current_setting('synchronous_commit')
                || ', fsync ' || current_setting('fsync')
                || ', shared_buffers ' || current_setting('shared_buffers')")

1. drain, one regen_drain($JOBS), no-op SQL handler
     $drain_rate jobs/s   target >= $TARGET_JOBS_PER_S jobs/s: $drain_verdict
     ($drain_check)
2. single statement claiming and completing 100 rows, 1 client
     $single_rate rows/s
   drain / single statement: $ratio %   target >= $TARGET_RATIO_PCT %: $ratio_verdict
3. enqueue, one row per transaction, $CLIENTS clients, median of $ROUNDS runs of $SECONDS_PER_RUN s each
     regen_enqueue ${tps[enqueue]} tps, plain INSERT ${tps[insert]} tps: $enqueue_ratio %
   set-based, $JOBS rows in one statement: regen_enqueue $(calc "$enqueue_set_ms / 1000") s, plain INSERT $(calc "$insert_set_ms / 1000") s
4. enqueue commit to handler start (inline_processing on, drain_interval 10s)
     $latency_n samples: median ${latency_p50:-n/a} ms, p99 ${latency_p99:-n/a} ms (min ${latency_min:-n/a}, max ${latency_max:-n/a})
EOF

if [[ "$(library_sha)" != "$build_at_start" ]]; then
    echo "note: $library was replaced during the run (sha256 now $(library_sha)); the server" \
         "kept the build it preloaded at its start ($build_at_start)"
fi

rq_cluster_stop
if ((${#missing[@]} > 0)); then
    echo "drain_throughput: no figure for: ${missing[*]}" >&2
    exit 1
fi
