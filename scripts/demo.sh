#!/usr/bin/env bash
# regen_queue end to end, in a throwaway cluster, as root: bash scripts/demo.sh
#
# Builds and installs the extension, starts PostgreSQL 15 on 127.0.0.1:5491 with regen_queue
# and pg_cron preloaded, loads the learning_plans example with 3000 plans, and regenerates them
# in three waves:
#   1. the background worker drains a burst of requests (with invalid and duplicate ones);
#   2. the worker is switched off for the database and regen_drain(100) is called by hand;
#   3. pg_cron calls regen_drain() every minute;
#   4. the HTTP shim regen-queue-http (on 127.0.0.1:8491) takes regenerate requests and the
#      runbook's own curl command drains them, with a worker token set in the database;
#   5. an HTTP handler: the worker calls a plan generation service (the tests' stand-in,
#      regen-test-genservice, on 127.0.0.1:8492) with signed requests, many in flight, and
#      honours its 503 with Retry-After.
# It ends with a summary and a list of checks, and exits non-zero if any check fails.
# The cluster is removed on exit; its server log is kept in /tmp when the demo fails, or always
# with RQ_KEEP_LOG=1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/cluster.sh
source "$here/lib/cluster.sh"

readonly DB=regen_demo PORT=5491 SHIM_PORT=8491 GEN_PORT=8492
readonly PLANS=3000 WAVE1_TIMEOUT_S=120 WAVE3_TIMEOUT_S=75 WAVE5_TIMEOUT_S=60

if [[ "$(id -u)" -ne 0 ]]; then
    echo "demo: run as root: it installs packages and the extension" >&2
    exit 1
fi

step() { printf '\n== %s\n' "$*"; }
sql() { rq_psql -d "$DB" "$@"; }
value() { rq_psql -d "$DB" -tA -c "$1"; }

