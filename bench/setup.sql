-- Objects of the benchmark bench/drain_throughput.sh, in the schema bench.
CREATE EXTENSION regen_queue;
CREATE SCHEMA bench;

-- The no-op handler of the drain phase.
CREATE FUNCTION bench.noop_handler(job regen_queue.job_queue) RETURNS jsonb
    LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
SELECT regen_register_handler('plan_regeneration', 'bench.noop_handler(regen_queue.job_queue)');

-- The single-statement and plain-INSERT baselines: a plain table with the columns, defaults,
-- constraints and indexes (partial and expression ones included) of regen_queue.job_queue.
CREATE TABLE bench.jobs (LIKE regen_queue.job_queue INCLUDING ALL);

-- Enqueue commit to handler start. The handler stamps its start; the row commits with the job.
CREATE TABLE bench.handler_start (job_id uuid PRIMARY KEY, started timestamptz NOT NULL);
CREATE TABLE bench.enqueue_commit (job_id uuid PRIMARY KEY, committed timestamptz NOT NULL);

CREATE FUNCTION bench.stamp_handler(job regen_queue.job_queue) RETURNS jsonb
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bench.handler_start VALUES (job.id, clock_timestamp());
    RETURN '{}';
END
$$;
SELECT regen_register_handler('bench_latency', 'bench.stamp_handler(regen_queue.job_queue)');

-- One sample: enqueue a job in a transaction of its own, COMMIT, and take clock_timestamp()
-- as soon as COMMIT has returned (the commit is then durable and visible, and the enqueue's
-- wake-up has been sent); record it, wait until the job is finished, pause gap_ms, go on.
-- Stops after `samples` samples or at `deadline`; a job not finished `per_job_timeout` after
-- its commit ends the run with a warning.
CREATE PROCEDURE bench.measure_latency(samples integer, gap_ms integer, deadline timestamptz,
                                       per_job_timeout interval)
    LANGUAGE plpgsql AS $$
DECLARE
    job_id    uuid;
    committed timestamptz;
    finished  boolean;
BEGIN
    FOR i IN 1 .. samples LOOP
        EXIT WHEN clock_timestamp() > deadline;
        SELECT j.id INTO job_id FROM regen_enqueue(gen_random_uuid(), job_type => 'bench_latency') j;
        COMMIT;
        committed := clock_timestamp();
        INSERT INTO bench.enqueue_commit VALUES (job_id, committed);
        COMMIT;
        LOOP
            SELECT status IN ('completed', 'failed') INTO finished
              FROM regen_queue.job_queue WHERE id = job_id;
            EXIT WHEN finished;
            IF clock_timestamp() > committed + per_job_timeout THEN
                RAISE WARNING 'job % not finished % after its commit; stopping',
                    job_id, per_job_timeout;
                RETURN;
            END IF;
            PERFORM pg_sleep(0.001);
        END LOOP;
        PERFORM pg_sleep(gap_ms / 1000.0);
    END LOOP;
END
$$;
