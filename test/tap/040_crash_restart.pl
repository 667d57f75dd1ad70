# Crashes and signals: after a crash restart (a backend killed with SIGKILL) the launcher and
# the worker come back and drain again; a worker or launcher that is terminated is started
# again; a fast shutdown stops them cleanly.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RegenQueueTest;
use Test::More;

# PostgreSQL::Test::Cluster switches crash restarts off; they are the subject here.
my $node = rq_node('crash',
	    "regen_queue.databases = 'postgres'\n"
	  . "regen_queue.drain_interval = 200ms\n"
	  . "regen_queue.lease_timeout = 2s\n"
	  . "restart_after_crash = on\n");
rq_install($node, 'postgres');

my $one_launcher_one_worker =
    "SELECT string_agg(backend_type, ',' ORDER BY backend_type) FROM pg_stat_activity"
  . " WHERE backend_type LIKE 'regen_queue %'";

# Enqueue $n jobs and wait until the worker has completed them.
sub drains_again
{
	my ($label, $n) = @_;
	my @ids = map { rq_enqueue($node, 'postgres', qq({"topic": "$label $_"})) } 1 .. $n;
	my $ids = join(',', map { "'$_'" } @ids);

	return poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM regen_queue.job_queue WHERE id IN ($ids)"
		  . " AND status = 'completed'",
		"$n", 30);
}

ok( poll_until(
		$node, 'postgres', $one_launcher_one_worker,
		'regen_queue launcher,regen_queue worker', 30),
	'the launcher and the worker run');
ok(drains_again('before', 3), 'the worker drains');

my $launcher = rq_pid_of($node, 'regen_queue launcher');
my $worker = rq_pid_of($node, 'regen_queue worker');

# --- crash restart ---------------------------------------------------------------------------

my ($out, $err) = ('', '');
my $victim = IPC::Run::start(
	[
		'psql', '-XAtq', '-d', $node->connstr('postgres') . ' application_name=victim',
		'-c', 'SELECT pg_sleep(600)'
	],
	'>', \$out, '2>', \$err);
ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'victim'",
		'1', 30),
	'a backend to kill is running');
my $victim_pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE application_name = 'victim'");

my $log_offset = -s $node->logfile;
ok(kill('KILL', $victim_pid), "SIGKILL sent to backend $victim_pid");
$victim->finish;
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
ok(poll_until($node, 'postgres', 'SELECT 1', '1', 60), 'the server is back after the crash');

ok( poll_until(
		$node, 'postgres',
		"SELECT string_agg(backend_type, ',' ORDER BY backend_type) FROM pg_stat_activity"
		  . " WHERE backend_type LIKE 'regen_queue %' AND pid NOT IN ($launcher, $worker)",
		'regen_queue launcher,regen_queue worker', 30),
	'a new launcher and a new worker run after the crash restart');
is($node->safe_psql('postgres', $one_launcher_one_worker),
	'regen_queue launcher,regen_queue worker', 'and no more than one of each');
ok(drains_again('after crash', 3), 'the new worker drains');

# --- SIGTERM of the worker: the launcher starts it again -------------------------------------

$worker = rq_pid_of($node, 'regen_queue worker');
$launcher = rq_pid_of($node, 'regen_queue launcher');
$log_offset = -s $node->logfile;
$node->safe_psql('postgres', "SELECT pg_terminate_backend($worker)");
$node->wait_for_log(
	qr/regen_queue: worker for database "postgres" exited; restarting it in 1 s/,
	$log_offset);
pass('the launcher notices the worker exit and restarts it after 1 s');
ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'regen_queue worker'"
		  . " AND pid <> $worker",
		'1', 30),
	'a new worker runs');
is(rq_pid_of($node, 'regen_queue launcher'), $launcher, 'the launcher itself kept running');
ok(drains_again('after worker exit', 2), 'the restarted worker drains');
ok(!$node->log_contains(qr/reinitializing|terminated by signal/, $log_offset),
	'terminating the worker is no crash');

# --- SIGTERM of the launcher: it takes its worker along, the postmaster restarts it ----------

$worker = rq_pid_of($node, 'regen_queue worker');
$log_offset = -s $node->logfile;
$node->safe_psql('postgres', "SELECT pg_terminate_backend($launcher)");
ok( poll_until(
		$node, 'postgres',
		"SELECT string_agg(backend_type, ',' ORDER BY backend_type) FROM pg_stat_activity"
		  . " WHERE backend_type LIKE 'regen_queue %' AND pid NOT IN ($launcher, $worker)",
		'regen_queue launcher,regen_queue worker', 30),
	'after the launcher is terminated, a new launcher starts a new worker');
is($node->safe_psql('postgres', $one_launcher_one_worker),
	'regen_queue launcher,regen_queue worker',
	'the old worker went away with its launcher (never two workers for one database)');
ok(drains_again('after launcher exit', 2), 'the new worker drains');
ok(!$node->log_contains(qr/reinitializing|terminated by signal/, $log_offset),
	'terminating the launcher is no crash');

# --- fast shutdown ---------------------------------------------------------------------------

# Keep a job running in the worker while the server stops: the worker stops mid-handler.
my $running = rq_enqueue($node, 'postgres', '{"topic": "sleep once"}');
ok( poll_until(
		$node, 'postgres',
		"SELECT wait_event FROM pg_stat_activity WHERE backend_type = 'regen_queue worker'",
		'PgSleep', 30),
	'the worker is inside a handler');

$log_offset = -s $node->logfile;
$node->stop('fast');
my $shutdown_log = slurp_file($node->logfile, $log_offset);
like($shutdown_log, qr/database system is shut down/, 'the server stopped');
my @bad = grep { /\b(?:ERROR|WARNING|PANIC):/ || /terminated by signal|exited with exit code (?!1\b)/ }
  split /\n/, $shutdown_log;
is_deeply(\@bad, [], 'the fast shutdown logged no error, warning or crash');
my @fatal = grep { /FATAL:/ } split /\n/, $shutdown_log;
my @unexpected_fatal = grep {
	!/FATAL:  terminating background worker "regen_queue (?:launcher|worker)" due to administrator command/
} @fatal;
is_deeply(\@unexpected_fatal, [],
	'the only FATAL lines are the standard exits of the launcher and worker on SIGTERM');

# The job the worker was running is reclaimed after its lease, like that of any dead process.
$node->start;
ok( poll_until(
		$node, 'postgres',
		"SELECT status || '/' || attempts || '/' || (last_error LIKE 'lease expired during attempt 1:%')"
		  . " FROM regen_queue.job_queue WHERE id = '$running'",
		'completed/2/true', 30),
	'after the restart the worker reclaims the interrupted job and runs it again');

$node->stop;
done_testing();
