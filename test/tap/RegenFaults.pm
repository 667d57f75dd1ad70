# Helpers of the fault tests (130_process_faults.pl, 131_handler_faults.pl): a handler that
# records each run as an "effect" row and can be held at a gate, crash its process or time out;
# per-job summaries; and a reading of the server log that keeps only what nobody expected.
#
# The handler fh(job) first inserts (job id, attempt, pid, backend type) into public.effects;
# that row commits only together with the job's completion, so the committed effects of a job
# are the runs whose work was kept. Then, by the job's overrides.topic:
#   "gate NAME"  waits until public.gates says NAME is open (at most 60 s, then raises);
#   "raise", "unrecordable"  raise P0001 (a retryable error);
#   "terminate"  terminates its own process (FATAL, no crash restart);
#   "sigkill"    has its own process killed with SIGKILL (the postmaster restarts everything);
#   "sleep"      sleeps 60 s;
#   "swallow"    sleeps 60 s but catches the cancel and returns (a handler ignoring timeouts);
#   "spin"       loops on the CPU for 60 s without sleeping;
#   anything else returns {"ok": true, "topic": <topic>}.
package RegenFaults;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Utils;
use RegenQueueTest;
use Test::More;
use Time::HiRes qw(usleep time);

our @EXPORT = qw(fault_install enqueue_topic enqueue_batch set_gate wait_in_handler
  job_summary_sql job_summary effects_of log_shows_only lease_error crash_restart_lines
  killed_line terminated_lines);

