# Handler faults under the background worker. A handler that always ends its process (it
# terminates itself, or has itself killed with SIGKILL, a crash restart each time) and one that
# always outlives regen_queue.job_timeout (sleeping, swallowing the cancel, or spinning on the
# CPU): the job ends failed after exactly max_attempts with a last_error that says why, none of
# its effects commit, and the jobs enqueued meanwhile complete once each. In one drain of many
# jobs (the worker's and a regen_drain() call), one handler raises, one job's completion cannot
# be written (a trigger refuses it) and one job's failure cannot be written: every other job
# completes once in that drain, and each failing one ends in a real state with last_error set.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RegenFaults;
use RegenQueueTest;
use Test::More;
use Time::HiRes qw(usleep time);

my $node = rq_node('handler_faults',
	    "regen_queue.databases = 'postgres'\n"
	  . "regen_queue.drain_interval = 100ms\n"
	  . "regen_queue.lease_timeout = 3s\n"
	  . "restart_after_crash = on\n");
fault_install($node);
ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'regen_queue worker'",
		'1', 30),
	'the worker runs');

# Until `$sql` prints $expected (at most $timeout_s), enqueue another job about every second;
# returns whether it did, and the other jobs. Enqueues and checks that meet a crash restart are
# simply tried again.
sub others_meanwhile
{
	my ($label, $sql, $expected, $timeout_s) = @_;
	my $deadline = time() + $timeout_s;
	my $next_enqueue = 0;
	my @others;

	while (time() < $deadline)
	{
		my ($out, $err) = ('', '');
		$node->psql('postgres', $sql, stdout => \$out, stderr => \$err);
		return (1, @others) if $out eq $expected && $err eq '';
		if (time() >= $next_enqueue)
		{
			my $n = scalar(@others) + 1;
			my ($id, $ignored) = ('', '');
			$node->psql('postgres',
				"SELECT (regen_enqueue(gen_random_uuid(), '{\"topic\": \"$label other $n\"}')).id",
				stdout => \$id, stderr => \$ignored);
			push @others, $id if $id =~ /^[0-9a-f-]{36}$/;
			$next_enqueue = time() + 1;
		}
		usleep(100_000);
	}
	diag "$label: gave up waiting for $sql to print $expected";
	return (0, @others);
}

# The other jobs all complete once, and at least two of them did before the faulty jobs ended:
# the worker served them during the cycle, not only after it.
sub others_served
{
	my ($label, $faulty, @others) = @_;
	my $ids = join(',', map { "'$_'" } @others);
	my $faulty_ids = join(',', map { "'$_'" } @$faulty);

	cmp_ok(scalar(@others), '>=', 3, "$label: other jobs were enqueued during the cycle");
	note "$label: " . scalar(@others) . ' other jobs';
	ok( poll_until(
			$node, 'postgres', job_summary_sql(@others),
			join(' ', ('completed/1/1') x @others), 60),
		"$label: every other job completed at its first attempt, with one committed effect");
	cmp_ok(
		$node->safe_psql(
			'postgres',
			"SELECT count(*) FROM regen_queue.job_queue WHERE id IN ($ids) AND completed_at <"
			  . " (SELECT max(completed_at) FROM regen_queue.job_queue WHERE id IN ($faulty_ids))"
		),
		'>=', 2,
		"$label: the worker completed other jobs before the faulty ones had failed");
	return;
}

sub processing_jobs
{
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM regen_queue.job_queue WHERE status = 'processing'");
}

# --- a handler that always ends its process ----------------------------------------------------

my %ends_its_process = (
	terminate => 'a handler that always terminates its process',
	sigkill => 'a handler that always has its process killed with SIGKILL');