# Print queue counts about once a second until no job is pending or processing. Pending jobs
# that are not yet due count too: a retry in backoff is still work to do.
watch_queue() {
    local timeout_s=$1 every_s=${2:-1} started=$SECONDS counts active
    while true; do
        counts=$(value "SELECT count(*) FILTER (WHERE status IN ('pending', 'processing')),
                               format('pending %s, processing %s, completed %s, failed %s',
                                      count(*) FILTER (WHERE status = 'pending'),
                                      count(*) FILTER (WHERE status = 'processing'),
                                      count(*) FILTER (WHERE status = 'completed'),
                                      count(*) FILTER (WHERE status = 'failed'))
                          FROM regen_queue.job_queue")
        active=${counts%%|*}
        printf '  %4ds  %s\n' $((SECONDS - started)) "${counts#*|}"
        ((active > 0)) || return 0
        if ((SECONDS - started >= timeout_s)); then
            echo "  still $active active jobs after ${timeout_s} s" >&2
            return 1
        fi
        sleep "$every_s"
    done
}

failures=0
check() {
    local what=$1 query=$2
    verdict "$what" "$([[ "$(value "$query")" == t ]] && echo 1)"
}
# verdict WHAT NON-EMPTY-IF-OK
verdict() {
    if [[ -n "$2" ]]; then
        printf '  ok      %s\n' "$1"
    else
        printf '  FAILED  %s\n' "$1"
        failures=$((failures + 1))
    fi
}

step "dependencies"
bash "$here/install-deps.sh"

step "build and install"
build_log=/tmp/regen_queue-demo-build.log
shim_build=$(mktemp -d /tmp/regen_queue-demo-shim.XXXXXX)
if ! { rq_build_install && cmake -S "$repo" -B "$shim_build" &&
       cmake --build "$shim_build" --target regen-queue-http regen-test-genservice -j2; } \
    >"$build_log" 2>&1; then
    echo "demo: the build failed; end of $build_log:" >&2
    tail -n 30 "$build_log" >&2
    exit 1
fi
echo "installed $(ls "$("$RQ_PGBIN/pg_config" --pkglibdir)/regen_queue.so")"
echo "built $("$shim_build/regen-queue-http" --version)"

step "cluster on 127.0.0.1:$PORT"
rq_cluster_start demo "$PORT" \
    "regen_queue.databases = '$DB'" \
    "regen_queue.drain_interval = '200ms'" \
    "regen_queue.inline_processing = on" \
    "cron.database_name = '$DB'"
echo "running in $RQ_CLUSTER_DIR"
rq_psql -d postgres -c "CREATE DATABASE $DB"
sql -c "CREATE EXTENSION regen_queue" -c "CREATE EXTENSION pg_cron"
sql <"$repo/examples/learning_plans/schema.sql"
sql <"$repo/examples/learning_plans/handler.sql" >/dev/null
echo "regen_queue $(value "SELECT extversion FROM pg_extension WHERE extname = 'regen_queue'"),"\
     "pg_cron $(value "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'"),"\
     "handler $(value "SELECT handler FROM regen_queue.handler WHERE job_type = 'plan_regeneration'")"

step "$PLANS plans"
# Plan i has the id md5('plan:i'); every field cycles with i, so each run loads the same data.
sql <<SQL
CREATE SCHEMA demo;
-- The jobs each wave queued, the requests regen_enqueue refused, and the manual drains.
CREATE TABLE demo.wave_job (job_id uuid PRIMARY KEY, wave integer NOT NULL,
                            plan_no integer, plan_id uuid NOT NULL, overrides jsonb NOT NULL);
CREATE TABLE demo.rejection (id serial PRIMARY KEY, request text NOT NULL, plan_id uuid NOT NULL,
                             overrides jsonb NOT NULL, expected_sqlstate text NOT NULL,
                             sqlstate text, message text, detail text);
CREATE TABLE demo.drain_call (id serial PRIMARY KEY, result jsonb NOT NULL);
CREATE FUNCTION demo.plan_id(plan_no integer) RETURNS uuid
    LANGUAGE sql IMMUTABLE RETURN md5('plan:' || plan_no)::uuid;

INSERT INTO learning_plans.plans
       (id, user_id, topic, notes, skill_level, weekly_hours, learning_style,
        start_date, deadline_date, created_at, updated_at)
SELECT demo.plan_id(i),
       md5('user:' || i % 400)::uuid,
       (ARRAY['PostgreSQL internals', 'Rust', 'Spanish', 'Linear algebra', 'Watercolour',
              'Jazz guitar', 'Kubernetes', 'Organic chemistry', 'Public speaking',
              'Data visualisation'])[i % 10 + 1],
       CASE WHEN i % 4 = 0 THEN format('Plan %s: an hour before work.', i) END,
       (ARRAY['beginner', 'intermediate', 'advanced'])[i % 3 + 1],
       i * 7 % 25,
       (ARRAY['reading', 'video', 'practice', 'mixed'])[i % 4 + 1],
       CASE WHEN i % 5 <> 0 THEN date '2026-03-02' + i % 28 END,
       CASE WHEN i % 3 = 0 THEN date '2026-03-02' + i % 28 + 42 + i % 5 * 7 END,
       created, created
  FROM generate_series(1, $PLANS) AS i
 CROSS JOIN LATERAL (SELECT timestamptz '2026-01-05 09:00+00' + i % 50 * interval '1 day')
       AS c(created);
SQL
echo "$(value 'SELECT count(*) FROM learning_plans.plans') plans loaded"

step "wave 1: background worker"
# The worker retries every second until the database exists; start once it is attached.
worker_attached="EXISTS (SELECT FROM pg_stat_activity
                          WHERE datname = current_database() AND backend_type = 'regen_queue worker')"
rq_poll "SELECT $worker_attached" 15 "$DB"
echo "the background worker is attached to $DB"
# One transaction queues the burst, so the duplicates below are certain to meet a pending job;
# its commit wakes the worker (inline_processing). Plans 10, 20, ... are kept for wave 2.
wave1_started=$SECONDS
sql <<'SQL'
DO $$
DECLARE
    r        record;
    state    text;
    msg      text;
    det      text;
