# Leases: a drain process that dies in the middle of a handler (SIGTERM or SIGKILL) leaves its
# job processing with the attempt counted; once the lease expires the next drain reclaims it.
# A job that kills every process running it ends failed after max_attempts, and the jobs that
# shared its first lease are not charged for it.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RegenQueueTest;
use Test::More;
use Time::HiRes qw(usleep time);

# No background worker: every drain here is an explicit regen_drain(). The SIGKILL case needs
# the crash restart that PostgreSQL::Test::Cluster switches off.
my $node = rq_node('lease',
	"regen_queue.databases = ''\nregen_queue.lease_timeout = 2s\nrestart_after_crash = on\n");
rq_install($node, 'postgres');

# Start `SELECT regen_drain()` in a psql of its own; returns the handle and its outputs.
sub start_drain
{
	my ($stdout, $stderr) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', 'SELECT regen_drain()' ],
		'>', \$stdout, '2>', \$stderr);
	return ($h, \$stdout, \$stderr);
}

# Wait until a drain worker sits in pg_sleep() inside the handler; return its pid.
sub sleeping_drain_pid
{
	ok( poll_until(
			$node, 'postgres',
			"SELECT count(*) FROM pg_stat_activity"
			  . " WHERE backend_type = 'regen_queue drain' AND wait_event = 'PgSleep'",
			'1', 30),
		'the drain worker is inside the sleeping handler');
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'regen_queue drain'");
}

sub job_state
{
	my ($id) = @_;
	return $node->safe_psql('postgres',
		"SELECT status || '/' || attempts FROM regen_queue.job_queue WHERE id = '$id'");
}

sub wait_for_expired_lease
{
	my ($count) = @_;
	return poll_until($node, 'postgres', 'SELECT expired_leases FROM regen_stats()',
		$count, 30);
}

# --- SIGTERM in the middle of a handler ------------------------------------------------------

my $job = rq_enqueue($node, 'postgres', '{"topic": "sleep once"}');
my ($drain, $drain_out, $drain_err) = start_drain();
my $pid = sleeping_drain_pid();
like($pid, qr/^\d+$/, 'one drain worker');
is( $node->safe_psql('postgres',
		"SELECT status || '/' || attempts || '/' || (lease_owner = $pid)"
		  . " FROM regen_queue.job_queue WHERE id = '$job'"),
	'processing/1/true',
	'the running job is processing, its attempt counted, under the lease of the drain worker');

$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
$drain->finish;
like($$drain_err, qr/regen_queue drain worker exited before it finished/,
	'the regen_drain() caller learns that its worker died');
is(job_state($job), 'processing/1', 'the job of the dead drain stays processing until its lease ends');

ok(wait_for_expired_lease('1'), 'regen_stats() reports the expired lease');
my $log_offset = -s $node->logfile;
is( $node->safe_psql('postgres',
		"SELECT d->>'processedCount' || '/' || (d->>'completedCount') FROM regen_drain() d"),
	'1/1',
	'the next drain reclaims the job and runs it');
is(job_state($job), 'completed/2', 'the job completed at its second attempt');
like(
	$node->safe_psql('postgres',
		"SELECT last_error FROM regen_queue.job_queue WHERE id = '$job'"),
	qr/^lease expired during attempt 1: the process running it \(pid $pid\) stopped before the job finished$/,
	'last_error tells that the lease of attempt 1 expired, and whose it was');
ok( $node->log_contains(
		qr/LOG:  regen_queue: lease of job $job expired during attempt 1; job is now pending/,
		$log_offset),
	'the reclaim is logged');

# --- a job that kills every process running it -----------------------------------------------

# Claimed together in one batch, in this order: mate_a, killer, mate_b, mate_c.
my $mate_a = rq_enqueue($node, 'postgres', '{"topic": "mate a"}', 'priority => 2');
my $killer = rq_enqueue($node, 'postgres', '{"topic": "terminate"}', 'priority => 1');
my $mate_b = rq_enqueue($node, 'postgres', '{"topic": "mate b"}');
my $mate_c = rq_enqueue($node, 'postgres', '{"topic": "mate c"}');
my $all = join(',', map { "'$_'" } $mate_a, $killer, $mate_b, $mate_c);
my $mates = join(',', map { "'$_'" } $mate_a, $mate_b, $mate_c);