foreach my $how ('terminate', 'sigkill')
{
	my $label = $ends_its_process{$how};
	my $launcher = rq_pid_of($node, 'regen_queue launcher');
	my $log_offset = -s $node->logfile;
	my $killer = enqueue_topic($node, $how);

	my ($done, @others) = others_meanwhile($label,
		"SELECT status FROM regen_queue.job_queue WHERE id = '$killer'",
		'failed', 120);
	ok($done, "$label: the job ends failed");
	is(job_summary($node, $killer), 'failed/3/0',
		"$label: after exactly max_attempts (3) attempts, none of whose effects committed");
	like(
		$node->safe_psql('postgres',
			"SELECT last_error FROM regen_queue.job_queue WHERE id = '$killer'"),
		lease_error(3, '\d+'),
		"$label: last_error says that its third attempt never finished");
	my $final_failure =
	  qr/WARNING:  regen_queue: lease of job $killer expired during attempt 3; job is now failed/;
	ok($node->log_contains($final_failure, $log_offset),
		"$label: the final failure is logged as a warning");
	others_served($label, [$killer], @others);

	my $log = slurp_file($node->logfile, $log_offset);
	my $killed = killed_line('background worker "regen_queue worker"', '\d+');
	my @death_lines =
	  $how eq 'terminate' ? terminated_lines('worker') : ($killed, crash_restart_lines());
	my $deaths = () = $log =~ /$death_lines[0]/g;
	cmp_ok($deaths, '>=', 3, "$label: it ended the worker at each of its attempts ($deaths times)");
	ok( poll_until(
			$node, 'postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'regen_queue worker'",
			'1', 90),
		"$label: a worker runs afterwards");
	my $after = enqueue_topic($node, "after $how");
	ok(poll_until($node, 'postgres', job_summary_sql($after), 'completed/1/1', 90),
		"$label: and drains the next job");
	if ($how eq 'terminate')
	{
		is(rq_pid_of($node, 'regen_queue launcher'), $launcher,
			"$label: the launcher kept running (no crash restart)");
	}
	is(processing_jobs(), '0', "$label: no job is left processing");

	log_shows_only($node, $log_offset, "$label: the log shows nothing but the job's own deaths",
		$final_failure, @death_lines);
}

# --- handlers that always outlive regen_queue.job_timeout ------------------------------------

{
	my $label = 'handlers that always time out';
	$node->safe_psql('postgres',
		"ALTER SYSTEM SET regen_queue.job_timeout = '1s'; SELECT pg_reload_conf()");
	ok(wait_for_setting($node, 'regen_queue.job_timeout', '1s'), 'job_timeout is 1 s');

	my $log_offset = -s $node->logfile;
	my @slow = map { enqueue_topic($node, $_) } 'sleep', 'swallow', 'spin';
	my $ids = join(',', map { "'$_'" } @slow);
	my ($done, @others) = others_meanwhile($label,
		"SELECT count(*) FROM regen_queue.job_queue WHERE id IN ($ids) AND status = 'failed'",
		'3', 120);
	ok($done, "$label: the three jobs end failed");
	is(job_summary($node, @slow), 'failed/3/0 failed/3/0 failed/3/0',
		"$label: each after exactly 3 attempts, none of whose effects committed");
	is( $node->safe_psql('postgres',
			"SELECT string_agg(DISTINCT last_error, ' | ') FROM regen_queue.job_queue"
			  . " WHERE id IN ($ids)"),
		'57014: handler ran longer than regen_queue.job_timeout (1000 ms)',
		"$label: last_error names the timeout, also for the handler that swallowed the cancel");
	others_served($label, \@slow, @others);

	my $log = slurp_file($node->logfile, $log_offset);
	my $timeout_error = qr/57014: handler ran longer than regen_queue\.job_timeout \(1000 ms\)/;
	my $retried = qr/LOG:  regen_queue: job \S+ attempt [12] of 3 failed, job is now pending/;
	my $retries = () = $log =~ /$retried: $timeout_error/g;
	is($retries, 6, "$label: two retried attempts of each are logged");
	is(processing_jobs(), '0', "$label: no job is left processing");
	my $slow_ids = join('|', @slow);
	log_shows_only(
		$node, $log_offset,
		"$label: the log shows only their final failures as problems",
		qr/WARNING:  regen_queue: job (?:$slow_ids) attempt 3 of 3 failed, job is now failed: /
		  . $timeout_error);

	$node->safe_psql('postgres',
		"ALTER SYSTEM RESET regen_queue.job_timeout; SELECT pg_reload_conf()");
	ok(wait_for_setting($node, 'regen_queue.job_timeout', '0'), 'job_timeout is off again');
}