BEGIN
    WITH request AS MATERIALIZED (
        SELECT i AS plan_no, demo.plan_id(i) AS plan_id,
               CASE i % 6
                   WHEN 0 THEN '{}'::jsonb
                   WHEN 1 THEN jsonb_build_object('weeklyHours', i % 81)
                   WHEN 2 THEN jsonb_build_object(
                                   'skillLevel', (ARRAY['beginner', 'intermediate', 'advanced'])[i % 3 + 1],
                                   'learningStyle', (ARRAY['reading', 'video', 'practice', 'mixed'])[i % 4 + 1])
                   WHEN 3 THEN jsonb_build_object('topic', format('  Applied topic no. %s  ', i % 97),
                                                  'notes', '')
                   WHEN 4 THEN jsonb_build_object('startDate', date '2026-04-01' + i % 30,
                                                  'deadlineDate', date '2026-06-30' + i % 30)
                   ELSE jsonb_build_object('deadlineDate', NULL, 'notes', 'Weekends only.')
               END AS overrides
          FROM generate_series(1, 3000) AS i
         WHERE i % 10 <> 0
        UNION ALL
        -- Plans that do not exist: their jobs must fail for good on the first attempt.
        SELECT NULL, md5('ghost:' || g)::uuid, '{}'::jsonb FROM generate_series(1, 3) AS g)
    INSERT INTO demo.wave_job (job_id, wave, plan_no, plan_id, overrides)
    SELECT j.id, 1, req.plan_no, req.plan_id, req.overrides
      FROM request AS req
     CROSS JOIN LATERAL regen_enqueue(req.plan_id, req.overrides) AS j;

    INSERT INTO demo.rejection (request, plan_id, overrides, expected_sqlstate)
    VALUES ('topic too short',        demo.plan_id(10), '{"topic": "ab"}', '22023'),
           ('negative weekly hours',  demo.plan_id(20), '{"weeklyHours": -5}', '22023'),
           ('weekly hours not whole', demo.plan_id(30), '{"weeklyHours": 7.5}', '22023'),
           ('unknown skill level',    demo.plan_id(40), '{"skillLevel": "expert"}', '22023'),
           ('unknown override key',   demo.plan_id(50), '{"colour": "blue"}', '22023'),
           ('impossible date',        demo.plan_id(60), '{"startDate": "2026-02-30"}', '22023'),
           ('duplicate of plan 1',    demo.plan_id(1), '{}', '23505'),
           ('duplicate of plan 2',    demo.plan_id(2), '{"topic": "Something else"}', '23505'),
           ('duplicate of plan 3',    demo.plan_id(3), '{"weeklyHours": 3}', '23505');

    -- Each request in its own subtransaction, so a rejection undoes only itself.
    FOR r IN SELECT * FROM demo.rejection ORDER BY id LOOP
        BEGIN
            PERFORM regen_enqueue(r.plan_id, r.overrides);
            state := 'accepted';
            msg := NULL;
            det := NULL;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                                    det = PG_EXCEPTION_DETAIL;
        END;
        UPDATE demo.rejection SET sqlstate = state, message = msg, detail = nullif(det, '')
         WHERE id = r.id;
    END LOOP;
END
$$;
SQL
echo "queued $(value 'SELECT count(*) FROM demo.wave_job WHERE wave = 1') jobs," \
     "$(value "SELECT count(*) FROM demo.rejection WHERE sqlstate <> 'accepted'") requests refused"
watch_queue "$WAVE1_TIMEOUT_S"
echo "wave 1 drained in $((SECONDS - wave1_started)) s"

step "wave 2: worker off, regen_drain(100) by hand"
sql -c "ALTER SYSTEM SET regen_queue.databases = ''" -c "SELECT pg_reload_conf()" >/dev/null
rq_poll "SELECT current_setting('regen_queue.databases') = ''" 10 "$DB"
# On reload the launcher stops the worker of a database no longer listed; wait until it is gone.
rq_poll "SELECT NOT $worker_attached" 15 "$DB"
sql <<'SQL'
-- Plans 10, 20, ..., 3000, and plan 7 again with the same overrides as in wave 1: its
-- modules and tasks must come out identical.
CREATE TABLE demo.plan7_before AS
SELECT m.position AS module, m.title, m.starts_on, m.ends_on, m.estimated_minutes AS module_minutes,
       t.position AS task, t.title AS task_title, t.due_on, t.estimated_minutes
  FROM learning_plans.modules AS m JOIN learning_plans.tasks AS t ON t.module_id = m.id
 WHERE m.plan_id = demo.plan_id(7);

INSERT INTO demo.wave_job (job_id, wave, plan_no, plan_id, overrides)
SELECT j.id, 2, r.plan_no, r.plan_id, r.overrides
  FROM (SELECT i, demo.plan_id(i), jsonb_build_object('weeklyHours', i % 40,
                                                      'learningStyle', 'practice')
          FROM generate_series(10, 3000, 10) AS i
        UNION ALL
        SELECT plan_no, plan_id, overrides FROM demo.wave_job WHERE wave = 1 AND plan_no = 7)
       AS r(plan_no, plan_id, overrides)
 CROSS JOIN LATERAL regen_enqueue(r.plan_id, r.overrides) AS j;
