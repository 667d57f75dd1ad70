# Reloading the configuration (ALTER SYSTEM + pg_reload_conf()) changes what the background
# worker does without a restart: enabled, max_jobs_per_drain, drain_interval and databases.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RegenQueueTest;
use Test::More;

# The worker's "drain processed N jobs" lines, which show each drain's bound, are DEBUG1.
my $node = rq_node('reload',
	"regen_queue.databases = 'postgres'\nregen_queue.drain_interval = 200ms\n"
	  . "log_min_messages = debug1\n");
rq_install($node, 'postgres');

ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'regen_queue worker'",
		'1', 30),
	'the worker of postgres runs');
my $postmaster_start =
  $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
my $launcher_pid = rq_pid_of($node, 'regen_queue launcher');
my $worker_pid = rq_pid_of($node, 'regen_queue worker', 'postgres');

# Apply settings with ALTER SYSTEM and one reload.
sub reload_with
{
	my (%settings) = @_;
	my $sql = '';

	for my $name (sort keys %settings)
	{
		my $value = $settings{$name};
		$sql .=
		  defined $value
		  ? "ALTER SYSTEM SET regen_queue.$name = '$value';\n"
		  : "ALTER SYSTEM RESET regen_queue.$name;\n";
	}
	$node->safe_psql('postgres', $sql . 'SELECT pg_reload_conf();');
	return;
}

# Every drain of the worker, empty ones included, reports the worker running and then idle, so
# the age of its state_change tells whether it is still draining (it is null before the first).
my $worker_stale =
    "SELECT coalesce(clock_timestamp() - state_change > interval '1 s', true)"
  . " FROM pg_stat_activity"
  . " WHERE backend_type = 'regen_queue worker' AND datname = 'postgres'";

sub pending_count
{
	my ($ids) = @_;
	return "SELECT count(*) FILTER (WHERE status = 'pending') || '/' || count(*)"
	  . " FROM regen_queue.job_queue WHERE id IN ($ids)";
}

# --- max_jobs_per_drain = 0: load shedding ---------------------------------------------------

ok(poll_until($node, 'postgres', $worker_stale, 'f', 30),
	'the worker drains the database once the extension is there');
ok(stays_until($node, 'postgres', $worker_stale, 'f', 2),
	'with a 200 ms interval the worker drains all the time');

reload_with(max_jobs_per_drain => 0);
ok(wait_for_setting($node, 'regen_queue.max_jobs_per_drain', '0'),
	'max_jobs_per_drain = 0 reloaded');
ok(poll_until($node, 'postgres', $worker_stale, 't', 30),
	'with max_jobs_per_drain = 0 the worker stops draining');

my @ids = map { rq_enqueue($node, 'postgres', qq({"topic": "shed $_"})) } 1 .. 10;
my $ids = join(',', map { "'$_'" } @ids);
ok(stays_until($node, 'postgres', pending_count($ids), '10/10', 3),
	'jobs enqueued while max_jobs_per_drain = 0 stay pending');
is( $node->safe_psql('postgres',
		"SELECT (regen_drain()->>'processedCount') || '/' || (regen_drain(5)->>'processedCount')"),
	'0/0',
	'regen_drain() is a no-op too, with or without an explicit bound');

# --- enabled = off: nothing drains, enqueue and drain are refused ---------------------------

reload_with(enabled => 'off', max_jobs_per_drain => 3);
ok(wait_for_setting($node, 'regen_queue.enabled', 'off'), 'enabled = off reloaded');
ok(wait_for_setting($node, 'regen_queue.max_jobs_per_drain', '3'),
	'max_jobs_per_drain = 3 reloaded with it');
is( rq_sqlstate(
		$node, 'postgres', "SELECT regen_enqueue(gen_random_uuid(), '{\"topic\": \"off\"}')"),
	'55000',
	'enqueue is refused with 55000 while disabled');
is(rq_sqlstate($node, 'postgres', 'SELECT regen_drain()'),
	'55000', 'regen_drain() is refused with 55000 while disabled');
ok(stays_until($node, 'postgres', pending_count($ids), '10/10', 3),
	'a disabled queue is not drained although max_jobs_per_drain allows it');
is($node->safe_psql('postgres', $worker_stale), 't',
	'the disabled worker does not even start a drain');

# --- enabled again, max_jobs_per_drain = 3: bounded drains ----------------------------------

my $log_offset = -s $node->logfile;
reload_with(enabled => undef);
ok(wait_for_setting($node, 'regen_queue.enabled', 'on'), 'enabled = on reloaded');
ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM regen_queue.job_queue WHERE id IN ($ids)"
		  . " AND status = 'completed' AND attempts = 1",
		'10', 30),
	'enabled again, the worker drains the backlog');

my $log = slurp_file($node->logfile, $log_offset);
my @drains = $log =~ /regen_queue: drain processed (\d+) jobs/g;
my $sum = 0;
$sum += $_ for @drains;
is($sum, 10, 'the worker logged drains of the 10 jobs')
  or diag "drains logged: @drains";