# --- one drain of many: a handler error, a completion and a failure that cannot be written ---

# The trigger refuses to store the completion of "unstorable" jobs, and to record a failed
# attempt of "unrecordable" ones (whose handler raises); the reclaim after a lease is allowed.
$node->safe_psql(
	'postgres', q{
CREATE FUNCTION public.refuse_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.payload->'overrides'->>'topic' = 'unstorable' AND NEW.status = 'completed' THEN
        RAISE EXCEPTION 'refusing to store the result of job %', NEW.id;
    ELSIF NEW.payload->'overrides'->>'topic' = 'unrecordable' AND NEW.last_error LIKE 'P0001%'
    THEN
        RAISE EXCEPTION 'refusing to record the failure of job %', NEW.id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_write BEFORE UPDATE ON regen_queue.job_queue
    FOR EACH ROW EXECUTE FUNCTION public.refuse_write();
});

# Nine jobs claimed together, in this order: three plain ones, the raising one, two plain,
# the unstorable one, one plain, the unrecordable one, and a last plain one. Each faulty one has
# a single attempt, so that its end state is final.
sub enqueue_mixed_batch
{
	my ($label) = @_;
	my @topics = ('ok 1', 'ok 2', 'ok 3', 'raise', 'ok 4', 'unstorable', 'ok 5', 'unrecordable',
		'ok 6');
	my @jobs = map {
		my $t = $topics[$_];
		[ $t =~ /^ok/ ? "$label $t" : $t, 100 - $_, $t =~ /^ok/ ? 3 : 1 ]
	} 0 .. $#topics;
	my @ids = enqueue_batch($node, @jobs);
	my %faulty = (raise => $ids[3], unstorable => $ids[5], unrecordable => $ids[7]);
	my @plain = @ids[ 0, 1, 2, 4, 6, 8 ];
	return (\%faulty, @plain);
}

# What one drain must leave: the plain jobs completed once each, all in that drain and never
# reclaimed; the raising job and the unstorable one failed at their only attempt with their
# error in last_error. The unrecordable one's failure could not be written: it stays processing
# until its lease expires, and then fails (README, How a drain runs).
sub check_mixed_batch
{
	my ($label, $backend_type, $faulty, @plain) = @_;
	my $plain_ids = join(',', map { "'$_'" } @plain);

	is(job_summary($node, @plain), join(' ', ('completed/1/1') x 6),
		"$label: the six other jobs completed at their first attempt, once each");
	is( $node->safe_psql('postgres',
			"SELECT count(DISTINCT lease_drain) || '/' || count(*) FILTER (WHERE run_alone)"
			  . " || '/' || count(last_error) FROM regen_queue.job_queue WHERE id IN ($plain_ids)"),
		'1/0/0', "$label: all in one drain, none of them reclaimed or failed on the way");
	is( $node->safe_psql('postgres',
			"SELECT string_agg(DISTINCT backend_type, ',') FROM public.effects"
			  . " WHERE job_id IN ($plain_ids)"),
		$backend_type, "$label: their effects were written by the $backend_type");
	is(job_summary($node, $faulty->{raise}), 'failed/1/0',
		"$label: the job whose handler raised failed, its effect undone");
	is( $node->safe_psql('postgres',
			"SELECT last_error FROM regen_queue.job_queue WHERE id = '$faulty->{raise}'"),
		"P0001: handler refuses job $faulty->{raise}",
		"$label: its last_error is the handler's error");
	is(job_summary($node, $faulty->{unstorable}), 'failed/1/0',
		"$label: the job whose completion could not be written failed, its effect undone");
	like(
		$node->safe_psql('postgres',
			"SELECT last_error FROM regen_queue.job_queue WHERE id = '$faulty->{unstorable}'"),
		qr/P0001: refusing to store the result of job $faulty->{unstorable}/,
		"$label: its last_error is the error of the write that failed");
	return;
}