SQL
wave2_jobs=$(value "SELECT count(*) FROM demo.wave_job WHERE wave = 2")
echo "queued $wave2_jobs jobs"
# Nothing may drain them now: after 5 drain intervals they must all still be pending.
sleep 1
wave2_untouched=$(value "SELECT count(*) FROM regen_queue.job_queue WHERE status = 'pending'")
echo "pending after 1 s with the worker off: $wave2_untouched"
for ((call = 1; call <= 10; call++)); do
    printf '  regen_drain(100) -> %s\n' \
        "$(value 'INSERT INTO demo.drain_call (result) SELECT regen_drain(100) RETURNING result')"
    [[ "$(value "SELECT count(*) FROM regen_queue.job_queue WHERE status = 'pending'")" != 0 ]] ||
        break
done

step "wave 3: pg_cron every minute"
sql -c "
INSERT INTO demo.wave_job (job_id, wave, plan_no, plan_id, overrides)
SELECT j.id, 3, i, demo.plan_id(i), '{\"weeklyHours\": 12, \"skillLevel\": \"advanced\"}'
  FROM generate_series(1, $PLANS, 40) AS i
 CROSS JOIN LATERAL regen_enqueue(demo.plan_id(i),
                                  '{\"weeklyHours\": 12, \"skillLevel\": \"advanced\"}') AS j"
echo "queued $(value "SELECT count(*) FROM demo.wave_job WHERE wave = 3") jobs"
cron_job=$(value "SELECT cron.schedule('regen-drain', '* * * * *', 'SELECT regen_drain()')")
echo "scheduled cron job $cron_job ('* * * * *'); pg_cron runs it at the top of the next minute"
cron_ok=1
watch_queue "$WAVE3_TIMEOUT_S" 5 || cron_ok=0
# The run is logged when it ends, just after its jobs are committed.
rq_poll "SELECT EXISTS (SELECT FROM cron.job_run_details
                         WHERE jobid = $cron_job AND status IN ('succeeded', 'failed'))" 10 "$DB" ||
    true
sql -c "SELECT runid, status, return_message, start_time::time(0) AS started,
               round(extract(epoch FROM end_time - start_time)::numeric, 2) AS seconds
          FROM cron.job_run_details WHERE jobid = $cron_job ORDER BY runid"
value "SELECT cron.unschedule('regen-drain')" >/dev/null
echo "unscheduled regen-drain"

