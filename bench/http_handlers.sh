#!/usr/bin/env bash
# HTTP handlers end to end (issue 4's benchmark; it prints figures and asserts nothing about
# speed), run as root:
#
#   bash bench/http_handlers.sh [--jobs N] [--latency-ms L] [--concurrency C] [--max-jobs M]
#
#   --jobs N         jobs queued before the worker starts (2000)
#   --latency-ms L   how long the generation service takes to answer each call (200)
#   --concurrency C  regen_queue.http_concurrency (64)
#   --max-jobs M     regen_queue.max_jobs_per_drain (100, the setting's default)
#
# A throwaway cluster on 127.0.0.1:5495 (the installed build of regen_queue; nothing is built
# or installed here but the test generation service) drains N jobs of an HTTP handler whose
# endpoint, regen-test-genservice on 127.0.0.1:18460, answers each signed call after L ms. The
# jobs are queued first; then the background worker is given the database and drains them.
# Reported:
#   - jobs/s from the first call's start to the last completion (started_at, completed_at), and
#     that as a share of C * 1000 / L, what latency and concurrency allow (the target is 90 %);
#   - the worker's private resident memory (its heap), sampled every 250 ms: at the start, at
#     each quarter of the run, at the end, and its peak (flat memory is the target);
#   - the service's count of calls per job (each exactly one), signatures it refused (none) and
#     the most calls it had in flight at once (at most C).
# Exit status: 0 when the run completed (whatever the figures), 1 when it could not.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib/cluster.sh
source "$repo/scripts/lib/cluster.sh"

readonly DB=regen_bench PORT=5495 SERVICE_PORT=18460 TARGET_PCT=90
JOBS=2000
LATENCY_MS=200
CONCURRENCY=64
MAX_JOBS=100

usage() {
    sed -n '5,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit "${1:-2}"
}

while (($# > 0)); do
    case $1 in
        --jobs) JOBS=${2:-}; shift 2 || usage ;;
        --latency-ms) LATENCY_MS=${2:-}; shift 2 || usage ;;
        --concurrency) CONCURRENCY=${2:-}; shift 2 || usage ;;
        --max-jobs) MAX_JOBS=${2:-}; shift 2 || usage ;;
        -h | --help) usage 0 ;;
        *) echo "http_handlers: unknown argument $1" >&2; usage ;;
    esac
done
for n in "$JOBS" "$LATENCY_MS" "$CONCURRENCY" "$MAX_JOBS"; do
    [[ "$n" =~ ^[1-9][0-9]{0,5}$ ]] || { echo "http_handlers: not a count: '$n'" >&2; usage; }
done

if [[ "$(id -u)" -ne 0 ]]; then
    echo "http_handlers: run as root (the cluster runs as postgres)" >&2
    exit 1
fi

build=$(mktemp -d /tmp/regen_queue-http-handlers.XXXXXX)
chmod 755 "$build"
rq_log "building the test generation service in $build"
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DREGEN_BUILD_SHIM=OFF >"$build/cmake.log" 2>&1 &&
    cmake --build "$build" --target regen-test-genservice -j2 >>"$build/cmake.log" 2>&1 ||
    { cat "$build/cmake.log" >&2; exit 1; }

secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
"$build/regen-test-genservice" --port "$SERVICE_PORT" --secret "$secret" --max-seconds 900 \
    >"$build/service.log" 2>&1 &
service_pid=$!
rq_track_pid "$service_pid"
trap 'rm -rf "$build"' EXIT
for ((i = 0; i < 50; i++)); do
    grep -q listening "$build/service.log" && break
    sleep 0.1
done
grep -q listening "$build/service.log" || { cat "$build/service.log" >&2; exit 1; }

rq_cluster_start bench "$PORT" \
    "regen_queue.databases = ''" \
    "regen_queue.drain_interval = '1s'" \
    "regen_queue.max_jobs_per_drain = $MAX_JOBS" \
    "regen_queue.http_concurrency = $CONCURRENCY" \
    "regen_queue.http_signing_secret = '$secret'" \
    "log_min_messages = warning" >/dev/null