# The problems the faulty jobs of a mixed batch log: the two failures, the failure that could
# not be recorded (at both of its runs), and its final failure once its lease expired.
sub mixed_batch_log_lines
{
	my ($faulty) = @_;
	my $prefix = 'WARNING:  regen_queue:';
	my $failed = 'attempt 1 of 1 failed, job is now failed';

	return (
		qr/$prefix job $faulty->{raise} $failed: P0001: handler refuses job/,
		qr/$prefix job $faulty->{unstorable} $failed: P0001: refusing to store the result/,
		qr/$prefix could not record the failure of job $faulty->{unrecordable}: refusing to/,
		qr/$prefix lease of job $faulty->{unrecordable} expired during attempt 1; job is now failed/
	);
}

sub check_unrecordable_ends
{
	my ($label, $id) = @_;

	ok( poll_until(
			$node, 'postgres', job_summary_sql($id), 'failed/1/0', 60),
		"$label: the job whose failure could not be written fails once its lease expires");
	like(
		$node->safe_psql('postgres',
			"SELECT last_error FROM regen_queue.job_queue WHERE id = '$id'"),
		qr/^lease expired during attempt 1: /,
		"$label: its last_error tells of the lease");
	return;
}

{
	my $label = 'one drain of the worker';
	my $log_offset = -s $node->logfile;
	my ($faulty, @plain) = enqueue_mixed_batch('worker');
	my $plain_ids = join(',', map { "'$_'" } @plain);
	ok( poll_until(
			$node, 'postgres',
			"SELECT count(*) FROM regen_queue.job_queue WHERE id IN ($plain_ids)"
			  . " AND status IN ('pending', 'processing')",
			'0', 60),
		"$label: the worker has finished the plain jobs");
	ok( poll_until(
			$node, 'postgres', job_summary_sql($faulty->{raise}, $faulty->{unstorable}),
			'failed/1/0 failed/1/0', 60),
		"$label: and the raising and the unstorable jobs");
	check_mixed_batch($label, 'regen_queue worker', $faulty, @plain);
	check_unrecordable_ends($label, $faulty->{unrecordable});
	is(processing_jobs(), '0', "$label: no job is left processing");
	log_shows_only($node, $log_offset, "$label: the log shows only the three jobs' failures",
		mixed_batch_log_lines($faulty));
}

{
	my $label = 'one regen_drain() call';
	set_gate($node, 'busy', 'false');
	my $busy = enqueue_topic($node, 'gate busy');
	isnt(wait_in_handler($node, $busy, 'regen_queue worker'),
		'', "$label: the background worker is held in a handler meanwhile");

	my $log_offset = -s $node->logfile;
	my ($faulty, @plain) = enqueue_mixed_batch('drain');
	my ($answer, $err) = ('', '');
	$node->psql(
		'postgres',
		"SELECT d->>'processedCount' || '/' || (d->>'completedCount') || '/'"
		  . " || (d->>'failedCount') FROM regen_drain(20) d",
		stdout => \$answer,
		stderr => \$err);
	is($err, '', "$label: regen_drain() answers without an error");
	is($answer, '9/6/3',
		"$label: it processed the nine jobs: six completed, three failed attempts");
	check_mixed_batch($label, 'regen_queue drain', $faulty, @plain);
	is(job_summary($node, $faulty->{unrecordable}), 'processing/1/0',
		"$label: the job whose failure could not be written waits for its lease");

	set_gate($node, 'busy', 'true');
	ok(poll_until($node, 'postgres', job_summary_sql($busy), 'completed/1/1', 30),
		"$label: the background worker completes its own job");
	check_unrecordable_ends($label, $faulty->{unrecordable});
	is(processing_jobs(), '0', "$label: no job is left processing");
	log_shows_only($node, $log_offset, "$label: the log shows only the three jobs' failures",
		mixed_batch_log_lines($faulty));
}

# --- every job of the file -------------------------------------------------------------------

is( $node->safe_psql('postgres',
		"SELECT count(*) FROM regen_queue.job_queue WHERE status NOT IN ('completed', 'failed')"),
	'0', 'no job of this file was lost: every one ended completed or failed');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM regen_queue.job_queue j WHERE (SELECT count(*) FROM public.effects e"
		  . " WHERE e.job_id = j.id) <> CASE j.status WHEN 'completed' THEN 1 ELSE 0 END"),
	'0', 'no job ran its effects twice; only completed jobs kept one');

$node->stop;
done_testing();