step "wave 4: the HTTP shim and the runbook's curl"
# The shim's role gets the README's grants (Privileges section), and the example's tables for
# the handler, which a drain runs as its caller.
sql >/dev/null <<'SQL'
CREATE ROLE app_role NOLOGIN;
CREATE ROLE worker_role NOLOGIN;
CREATE ROLE ops_role NOLOGIN;
CREATE ROLE shim_role NOLOGIN;
CREATE ROLE regen_http LOGIN IN ROLE shim_role;
GRANT USAGE ON SCHEMA learning_plans TO worker_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA learning_plans TO worker_role;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA learning_plans TO worker_role;
SQL
readme_grants=$(awk '/^## / { in_section = ($0 == "## Privileges") }
                     in_section && in_block && /^```/ { exit }
                     in_block { print }
                     in_section && $0 == "```sql" { in_block = 1 }' "$repo/README.md")
sql >/dev/null <<<"$readme_grants"
# A token in the database only (the statement that sets it is kept out of the server log), and
# production, where the shim would refuse every POST without one.
REGENERATION_WORKER_TOKEN=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
sql >/dev/null <<SQL
SET log_statement = 'none';
SET log_min_duration_statement = -1;
SET log_min_error_statement = 'panic';
ALTER SYSTEM SET regen_queue.worker_token = '$REGENERATION_WORKER_TOKEN';
ALTER SYSTEM SET regen_queue.environment = 'production';
SELECT pg_reload_conf();
SQL
shim_log=$RQ_CLUSTER_DIR/shim.log
"$shim_build/regen-queue-http" --listen "127.0.0.1:$SHIM_PORT" \
    --database-url "host=127.0.0.1 port=$PORT dbname=$DB user=regen_http" 2>"$shim_log" &
shim_pid=$!
rq_track_pid "$shim_pid"
base=http://127.0.0.1:$SHIM_PORT
for ((tries = 0; tries < 50; tries++)); do
    curl -s -o /dev/null "$base/healthz" && break
    sleep 0.2
done
echo "regen-queue-http is listening on $base (pid $shim_pid)"

# post PATH [curl options...]: print "STATUS BODY" of a POST.
post() {
    local path=$1
    shift
    local answer
    answer=$(curl -s -X POST -w '\n%{http_code}' "$@" "$base$path")
    echo "${answer##*$'\n'} ${answer%$'\n'*}"
}
auth=(-H "Authorization: Bearer $REGENERATION_WORKER_TOKEN")
wave4_plans=()
for ((i = 5; i <= PLANS; i += 150)); do wave4_plans+=("$i"); done
accepted=0
for i in "${wave4_plans[@]}"; do
    answer=$(post "/api/v1/plans/$(value "SELECT demo.plan_id($i)")/regenerate" "${auth[@]}" \
        -H 'Content-Type: application/json' -d "{\"overrides\": {\"weeklyHours\": $((i % 20 + 1))}}")
    [[ "$answer" == 202* ]] && accepted=$((accepted + 1))
done
echo "POST /api/v1/plans/:planId/regenerate x ${#wave4_plans[@]}: $accepted answered 202"
sql -c "INSERT INTO demo.wave_job (job_id, wave, plan_no, plan_id, overrides)
        SELECT j.id, 4, i, j.plan_id, j.payload->'overrides'
          FROM unnest('{$(IFS=,; echo "${wave4_plans[*]}")}'::int[]) AS i
          JOIN regen_queue.job_queue AS j ON j.plan_id = demo.plan_id(i) AND j.status = 'pending'" \
    >/dev/null
duplicate=$(post "/api/v1/plans/$(value "SELECT demo.plan_id(5)")/regenerate" "${auth[@]}")
invalid=$(post "/api/v1/plans/$(value "SELECT demo.plan_id(6)")/regenerate" "${auth[@]}" \
    -d '{"overrides": {"skillLevel": "wizard"}}')
no_token=$(post "/api/internal/jobs/regeneration/process")
printf '  duplicate        -> %s\n  bad override     -> %s\n  drain, no token  -> %s\n' \
    "$duplicate" "$invalid" "$no_token"

echo "the runbook's command:"
echo '  curl -X POST "'"$base"'/api/internal/jobs/regeneration/process" \'
echo '    -H "Authorization: Bearer ${REGENERATION_WORKER_TOKEN}"'
runbook_answer=$(curl -X POST "$base/api/internal/jobs/regeneration/process" \
  -H "Authorization: Bearer ${REGENERATION_WORKER_TOKEN}" -s)
echo "  -> $runbook_answer"
runbook_processed=$(value "SELECT ('$runbook_answer'::jsonb)->>'processedCount'")
echo "GET /metrics (excerpt):"
curl -s "$base/metrics" | grep -E '^regen_(queue_jobs|http_drains_total|http_requests_total)' |
    sed 's/^/  /'
kill -TERM "$shim_pid"
wait "$shim_pid"
shim_exit=$?
echo "the shim stopped on SIGTERM (exit $shim_exit); its log:"
sed 's/^/  /' "$shim_log"
sql >/dev/null <<'SQL'
ALTER SYSTEM RESET regen_queue.worker_token;
ALTER SYSTEM RESET regen_queue.environment;
SELECT pg_reload_conf();
SQL

step "wave 5: an HTTP handler, a generation service on 127.0.0.1:$GEN_PORT"
# The old worker called a plan generation service; here the tests' stand-in plays it, answering
# each call after 150 ms. The first call of each plan_outline_busy job gets 503 with
# Retry-After: 1. Requests are signed with a secret both sides know.
GEN_SECRET=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
gen_log=$RQ_CLUSTER_DIR/genservice.log
"$shim_build/regen-test-genservice" --port "$GEN_PORT" --secret "$GEN_SECRET" \
    --max-seconds 600 >"$gen_log" 2>&1 &
rq_track_pid "$!"
for ((tries = 0; tries < 50; tries++)); do
    grep -q listening "$gen_log" && break
    sleep 0.1
done
sql >/dev/null <<SQL
SET log_statement = 'none';
SET log_min_duration_statement = -1;
SET log_min_error_statement = 'panic';
ALTER SYSTEM SET regen_queue.http_signing_secret = '$GEN_SECRET';
ALTER SYSTEM SET regen_queue.http_concurrency = 32;
ALTER SYSTEM SET regen_queue.databases = '$DB';
SELECT pg_reload_conf();
SQL
rq_poll "SELECT current_setting('regen_queue.databases') = '$DB'" 10 "$DB"
gen=http://127.0.0.1:$GEN_PORT/outline?latency_ms=150
sql <<SQL
SELECT regen_register_http_handler('plan_outline', '$gen', timeout => '5 s');
SELECT regen_register_http_handler('plan_outline_busy',
                                   '$gen&fail_first=1&fail_status=503&retry_after=1', '5 s');
CREATE TABLE demo.http_job AS
SELECT j.id, j.job_type, i AS plan_no
  FROM generate_series(1, $PLANS, 25) AS i
 CROSS JOIN LATERAL regen_enqueue(demo.plan_id(i), '{"weeklyHours": 6}',
                                  job_type => CASE WHEN i % 6 = 1 THEN 'plan_outline_busy'
                                                   ELSE 'plan_outline' END) AS j;
SELECT job_type, handler, endpoint, timeout_ms FROM regen_queue.handler
 WHERE handler IS NULL ORDER BY job_type;
SQL
echo "queued $(value "SELECT count(*) FROM demo.http_job") jobs of HTTP handlers"
watch_queue "$WAVE5_TIMEOUT_S"
gen_stats=$(curl -s --max-time 10 "http://127.0.0.1:$GEN_PORT/stats")
# "jobs called once, jobs called twice, calls refused" as the service counted them.
gen_counts=$(printf '%s' "$gen_stats" | perl -MJSON::PP -e '
    my $s = decode_json(join "", <STDIN>);
    my @c = values %{ $s->{jobs} };
    printf "%d %d %d %d\n", scalar(grep { $_ == 1 } @c), scalar(grep { $_ == 2 } @c),
        $s->{rejected}, $s->{max_in_flight};')
read -r gen_once gen_twice gen_rejected gen_most <<<"$gen_counts"
echo "the service answered $gen_once jobs once and $gen_twice twice, refused $gen_rejected" \
     "signatures, had at most $gen_most calls in flight"
sql <<'SQL'
SELECT h.job_type, j.status, count(*) AS jobs, max(j.attempts) AS attempts,
       round(avg(extract(epoch FROM j.completed_at - j.started_at))::numeric, 3)
           AS seconds_last_attempt
  FROM demo.http_job h JOIN regen_queue.job_queue j ON j.id = h.id
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT j.job_type, j.result, j.last_error
  FROM demo.http_job h JOIN regen_queue.job_queue j ON j.id = h.id
 WHERE h.plan_no IN (1, 26) ORDER BY j.job_type;
SQL

step "summary"
sql <<'SQL'
\echo 'jobs by wave and status'
SELECT w.wave, j.status, count(*) AS jobs, max(j.attempts) AS max_attempts
  FROM demo.wave_job AS w JOIN regen_queue.job_queue AS j ON j.id = w.job_id
 GROUP BY w.wave, j.status ORDER BY w.wave, j.status;

\echo 'wave 1 throughput (first claim to last completion)'
SELECT count(*) AS jobs,
       round(extract(epoch FROM max(j.completed_at) - min(j.started_at))::numeric, 2) AS seconds,
       round((count(*) / nullif(extract(epoch FROM max(j.completed_at) - min(j.started_at)), 0))
             ::numeric, 1) AS jobs_per_second
  FROM demo.wave_job AS w JOIN regen_queue.job_queue AS j ON j.id = w.job_id
 WHERE w.wave = 1 AND j.status = 'completed';

\echo 'regen_stats()'
SELECT pending, processing, completed, failed, failed_last_hour, completed_last_5min,
       round(jobs_per_second_5min::numeric, 1) AS jobs_per_second_5min
  FROM regen_stats();

\echo 'failed jobs'
SELECT j.plan_id, j.attempts, j.last_error
  FROM regen_queue.job_queue AS j WHERE j.status = 'failed' ORDER BY j.plan_id;

\echo 'requests regen_enqueue refused'
SELECT request, overrides, sqlstate, message, detail
  FROM demo.rejection ORDER BY id;

\echo 'plan 7 after its regenerations'
SELECT topic, skill_level, weekly_hours AS hours, learning_style AS style, start_date,
       deadline_date, regeneration_count AS regenerations
  FROM learning_plans.plans WHERE id = demo.plan_id(7);
SELECT j.result FROM regen_queue.job_queue AS j
 WHERE j.plan_id = demo.plan_id(7) AND j.job_type = 'plan_regeneration'
 ORDER BY j.completed_at DESC LIMIT 1;
SELECT m.position AS module, m.title, m.starts_on, m.ends_on, t.position AS task,
       t.title AS task_title, t.due_on, t.estimated_minutes AS minutes
  FROM learning_plans.modules AS m JOIN learning_plans.tasks AS t ON t.module_id = m.id
 WHERE m.plan_id = demo.plan_id(7) ORDER BY m.position, t.position;
SQL

step "checks"
check "no job is left pending or processing" \
    "SELECT NOT EXISTS (SELECT FROM regen_queue.job_queue WHERE status IN ('pending', 'processing'))"
check "every queued job of a real plan completed" \
    "SELECT bool_and(j.status = 'completed') FROM demo.wave_job w
       JOIN regen_queue.job_queue j ON j.id = w.job_id WHERE w.plan_no IS NOT NULL"
check "the 3 jobs of missing plans failed on their first attempt (RQ001 is permanent)" \
    "SELECT count(*) = 3 AND bool_and(j.status = 'failed' AND j.attempts = 1
                                       AND j.last_error LIKE '%does not exist%')
       FROM demo.wave_job w JOIN regen_queue.job_queue j ON j.id = w.job_id
      WHERE w.plan_no IS NULL"
check "each job ran once (attempts = 1)" \
    "SELECT bool_and(j.attempts = 1) FROM demo.wave_job w JOIN regen_queue.job_queue j ON j.id = w.job_id"
check "every invalid or duplicate request was refused with the expected SQLSTATE" \
    "SELECT count(*) = 9 AND bool_and(sqlstate = expected_sqlstate) FROM demo.rejection"
check "the rejections of bad overrides name the field" \
    "SELECT bool_and(message ~ '\"(topic|weeklyHours|skillLevel|colour|startDate)\"')
       FROM demo.rejection WHERE expected_sqlstate = '22023'"
check "each duplicate learned the id of the job already queued" \
    "SELECT bool_and(r.detail LIKE '%' || w.job_id || '%')
       FROM demo.rejection r JOIN demo.wave_job w ON w.plan_id = r.plan_id AND w.wave = 1
      WHERE r.expected_sqlstate = '23505'"
check "the shim queued every wave 4 request (${#wave4_plans[@]} answered 202)" \
    "SELECT $accepted = ${#wave4_plans[@]} AND count(*) = ${#wave4_plans[@]}
       FROM demo.wave_job WHERE wave = 4"
verdict "the shim answered a duplicate 409 with the id of the job already queued" \
    "$([[ "$duplicate" == 409* && "$duplicate" == *"$(value "SELECT job_id FROM demo.wave_job
                                                       WHERE wave = 4 AND plan_no = 5")"* ]] && echo 1)"
