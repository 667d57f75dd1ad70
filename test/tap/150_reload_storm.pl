# A reload storm: ten rounds of pausing (max_jobs_per_drain = 0), disabling, enabling with a
# new max_jobs_per_drain, and a long then a short drain_interval, each by ALTER SYSTEM and
# pg_reload_conf(), some sent right after pg_terminate_backend() of the worker while it restarts.
# Each setting takes effect within one interval, no drain exceeds its bound, and every job runs
# exactly once.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RegenQueueTest;
use Test::More;
use Time::HiRes qw(time usleep);

# The worker's "drain processed N jobs" lines, which show each drain's bound, are DEBUG1.
my $node = rq_node('storm',
	    "regen_queue.databases = 'postgres'\n"
	  . "regen_queue.drain_interval = 200ms\n"
	  . "log_min_messages = debug1\n"
	  . "restart_after_crash = on\n");
rq_install_effects($node, 'postgres');

my $worker_sql =
  "SELECT pid FROM pg_stat_activity WHERE backend_type = 'regen_queue worker'";
ok(poll_until($node, 'postgres', "SELECT count(*) FROM ($worker_sql) w", '1', 30),
	'the worker runs');
my $postmaster_start = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
my $launcher = rq_pid_of($node, 'regen_queue launcher');
my $jobs_per_round = 7;
my @all_ids;

# Run $first (SQL, may be empty), then ALTER SYSTEM the settings and reload in the same session;
# wait until new sessions see them.
sub reload_with
{
	my ($first, %settings) = @_;
	my $sql = $first;

	$sql .= "ALTER SYSTEM SET regen_queue.$_ = '$settings{$_}';\n" for sort keys %settings;
	$node->safe_psql('postgres', $sql . 'SELECT pg_reload_conf();');
	for my $name (sort keys %settings)
	{
		wait_for_setting($node, "regen_queue.$name", $settings{$name})
		  or BAIL_OUT("regen_queue.$name did not become $settings{$name}");
	}
	return;
}