sub fault_install
{
	my ($node) = @_;

	$node->safe_psql(
		'postgres', q{
CREATE EXTENSION regen_queue;
CREATE TABLE public.effects (
    job_id uuid NOT NULL,
    attempt integer NOT NULL,
    pid integer NOT NULL DEFAULT pg_backend_pid(),
    backend_type text,
    at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE public.gates (name text PRIMARY KEY, open boolean NOT NULL);
CREATE FUNCTION public.fh(j regen_queue.job_queue) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    topic text := j.payload->'overrides'->>'topic';
    deadline timestamptz := clock_timestamp() + interval '60 s';
BEGIN
    INSERT INTO public.effects (job_id, attempt, backend_type)
    SELECT j.id, j.attempts, a.backend_type
      FROM pg_stat_activity a WHERE a.pid = pg_backend_pid();

    IF topic LIKE 'gate %' THEN
        WHILE NOT coalesce((SELECT g.open FROM public.gates g
                             WHERE g.name = substr(topic, 6)), false) LOOP
            IF clock_timestamp() > deadline THEN
                RAISE EXCEPTION 'gate "%" stayed shut', substr(topic, 6);
            END IF;
            PERFORM pg_sleep(0.05);
        END LOOP;
    ELSIF topic IN ('raise', 'unrecordable') THEN
        RAISE EXCEPTION 'handler refuses job %', j.id;
    ELSIF topic = 'terminate' THEN
        PERFORM pg_terminate_backend(pg_backend_pid());
        PERFORM pg_sleep(60);
    ELSIF topic = 'sigkill' THEN
        EXECUTE 'COPY (SELECT 1) TO PROGRAM ''kill -9 $PPID''';
        PERFORM pg_sleep(60);
    ELSIF topic = 'sleep' THEN
        PERFORM pg_sleep(60);
    ELSIF topic = 'swallow' THEN
        BEGIN
            PERFORM pg_sleep(60);
        EXCEPTION WHEN query_canceled THEN
            NULL;
        END;
    ELSIF topic = 'spin' THEN
        WHILE clock_timestamp() < deadline LOOP
            NULL;
        END LOOP;
    END IF;
    RETURN jsonb_build_object('ok', true, 'topic', topic);
END $$;
SELECT regen_register_handler('plan_regeneration', 'public.fh(regen_queue.job_queue)');
});
	return;
}

# Enqueue one job with overrides.topic = $topic; $args are more SQL arguments of regen_enqueue.
sub enqueue_topic
{
	my ($node, $topic, $args) = @_;

	return rq_enqueue($node, 'postgres', qq({"topic": "$topic"}), $args);
}

# Enqueue jobs in one transaction, so that one claim can take them all; each element is
# [topic, priority, max_attempts]. Returns their ids in the same order.
sub enqueue_batch
{
	my ($node, @jobs) = @_;
	my $values = join(', ',
		map { sprintf("(%d, '%s', %d, %d)", $_, $jobs[$_][0], $jobs[$_][1], $jobs[$_][2]) }
		  0 .. $#jobs);
	my $ids = $node->safe_psql(
		'postgres', qq{
SELECT string_agg((regen_enqueue(gen_random_uuid(), jsonb_build_object('topic', t),
                                 priority => p, max_attempts => m)).id::text, ' ' ORDER BY n)
  FROM (VALUES $values) AS v(n, t, p, m)});
	return split / /, $ids;
}

sub set_gate
{
	my ($node, $name, $open) = @_;

	$node->safe_psql('postgres',
		"INSERT INTO public.gates VALUES ('$name', $open)"
		  . " ON CONFLICT (name) DO UPDATE SET open = excluded.open");
	return;
}

# Wait until a process of $backend_type is inside the handler of $job, held at its gate; returns
# that process's pid ('' after 30 s).
sub wait_in_handler
{
	my ($node, $job, $backend_type) = @_;
	my $sql =
	    "SELECT a.pid FROM regen_queue.job_queue j JOIN pg_stat_activity a ON a.pid = j.lease_owner"
	  . " WHERE j.id = '$job' AND j.status = 'processing' AND a.backend_type = '$backend_type'"
	  . " AND a.wait_event = 'PgSleep'";
	my $deadline = time() + 30;

	while (time() < $deadline)
	{
		my $pid = $node->safe_psql('postgres', $sql);
		return $pid if $pid ne '';
		usleep(100_000);
	}
	diag "no $backend_type was held in the handler of job $job";
	return '';
}

# SQL giving "status/attempts/committed effects" of each job, space-separated, in order.
sub job_summary_sql
{
	my (@ids) = @_;
	my $list = join(',', map { "('$ids[$_]'::uuid, $_)" } 0 .. $#ids);

	return "SELECT string_agg(j.status || '/' || j.attempts || '/'"
	  . " || (SELECT count(*) FROM public.effects e WHERE e.job_id = j.id), ' ' ORDER BY l.n)"
	  . " FROM (VALUES $list) AS l(id, n) JOIN regen_queue.job_queue j ON j.id = l.id";
}

sub job_summary
{
	my ($node, @ids) = @_;

	return $node->safe_psql('postgres', job_summary_sql(@ids));
}

# The committed effects of one job: "attempt:backend type" of each, in order.
sub effects_of
{
	my ($node, $id) = @_;

	return $node->safe_psql('postgres',
		"SELECT string_agg(attempt || ':' || backend_type, ',' ORDER BY at)"
		  . " FROM public.effects WHERE job_id = '$id'");
}

# last_error of a job whose lease expired during $attempt, held by process $pid (a pattern).
sub lease_error
{
	my ($attempt, $pid) = @_;
	my $text = "lease expired during attempt $attempt: the process running it \\(pid $pid\\) "
	  . 'stopped before the job finished';

	return qr/^$text$/;
}

# What a crash restart logs besides the killed process: the postmaster's reaction, and the
# refusals that polls get while the server recovers.
sub crash_restart_lines
{
	my $states = 'in recovery mode|not yet accepting connections|starting up';

	return (
		qr/LOG:  terminating any other active server processes/,
		qr/FATAL:  the database system is (?:$states)/);
}

# The postmaster's line for $process (such as 'server process') with $pid killed by SIGKILL.
sub killed_line
{
	my ($process, $pid) = @_;

	return qr/LOG:  \Q$process\E \(PID $pid\) was terminated by signal 9: Killed/;
}

# The lines of a regen_queue background worker of $type (a pattern, such as 'worker') that
# exits on SIGTERM.
sub terminated_lines
{
	my ($type) = @_;
	my $worker = qq{background worker "regen_queue $type"};

	return (
		qr/FATAL:  terminating $worker due to administrator command/,
		qr/LOG:  $worker \(PID \d+\) exited with exit code 1/);
}

# Pass when every log line after $offset that reports a problem (WARNING, ERROR, FATAL, PANIC,
# or a process killed or exiting with an error) matches one of @expected; otherwise show them.
sub log_shows_only
{
	my ($node, $offset, $test_name, @expected) = @_;
	my @problems = grep {
		/\b(?:WARNING|ERROR|FATAL|PANIC):/
		  || /terminated by signal|exited with exit code [1-9]/
	} split /\n/, slurp_file($node->logfile, $offset);
	my @unexpected;

	foreach my $line (@problems)
	{
		push @unexpected, $line unless grep { $line =~ $_ } @expected;
	}
	return ok(!@unexpected, $test_name)
	  || diag(join("\n", 'unexpected log lines:', @unexpected));
}

1;