verdict "the shim answered a bad override 400 naming the field" \
    "$([[ "$invalid" == 400* && "$invalid" == *'"field":"skillLevel"'* ]] && echo 1)"
verdict "the shim refused a drain without the token with 401" \
    "$([[ "$no_token" == '401 {"ok":false,"error":"unauthorized"}' ]] && echo 1)"
verdict "the runbook's curl drained the ${#wave4_plans[@]} wave 4 jobs through the shim" \
    "$([[ "$runbook_processed" == "${#wave4_plans[@]}" ]] && echo 1)"
verdict "the shim exited 0 on SIGTERM and never logged the token" \
    "$([[ "$shim_exit" == 0 ]] && ! grep -qF "$REGENERATION_WORKER_TOKEN" "$shim_log" &&
       ! grep -qF "$REGENERATION_WORKER_TOKEN" "$RQ_SERVER_LOG" && echo 1)"
check "the worker left wave 2 alone once switched off" "SELECT $wave2_untouched = $wave2_jobs"
check "the manual drains processed each wave 2 job once ($wave2_jobs)" \
    "SELECT sum((result->>'processedCount')::int) = $wave2_jobs
        AND sum((result->>'completedCount')::int) = $wave2_jobs
        AND bool_and((result->>'processedCount')::int <= 100)
       FROM demo.drain_call"