# Wait until a worker other than $old_pid (if given) waits for its next drain, having drained
# after $since (if given); it then runs with the settings of the last reload. Return its pid.
sub worker_waits
{
	my ($old_pid, $since) = @_;
	my $where = "backend_type = 'regen_queue worker' AND wait_event_type = 'Extension'";

	$where .= " AND pid <> $old_pid" if $old_pid;
	$where .= " AND state_change > '$since'" if $since;
	ok( poll_until(
			$node, 'postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE $where", '1', 60),
		'the worker waits for its next drain'
		  . ($old_pid ? ' (a new one)' : '')
		  . ($since ? ', after a drain' : ''));
	return $node->safe_psql('postgres', $worker_sql);
}

sub status_of
{
	my ($ids) = @_;
	return "SELECT string_agg(DISTINCT status::text, ',') || '/' || count(*)"
	  . " FROM regen_queue.job_queue WHERE id IN ($ids)";
}

# The drains of the worker logged after $offset, once they add up to $total jobs.
sub drains_since
{
	my ($offset, $total) = @_;
	my @drains;
	my $deadline = time() + 10;

	while (time() < $deadline)
	{
		@drains =
		  slurp_file($node->logfile, $offset) =~ /regen_queue: drain processed (\d+) jobs/g;
		my $sum = 0;
		$sum += $_ for @drains;
		last if $sum >= $total;
		usleep(100_000);
	}
	return @drains;
}

# Rounds: max_jobs_per_drain, drain_interval, when the worker is terminated (none, right
# before the pause, or right before it is enabled again).
my @rounds = (
	[ 1, '100ms', '' ],
	[ 3, '300ms', 'pause' ],
	[ 2, '50ms', '' ],
	[ 5, '200ms', 'enable' ],
	[ 4, '150ms', '' ],
	[ 1, '250ms', 'pause' ],
	[ 6, '100ms', '' ],
	[ 2, '50ms', 'enable' ],
	[ 3, '300ms', '' ],
	[ 5, '100ms', '' ]);

my $worker = $node->safe_psql('postgres', $worker_sql);
my $terminate = "SELECT pg_terminate_backend(pid) FROM ($worker_sql) w;\n";
my $round = 0;
for my $setting (@rounds)
{
	my ($max_jobs, $interval, $kill) = @$setting;
	$round++;

	# Paused: the worker (a new one, when it was terminated) stays connected but drains nothing.
	reload_with($kill eq 'pause' ? $terminate : '', max_jobs_per_drain => 0);
	$worker = worker_waits($kill eq 'pause' ? $worker : undef);
	my @ids =
	  map { rq_enqueue($node, 'postgres', qq({"topic": "round $round job $_"})) }
	  1 .. $jobs_per_round;
	my $ids = join(',', map { "'$_'" } @ids);
	push @all_ids, @ids;
	ok(stays_until($node, 'postgres', status_of($ids), "pending/$jobs_per_round", 1),
		"round $round: paused, the worker runs none of the new jobs");

	# Disabled, with a bound that would let it drain.
	reload_with('', enabled => 'off', max_jobs_per_drain => $max_jobs,
		drain_interval => $interval);
	$worker = worker_waits();
	ok(stays_until($node, 'postgres', status_of($ids), "pending/$jobs_per_round", 1),
		"round $round: disabled, the worker runs none either");

	# Enabled: the backlog drains in drains of at most $max_jobs jobs.
	my $offset = -s $node->logfile;
	reload_with($kill eq 'enable' ? $terminate : '', enabled => 'on');
	ok( poll_until(
			$node, 'postgres', status_of($ids), "completed/$jobs_per_round", 60),
		"round $round: enabled"
		  . ($kill eq 'enable' ? ' right after the worker was terminated' : '')
		  . ', the worker drains the backlog');
	my @drains = drains_since($offset, $jobs_per_round);
	my $sum = 0;
	$sum += $_ for @drains;
	ok( $sum == $jobs_per_round && !grep({ $_ > $max_jobs } @drains),
		"round $round: no drain ran more than max_jobs_per_drain = $max_jobs jobs")
	  or diag "drains logged: @drains";
	$worker = worker_waits($kill eq 'enable' ? $worker : undef);

	# A long interval: after one more drain, a new job waits.
	my $before = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
	reload_with('', drain_interval => '1h');
	worker_waits(undef, $before);
	my $probe = rq_enqueue($node, 'postgres', qq({"topic": "round $round probe"}));
	push @all_ids, $probe;
	ok(stays_until($node, 'postgres', status_of("'$probe'"), 'pending/1', 1.5),
		"round $round: with a 1 h interval a new job waits");

	# Back to the short interval: the reload wakes the worker, which runs the waiting job; a job
	# enqueued after that drain runs at the next tick.
	$before = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
	reload_with('', drain_interval => $interval);
	ok( poll_until(
			$node, 'postgres', status_of("'$probe'"), 'completed/1', 10),
		"round $round: the interval is $interval again: the waiting job runs");
	worker_waits(undef, $before);
	my $next = rq_enqueue($node, 'postgres', qq({"topic": "round $round next"}));
	push @all_ids, $next;
	ok( poll_until(
			$node, 'postgres', status_of("'$next'"), 'completed/1', 10),
		"round $round: and a new job runs within seconds");
}

my $all = join(',', map { "'$_'" } @all_ids);
my $total = scalar @all_ids;
is( $node->safe_psql(
		'postgres', rq_effects_check("j.id IN ($all) AND j.attempts = 1")),
	"$total/$total/0/0",
	"all $total jobs of the storm completed in one attempt, each with one effect");
is($node->safe_psql('postgres', 'SELECT count(*) FROM regen_queue.job_queue'),
	$total, 'and there are no others');
is(rq_pid_of($node, 'regen_queue launcher'), $launcher, 'the launcher ran through the storm');
is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
	$postmaster_start, 'the server was never restarted');
ok(!$node->log_contains(qr/terminated by signal|reinitializing|PANIC/),
	'no process of the cluster crashed');

$node->stop;
done_testing();