sql() { rq_psql -h "$RQ_CLUSTER_DIR" -p "$PORT" -d "$DB" "$@"; }
rq_psql -h "$RQ_CLUSTER_DIR" -p "$PORT" -d postgres -c "CREATE DATABASE $DB"
sql <<SQL
CREATE EXTENSION regen_queue;
SELECT regen_register_http_handler('plan_regeneration',
    'http://127.0.0.1:$SERVICE_PORT/generate?latency_ms=$LATENCY_MS', '30 s');
SELECT count(regen_enqueue(gen_random_uuid())) FROM generate_series(1, $JOBS);
SQL

rq_log "draining $JOBS jobs: each call answered after $LATENCY_MS ms, $CONCURRENCY in flight"
rq_psql -h "$RQ_CLUSTER_DIR" -p "$PORT" -d postgres -q \
    -c "ALTER SYSTEM SET regen_queue.databases = '$DB'" -c "SELECT pg_reload_conf()" >/dev/null

# The worker's private resident memory (RssAnon: its heap, not the shared buffers it touches),
# sampled until every job is finished.
rss_log=$build/rss.log
worker_pid=""
deadline=$((SECONDS + 600))
while ((SECONDS < deadline)); do
    if [[ -z "$worker_pid" ]]; then
        worker_pid=$(sql -At -c "SELECT pid FROM pg_stat_activity
                                  WHERE backend_type = 'regen_queue worker'" || true)
    fi
    if [[ -n "$worker_pid" ]]; then
        awk '/^RssAnon/ { print $2 }' "/proc/$worker_pid/status" >>"$rss_log" 2>/dev/null || true
    fi
    left=$(sql -At -c "SELECT count(*) FROM regen_queue.job_queue
                        WHERE status IN ('pending', 'processing')")
    ((left == 0)) && break
    sleep 0.25
done
((left == 0)) || { rq_log "http_handlers: $left jobs still unfinished after 600 s"; exit 1; }

read -r completed failed seconds < <(sql -At -F ' ' -c "
    SELECT count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'),
           extract(epoch FROM max(completed_at) - min(started_at))
      FROM regen_queue.job_queue")
stats=$(curl -s --max-time 10 "http://127.0.0.1:$SERVICE_PORT/stats")
calls_check=$(printf '%s' "$stats" | perl -MJSON::PP -e '
    my $s = decode_json(join "", <STDIN>);
    my @counts = values %{ $s->{jobs} };
    my $once = grep { $_ == 1 } @counts;
    printf "%d %d %d %d %d\n", $s->{calls}, scalar(@counts), $once, $s->{rejected},
        $s->{max_in_flight};')
read -r calls jobs_called called_once rejected max_in_flight <<<"$calls_check"

allowed=$(awk -v c="$CONCURRENCY" -v l="$LATENCY_MS" 'BEGIN { printf "%.1f", c * 1000 / l }')
rate=$(awk -v n="$completed" -v s="$seconds" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }')
share=$(awk -v r="$rate" -v a="$allowed" 'BEGIN { printf "%.1f", 100 * r / a }')
# Samples at 0, 1/4, 1/2, 3/4 and the end of the run, then the peak, in MiB.
memory=$(awk '{ v[NR] = $1; if ($1 > p) p = $1 }
    END { for (q = 0; q <= 4; q++) { i = int(1 + (NR - 1) * q / 4); printf "%.1f ", v[i] / 1024 }
          printf "(peak %.1f)", p / 1024 }' "$rss_log")

echo
echo "== HTTP handlers: $JOBS jobs, ${LATENCY_MS} ms per call, http_concurrency $CONCURRENCY," \
    "max_jobs_per_drain $MAX_JOBS ($(nproc) cores, $(curl-config --version))"
printf 'jobs: %d completed, %d failed, in %.2f s\n' "$completed" "$failed" "$seconds"
printf 'throughput: %s jobs/s = %s %% of the %s jobs/s allowed (target %d %%)\n' \
    "$rate" "$share" "$allowed" "$TARGET_PCT"
printf 'worker private memory (RssAnon, MiB) at 0, 1/4, 1/2, 3/4, 4/4 of the run: %s, %d samples\n' \
    "$memory" "$(wc -l <"$rss_log")"
printf 'service: %d calls for %d jobs, %d jobs called exactly once, %d refused signatures,' \
    "$calls" "$jobs_called" "$called_once" "$rejected"
printf ' at most %d in flight\n' "$max_in_flight"