ok(@drains >= 4 && !grep({ $_ > 3 } @drains),
	'no drain processed more than max_jobs_per_drain = 3 jobs')
  or diag "drains logged: @drains";
ok(scalar(grep { $_ == 3 } @drains) >= 3,
	'full drains of 3 follow each other while the backlog lasts')
  or diag "drains logged: @drains";
is( $node->safe_psql('postgres',
		"SELECT regen_drain(50)->>'processedCount'"),
	'0', 'nothing is left for an explicit drain');

reload_with(max_jobs_per_drain => undef);
ok(wait_for_setting($node, 'regen_queue.max_jobs_per_drain', '100'),
	'max_jobs_per_drain reset');

# --- drain_interval --------------------------------------------------------------------------

my $before_reload = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
reload_with(drain_interval => '1h');
ok(wait_for_setting($node, 'regen_queue.drain_interval', '1h'), 'drain_interval = 1h reloaded');
ok( poll_until(
		$node, 'postgres',
		"SELECT state_change > '$before_reload' AND wait_event_type = 'Extension'"
		  . " FROM pg_stat_activity WHERE backend_type = 'regen_queue worker'",
		't', 30),
	'the worker drained once after the reload and waits');
my $slow_job = rq_enqueue($node, 'postgres', '{"topic": "hourly"}');
ok( stays_until(
		$node, 'postgres',
		"SELECT status FROM regen_queue.job_queue WHERE id = '$slow_job'",
		'pending', 3),
	'with a 1 h interval a new job waits');

reload_with(drain_interval => '100ms');
ok(wait_for_setting($node, 'regen_queue.drain_interval', '100ms'),
	'drain_interval = 100ms reloaded');
ok( poll_until(
		$node, 'postgres',
		"SELECT status FROM regen_queue.job_queue WHERE id = '$slow_job'",
		'completed', 30),
	'the reload wakes the worker, which drains the waiting job');
my $fast_job = rq_enqueue($node, 'postgres', '{"topic": "fast"}');
ok( poll_until(
		$node, 'postgres',
		"SELECT status FROM regen_queue.job_queue WHERE id = '$fast_job'",
		'completed', 10),
	'with a 100 ms interval the next job is drained within seconds');
ok(stays_until($node, 'postgres', $worker_stale, 'f', 2),
	'the worker keeps draining at the short interval');

is(rq_pid_of($node, 'regen_queue worker', 'postgres'),
	$worker_pid, 'the worker of postgres ran through every reload without a restart');

# --- databases: adding one starts its worker, removing one stops it --------------------------

$node->safe_psql('postgres', 'CREATE DATABASE db2');
rq_install($node, 'db2');
my $db2_early = rq_enqueue($node, 'db2', '{"topic": "db2 early"}');
ok( stays_until(
		$node, 'db2',
		"SELECT status FROM regen_queue.job_queue WHERE id = '$db2_early'",
		'pending', 2),
	'a database that is not listed is not drained');

reload_with(databases => 'postgres, db2');
ok( poll_until(
		$node, 'postgres',
		"SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_stat_activity"
		  . " WHERE backend_type = 'regen_queue worker'",
		'db2,postgres', 30),
	'adding db2 to regen_queue.databases starts its worker');
ok( poll_until(
		$node, 'db2',
		"SELECT status FROM regen_queue.job_queue WHERE id = '$db2_early'",
		'completed', 30),
	'the new worker drains db2');
is(rq_pid_of($node, 'regen_queue worker', 'postgres'),
	$worker_pid, 'the worker of postgres kept running');

reload_with(databases => 'db2');
ok( poll_until(
		$node, 'postgres',
		"SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_stat_activity"
		  . " WHERE backend_type = 'regen_queue worker'",
		'db2', 30),
	'removing postgres from regen_queue.databases stops its worker');
my $orphan = rq_enqueue($node, 'postgres', '{"topic": "unlisted"}');
my $db2_late = rq_enqueue($node, 'db2', '{"topic": "db2 late"}');
ok( poll_until(
		$node, 'db2',
		"SELECT status FROM regen_queue.job_queue WHERE id = '$db2_late'",
		'completed', 30),
	'db2 is still drained');
ok( stays_until(
		$node, 'postgres',
		"SELECT (SELECT status FROM regen_queue.job_queue WHERE id = '$orphan') || '/'"
		  . " || (SELECT count(*) FROM pg_stat_activity"
		  . " WHERE backend_type = 'regen_queue worker' AND datname = 'postgres')",
		'pending/0', 3),
	'postgres is no longer drained and its worker is not restarted');

is(rq_pid_of($node, 'regen_queue launcher'),
	$launcher_pid, 'the launcher ran through every reload');
is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
	$postmaster_start, 'the server was never restarted');

$node->stop;
done_testing();