$log_offset = -s $node->logfile;
is(rq_sqlstate($node, 'postgres', 'SELECT regen_drain()'),
	'XX000', 'the first drain dies in the handler of the killer');
is( $node->safe_psql('postgres',
		"SELECT count(*) || '/' || count(DISTINCT lease_drain) || '/' || min(lease_size)"
		  . " || '/' || sum(attempts)"
		  . " FROM regen_queue.job_queue WHERE id IN ($all) AND status = 'processing'"),
	'4/1/4/4',
	'the four jobs were claimed in one batch under one lease, one attempt each');

# Drain again and again; each drain either waits for a lease or dies in the killer.
my $done =
    "SELECT (SELECT status || '/' || attempts FROM regen_queue.job_queue WHERE id = '$killer')"
  . " || ' ' || (SELECT string_agg(status || '/' || attempts, ',')"
  . " FROM regen_queue.job_queue WHERE id IN ($mates))";
my $deadline = time() + 90;
my ($drains, $state) = (0, '');
while (time() < $deadline)
{
	$state = $node->safe_psql('postgres', $done);
	last if $state eq 'failed/3 completed/1,completed/1,completed/1';
	rq_sqlstate($node, 'postgres', 'SELECT regen_drain()');
	$drains++;
	usleep(200_000);
}
is($state, 'failed/3 completed/1,completed/1,completed/1',
	"after $drains more drains the killer has failed after 3 attempts"
	  . ' and its batch-mates completed at their first attempt');
like(
	$node->safe_psql('postgres',
		"SELECT last_error FROM regen_queue.job_queue WHERE id = '$killer'"),
	qr/^lease expired during attempt 3: the process running it \(pid \d+\) stopped before the job finished$/,
	'the killer\'s last_error says that its third attempt never finished');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM regen_queue.job_queue WHERE id IN ($mates)"
		  . " AND result->>'ok' = 'true' AND result->>'topic' = payload->'overrides'->>'topic'"),
	'3',
	'the batch-mates ran their handler and kept its result');
is( $node->safe_psql('postgres',
		"SELECT completed_at IS NOT NULL FROM regen_queue.job_queue WHERE id = '$killer'"),
	't', 'the failed killer is stamped completed_at');
# The first reclaim gave the four jobs of the shared lease back; attempt 1 was running then
# (the attempt itself is given back, but the log should still name the attempt that died).
ok( $node->log_contains(
		qr/LOG:  regen_queue: lease of job $mate_b expired during attempt 1; job is now pending/,
		$log_offset),
	'the reclaim of a shared lease is logged with the attempt that was running');
ok( $node->log_contains(
		qr/WARNING:  regen_queue: lease of job $killer expired during attempt 3; job is now failed/,
		$log_offset),
	'the final failure is logged as a warning');
is(rq_sqlstate($node, 'postgres', 'SELECT regen_drain()'), '',
	'nothing is left that kills the next drain');

# --- SIGKILL in the middle of a handler: crash restart, then reclaim -------------------------

my $crash_job = rq_enqueue($node, 'postgres', '{"topic": "sleep once"}');
($drain, $drain_out, $drain_err) = start_drain();
$pid = sleeping_drain_pid();
$log_offset = -s $node->logfile;
ok(kill('KILL', $pid), "SIGKILL sent to drain worker $pid");
$drain->finish;
isnt($$drain_err, '', 'the regen_drain() caller loses its session in the crash restart');
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
ok($node->log_contains(qr/\(PID $pid\) was terminated by signal 9/, $log_offset),
	'the postmaster saw the drain worker killed');
ok(poll_until($node, 'postgres', 'SELECT 1', '1', 60), 'the server accepts connections again');
is(job_state($crash_job), 'processing/1',
	'after the crash restart the job is still processing with its attempt counted');

ok(wait_for_expired_lease('1'), 'its lease expires');
is( $node->safe_psql('postgres',
		"SELECT d->>'processedCount' || '/' || (d->>'completedCount') FROM regen_drain() d"),
	'1/1',
	'the next drain reclaims the job and runs it');
is(job_state($crash_job), 'completed/2', 'the job completed at its second attempt');
like(
	$node->safe_psql('postgres',
		"SELECT last_error FROM regen_queue.job_queue WHERE id = '$crash_job'"),
	qr/^lease expired during attempt 1: the process running it \(pid $pid\) stopped/,
	'last_error names the killed process');

$node->stop;
done_testing();
