# Shared helpers of the TAP cluster tests: a node with regen_queue preloaded, a test handler,
# and bounded polls (for a condition that must become true, and for one that must stay so).
#
# The handler h(job) looks at the job's overrides.topic:
#   "sleep"     sleeps 60 s (long enough to kill its process in the middle of it);
#   "sleep once" sleeps 60 s on its first attempt only, and succeeds on a later one;
#   "terminate" terminates its own backend (the job keeps killing whatever runs it);
#   anything else returns {"ok": true, "topic": <topic>}.
package RegenQueueTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

our @EXPORT = qw(rq_node rq_install rq_install_effects rq_effects_check rq_enqueue poll_until
  stays_until wait_for_setting rq_pid_of rq_sqlstate);

# Start a node with regen_queue preloaded; $extra_conf is appended to postgresql.conf.
sub rq_node
{
	my ($name, $extra_conf, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);

	$node->init(%opts);
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'regen_queue'\n"
		  . "max_worker_processes = 16\n"
		  . ($extra_conf // ''));
	$node->start;
	return $node;
}

# Create the extension and register the test handler in $db.
sub rq_install
{
	my ($node, $db) = @_;

	$node->safe_psql(
		$db, q{
CREATE EXTENSION regen_queue;
CREATE FUNCTION public.h(j regen_queue.job_queue) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    topic text := j.payload->'overrides'->>'topic';
BEGIN
    IF topic = 'sleep' OR (topic = 'sleep once' AND j.attempts = 1) THEN
        PERFORM pg_sleep(60);
    ELSIF topic = 'terminate' THEN
        PERFORM pg_terminate_backend(pg_backend_pid());
        PERFORM pg_sleep(60);
    END IF;
    RETURN jsonb_build_object('ok', true, 'topic', topic);
END $$;
SELECT regen_register_handler('plan_regeneration', 'public.h(regen_queue.job_queue)');
});
	return;
}

# Create the extension in $db with a handler e(job) that records each completed job as one row of
# public.effect; the row commits together with the job, so a job whose effects ran twice leaves
# two rows and one rolled back leaves none. By the job's overrides.topic:
#   "slow"  sleeps 2 ms first (drains take a while);
#   "sleep" sleeps 60 s first (long enough to act while the job runs);
#   "fail"  fails for good (RQ001), leaving no row;
#   "retry" fails its first attempt with a retryable error, and succeeds on a later one.
sub rq_install_effects
{
	my ($node, $db) = @_;

	$node->safe_psql(
		$db, q{
CREATE EXTENSION regen_queue;
CREATE TABLE public.effect (job_id uuid NOT NULL, attempt integer NOT NULL);
CREATE FUNCTION public.e(j regen_queue.job_queue) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    topic text := j.payload->'overrides'->>'topic';
BEGIN
    IF topic = 'slow' THEN
        PERFORM pg_sleep(0.002);
    ELSIF topic = 'sleep' THEN
        PERFORM pg_sleep(60);
    ELSIF topic = 'fail' THEN
        RAISE EXCEPTION 'job % fails for good', j.id USING ERRCODE = 'RQ001';
    ELSIF topic = 'retry' AND j.attempts = 1 THEN
        RAISE EXCEPTION 'job % fails its first attempt', j.id;
    END IF;
    INSERT INTO public.effect VALUES (j.id, j.attempts);
    RETURN jsonb_build_object('ok', true);
END $$;
SELECT regen_register_handler('plan_regeneration', 'public.e(regen_queue.job_queue)');
});
	return;
}

# SQL that checks the effects of the jobs $where selects in a database set up by
# rq_install_effects. It prints "<jobs>/<completed>/<jobs with a wrong number of effect rows>/
# <effect rows of no such job>": a completed job must have exactly one row, any other none.
sub rq_effects_check
{
	my ($where) = @_;

	return qq{
SELECT count(*) || '/' || count(*) FILTER (WHERE j.status = 'completed') || '/'
       || count(*) FILTER (WHERE coalesce(e.n, 0) <> (j.status = 'completed')::int) || '/'
       || (SELECT count(*) FROM public.effect f
            WHERE NOT EXISTS (SELECT FROM regen_queue.job_queue q WHERE q.id = f.job_id))
  FROM regen_queue.job_queue j
  LEFT JOIN (SELECT job_id, count(*) AS n FROM public.effect GROUP BY job_id) e
         ON e.job_id = j.id
 WHERE $where};
}

# Enqueue one job and return its id; $args are extra SQL arguments after plan_id and overrides.
sub rq_enqueue
{
	my ($node, $db, $overrides, $args) = @_;

	$overrides //= '{}';
	$args = defined $args ? ", $args" : '';
	return $node->safe_psql($db,
		"SELECT (regen_enqueue(gen_random_uuid(), '$overrides'$args)).id");
}

# Run $sql until it prints $expected, at most $timeout_s seconds; true when it did.
sub poll_until
{
	my ($node, $db, $sql, $expected, $timeout_s) = @_;
	my $deadline = time() + ($timeout_s // 30);
	my ($stdout, $stderr) = ('', '');

	while (time() < $deadline)
	{
		$node->psql($db, $sql, stdout => \$stdout, stderr => \$stderr);
		return 1 if $stdout eq $expected && $stderr eq '';
		usleep(100_000);
	}
	diag "poll_until gave up after ${timeout_s}s on: $sql\n"
	  . "expected: $expected\nlast output: $stdout\nstderr: $stderr";
	return 0;
}

# Run $sql repeatedly for $duration_s seconds; true when it printed $expected every time.
sub stays_until
{
	my ($node, $db, $sql, $expected, $duration_s) = @_;
	my $deadline = time() + $duration_s;
	my ($stdout, $stderr) = ('', '');

	while (time() < $deadline)
	{
		$node->psql($db, $sql, stdout => \$stdout, stderr => \$stderr);
		if ($stdout ne $expected || $stderr ne '')
		{
			diag "stays_until: $sql\nexpected: $expected\ngot: $stdout\nstderr: $stderr";
			return 0;
		}
		usleep(100_000);
	}
	return 1;
}

# After pg_reload_conf(), wait until new sessions see $name = $value (the postmaster has then
# reloaded and signalled every child).
sub wait_for_setting
{
	my ($node, $name, $value) = @_;

	return poll_until($node, 'postgres', "SHOW $name", $value, 30);
}

# PID of the (single) process of $backend_type, optionally connected to $db; '' when none.
sub rq_pid_of
{
	my ($node, $backend_type, $db) = @_;
	my $where = "backend_type = '$backend_type'";

	$where .= " AND datname = '$db'" if defined $db;
	return $node->safe_psql('postgres',
		"SELECT coalesce(string_agg(pid::text, ','), '') FROM pg_stat_activity WHERE $where");
}

# Run $sql with errors allowed; return the SQLSTATE of its last error ('' when none).
sub rq_sqlstate
{
	my ($node, $db, $sql) = @_;
	my ($stdout, $stderr) = ('', '');

	$node->psql(
		$db, "$sql;\n\\echo SQLSTATE=:LAST_ERROR_SQLSTATE",
		stdout => \$stdout,
		stderr => \$stderr,
		on_error_stop => 0);
	return $stdout =~ /SQLSTATE=(\w+)\s*$/ ? ($1 eq '00000' ? '' : $1) : "no answer: $stderr";
}

1;