check "pg_cron drained wave 3 and logged a successful run" \
    "SELECT $cron_ok = 1 AND EXISTS (SELECT FROM cron.job_run_details
                                      WHERE jobid = $cron_job AND status = 'succeeded')"
check "each plan has the modules and tasks of its latest job's result" \
    "SELECT bool_and(m.modules = (l.result->>'modules')::int AND m.tasks = (l.result->>'tasks')::int)
       FROM (SELECT DISTINCT ON (j.plan_id) j.plan_id, j.result FROM regen_queue.job_queue j
              WHERE j.status = 'completed' AND j.job_type = 'plan_regeneration'
              ORDER BY j.plan_id, j.completed_at DESC) l
       JOIN LATERAL (SELECT count(DISTINCT m.id) AS modules, count(t.id) AS tasks
                       FROM learning_plans.modules m LEFT JOIN learning_plans.tasks t
                         ON t.module_id = m.id WHERE m.plan_id = l.plan_id) m ON true"
check "each plan's regeneration_count equals its completed jobs" \
    "SELECT bool_and(p.regeneration_count = (SELECT count(*) FROM regen_queue.job_queue j
                                             WHERE j.plan_id = p.id AND j.status = 'completed'
                                               AND j.job_type = 'plan_regeneration'))
       FROM learning_plans.plans p"
check "regenerating plan 7 again with the same input rebuilt the same modules and tasks" \
    "SELECT count(*) > 0 AND NOT EXISTS (
              (SELECT * FROM demo.plan7_before
               EXCEPT ALL
               SELECT m.position, m.title, m.starts_on, m.ends_on, m.estimated_minutes,
                      t.position, t.title, t.due_on, t.estimated_minutes
                 FROM learning_plans.modules m JOIN learning_plans.tasks t ON t.module_id = m.id
                WHERE m.plan_id = demo.plan_id(7))
              UNION ALL
              (SELECT m.position, m.title, m.starts_on, m.ends_on, m.estimated_minutes,
                      t.position, t.title, t.due_on, t.estimated_minutes
                 FROM learning_plans.modules m JOIN learning_plans.tasks t ON t.module_id = m.id
                WHERE m.plan_id = demo.plan_id(7)
               EXCEPT ALL
               SELECT * FROM demo.plan7_before))
       FROM demo.plan7_before"

check "wave 5: every HTTP job completed with the service's answer as its result" \
    "SELECT count(*) > 0 AND bool_and(j.status = 'completed' AND j.result->>'jobId' = j.id::text)
       FROM demo.http_job h JOIN regen_queue.job_queue j ON j.id = h.id"
check "wave 5: the service saw each job once, each busy one twice, every signature valid" \
    "SELECT count(*) FILTER (WHERE job_type = 'plan_outline') = $gen_once
        AND count(*) FILTER (WHERE job_type = 'plan_outline_busy') = $gen_twice
        AND $gen_rejected = 0 FROM demo.http_job"
check "wave 5: each busy job was retried after its 503 and its Retry-After" \
    "SELECT bool_and(j.attempts = 2 AND j.last_error LIKE 'HTTP 503 (Retry-After 1 s)%')
       FROM demo.http_job h JOIN regen_queue.job_queue j ON j.id = h.id
      WHERE h.job_type = 'plan_outline_busy'"
verdict "wave 5: at most regen_queue.http_concurrency (32) calls were in flight, several at once" \
    "$( ((gen_most > 1 && gen_most <= 32)) && echo 1)"
verdict "the signing secret is in neither the server log nor any job's last_error" \
    "$(! grep -qF "$GEN_SECRET" "$RQ_SERVER_LOG" &&
       [[ "$(value "SELECT count(*) FROM regen_queue.job_queue
                     WHERE last_error LIKE '%$GEN_SECRET%'")" == 0 ]] && echo 1)"

step "stopping the cluster"
rq_cluster_stop
rm -rf "$shim_build"
if ((failures > 0)); then
    echo "demo: $failures check(s) failed" >&2
    exit 1
fi
echo "demo: all checks passed"
