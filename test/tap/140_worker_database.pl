# The worker's database goes away under it: missing from the start, dropped WITH (FORCE) while
# the worker idles or runs a job, dropped without FORCE, renamed, or copied as a template. DROP,
# RENAME and CREATE DATABASE ... TEMPLATE finish within seconds, also in the middle of a backlog,
# the log names the database and the launcher retries with a growing backoff, the cluster never
# restarts, and jobs of a renamed database are all kept and run once there.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RegenQueueTest;
use Test::More;
use Time::HiRes qw(time);
use Time::Local qw(timegm);

# PostgreSQL gives up waiting for other sessions to leave a database after 5 s (55006); a
# command that waits for the worker must end well before this bound.
my $max_ddl_s = 10;

my $node = rq_node('dbfaults',
	    "regen_queue.databases = 'rq_missing'\n"
	  . "regen_queue.drain_interval = 200ms\n"
	  . "regen_queue.lease_timeout = 2s\n"
	  . "restart_after_crash = on\n");
my $postmaster_start = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');

my @present = qw(rq_force_idle rq_force_busy rq_plain rq_backlog rq_old_name rq_template);
for my $db (@present)
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	rq_install_effects($node, $db);
}
$node->safe_psql('postgres',
	    "ALTER SYSTEM SET regen_queue.databases = 'rq_missing, "
	  . join(', ', @present)
	  . "'; SELECT pg_reload_conf()");

# The launcher's restart lines for $db after $offset, as [time in seconds, announced delay].
sub restarts_of
{
	my ($db, $offset) = @_;
	my $stamp = qr/^(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+(?:\.\d+)?) /;
	my $restart =
	  qr/LOG:  regen_queue: worker for database "\Q$db\E" exited; restarting it in (\d+) s$/;
	my @restarts;

	for my $line (split /\n/, slurp_file($node->logfile, $offset))
	{
		next unless $line =~ /$stamp.*$restart/;
		push @restarts, [ timegm(0, $5, $4, $3, $2 - 1, $1) + $6, $7 ];
	}
	return @restarts;
}

# Wait for $count restarts of the worker of the vanished $db after $offset, and check that the
# log names the database and that the waits between attempts grow.
sub backs_off
{
	my ($db, $offset, $count) = @_;
	my $deadline = time() + 60;
	my @restarts;

	while (time() < $deadline)
	{
		@restarts = restarts_of($db, $offset);
		last if @restarts >= $count;
		Time::HiRes::usleep(200_000);
	}
	my @delays = map { $_->[1] } @restarts;
	my @gaps = map { $restarts[$_]->[0] - $restarts[ $_ - 1 ]->[0] } 1 .. $#restarts;

	ok(@restarts >= $count, "$db: the launcher logged $count restarts of its worker")
	  or diag "restart delays: @delays";
	ok(!grep({ $delays[$_] <= $delays[ $_ - 1 ] && $delays[$_] < 60 } 1 .. $#delays),
		"$db: each announced delay is longer than the one before (@delays)");
	ok( !grep({ $gaps[$_] < $delays[$_] - 0.2 } 0 .. $#gaps)
		  && !grep({ $gaps[$_] <= $gaps[ $_ - 1 ] } 1 .. $#gaps),
		"$db: the attempts are that far apart, further each time")
	  or diag sprintf('gaps between attempts: %s', join(' ', map { sprintf '%.2f', $_ } @gaps));
	my @missing =
	  slurp_file($node->logfile, $offset) =~ /FATAL:  database "\Q$db\E" does not exist/g;
	ok(@missing >= $count - 1, "$db: each attempt logs that the database does not exist")
	  or diag scalar(@missing) . ' such lines';
	return;
}

# Run $sql from the database postgres; return how long it took and its SQLSTATE ('' for none).
sub timed
{
	my ($sql) = @_;
	my $start = time();
	my $sqlstate = rq_sqlstate($node, 'postgres', $sql);

	return (time() - $start, $sqlstate);
}

# The worker of $db said, after $offset, that it left because a command waited for it.
sub left_on_its_own
{
	my ($db, $offset) = @_;

	return $node->log_contains(qr/LOG:  regen_queue worker leaves database "\Q$db\E"/,
		$offset);
}

# The worker of $db is connected and waiting for its next drain.
sub worker_idle
{
	my ($db) = @_;

	return poll_until(
		$node, 'postgres',
		"SELECT wait_event_type FROM pg_stat_activity"
		  . " WHERE backend_type = 'regen_queue worker' AND datname = '$db'",
		'Extension', 30);
}

my %took;

# --- a database that does not exist yet -----------------------------------------------------

backs_off('rq_missing', 0, 4);
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_database WHERE datname = 'rq_missing'"),
	'0', 'rq_missing was missing all along');

my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', 'CREATE DATABASE rq_missing');
rq_install_effects($node, 'rq_missing');
my @late = map { rq_enqueue($node, 'rq_missing', qq({"topic": "late $_"})) } 1 .. 5;
my $late = join(',', map { "'$_'" } @late);
ok( poll_until(
		$node, 'rq_missing',
		rq_effects_check("j.id IN ($late) AND j.attempts = 1"), '5/5/0/0', 90),
	'once created, rq_missing gets its worker, which runs each job once');
ok($node->log_contains(qr/regen_queue worker started for database "rq_missing"/, $log_offset),
	'the log says the worker started there');

# --- DROP DATABASE ... WITH (FORCE), the worker idle and inside a job ------------------------

ok(worker_idle('rq_force_idle'), 'the worker of rq_force_idle waits for its next drain');
$log_offset = -s $node->logfile;
my ($took, $sqlstate) = timed('DROP DATABASE rq_force_idle WITH (FORCE)');
is($sqlstate, '', 'DROP DATABASE WITH (FORCE) of an idle worker\'s database succeeds');
ok($took < $max_ddl_s, sprintf('and takes %.2f s, less than %d s', $took, $max_ddl_s));
$took{'DROP WITH (FORCE), worker idle'} = $took;
my %vanished = (rq_force_idle => $log_offset);

my $busy = rq_enqueue($node, 'rq_force_busy', '{"topic": "sleep"}');
ok( poll_until(
		$node, 'postgres',
		"SELECT wait_event FROM pg_stat_activity"
		  . " WHERE backend_type = 'regen_queue worker' AND datname = 'rq_force_busy'",
		'PgSleep', 30),
	'the worker of rq_force_busy is inside a 60 s handler');
$log_offset = -s $node->logfile;
($took, $sqlstate) = timed('DROP DATABASE rq_force_busy WITH (FORCE)');
is($sqlstate, '', 'DROP DATABASE WITH (FORCE) of a busy worker\'s database succeeds');
ok($took < $max_ddl_s, sprintf('and takes %.2f s, less than %d s', $took, $max_ddl_s));
$took{'DROP WITH (FORCE), worker in a job'} = $took;
$vanished{rq_force_busy} = $log_offset;

# --- plain DROP DATABASE: the worker must leave on its own ----------------------------------

ok(worker_idle('rq_plain'), 'the worker of rq_plain waits for its next drain');
$log_offset = -s $node->logfile;
($took, $sqlstate) = timed('DROP DATABASE rq_plain');
is($sqlstate, '', 'DROP DATABASE without FORCE succeeds although the worker was connected');
ok($took < $max_ddl_s, sprintf('and takes %.2f s, less than %d s', $took, $max_ddl_s));
$took{'DROP, worker idle'} = $took;
ok(left_on_its_own('rq_plain', $log_offset), 'the worker logged that it left rq_plain');
$vanished{rq_plain} = $log_offset;

# --- ALTER DATABASE ... RENAME TO in the middle of a backlog --------------------------------

my $backlog = 3000;
$node->safe_psql('rq_backlog',
	"SELECT count(regen_enqueue(gen_random_uuid(), '{\"topic\": \"slow\"}'))"
	  . " FROM generate_series(1, $backlog)");
ok( poll_until(
		$node, 'rq_backlog',
		"SELECT count(*) FILTER (WHERE status = 'completed') > 0"
		  . " AND count(*) FILTER (WHERE status = 'pending') > $backlog / 2"
		  . " FROM regen_queue.job_queue",
		't', 30),
	'the worker of rq_backlog is in the middle of a backlog of slow jobs');
$log_offset = -s $node->logfile;
($took, $sqlstate) = timed('ALTER DATABASE rq_backlog RENAME TO rq_backlog_renamed');
is($sqlstate, '', 'ALTER DATABASE RENAME succeeds while the worker drains a backlog');
ok($took < $max_ddl_s, sprintf('and takes %.2f s, less than %d s', $took, $max_ddl_s));
$took{'RENAME, worker draining a backlog'} = $took;
ok(left_on_its_own('rq_backlog', $log_offset), 'the worker logged that it left rq_backlog');
$vanished{rq_backlog} = $log_offset;
is($node->safe_psql('rq_backlog_renamed', 'SELECT count(*) FROM regen_queue.job_queue'),
	$backlog, 'every job of the backlog is still there');

# --- ALTER DATABASE ... RENAME TO: the jobs move with the database ---------------------------

my @done = map { rq_enqueue($node, 'rq_old_name', qq({"topic": "before $_"})) } 1 .. 4;
push @done, rq_enqueue($node, 'rq_old_name', '{"topic": "fail"}');
my $done = join(',', map { "'$_'" } @done);
ok( poll_until(
		$node, 'rq_old_name',
		rq_effects_check("j.id IN ($done) AND j.status <> 'pending' AND j.attempts = 1"),
		'5/4/0/0', 30),
	'the worker of rq_old_name ran its first jobs');

# Jobs left pending at the rename: the worker stays connected but drains nothing.
$node->safe_psql('postgres',
	"ALTER SYSTEM SET regen_queue.max_jobs_per_drain = 0; SELECT pg_reload_conf()");
ok(wait_for_setting($node, 'regen_queue.max_jobs_per_drain', '0'), 'drains paused');
ok(worker_idle('rq_old_name'), 'the worker of rq_old_name waits for its next drain');
my @waiting = map { rq_enqueue($node, 'rq_old_name', qq({"topic": "after $_"})) } 1 .. 6;
my $all = join(',', map { "'$_'" } @done, @waiting);
ok( stays_until(
		$node, 'rq_old_name',
		"SELECT count(*) FROM regen_queue.job_queue WHERE status = 'pending'", '6', 1),
	'the jobs enqueued last stay pending');
my $rows_sql =
  "SELECT string_agg(id || ' ' || status || ' ' || attempts, ',' ORDER BY id)"
  . " FROM regen_queue.job_queue";
my $rows_before = $node->safe_psql('rq_old_name', $rows_sql);

$log_offset = -s $node->logfile;
($took, $sqlstate) = timed('ALTER DATABASE rq_old_name RENAME TO rq_new_name');
is($sqlstate, '', 'ALTER DATABASE RENAME succeeds although the worker was connected');
ok($took < $max_ddl_s, sprintf('and takes %.2f s, less than %d s', $took, $max_ddl_s));
$took{'RENAME, worker idle'} = $took;
ok(left_on_its_own('rq_old_name', $log_offset), 'the worker logged that it left rq_old_name');
backs_off('rq_old_name', $log_offset, 3);

is($node->safe_psql('rq_new_name', $rows_sql),
	$rows_before, 'every job row is still there after the rename, unchanged');
$node->safe_psql(
	'postgres', q{
ALTER SYSTEM SET regen_queue.databases =
    'rq_missing, rq_new_name, rq_backlog_renamed, rq_template';
ALTER SYSTEM RESET regen_queue.max_jobs_per_drain;
SELECT pg_reload_conf();
});
ok( poll_until(
		$node, 'rq_new_name',
		rq_effects_check("j.id IN ($all) AND j.status <> 'pending' AND j.attempts = 1"),
		'11/10/0/0', 30),
	'listed under its new name, the database is drained: each job once, in one attempt');
is($node->safe_psql('rq_new_name', 'SELECT count(*) FROM regen_queue.job_queue'),
	'11', 'and no job appeared or went missing');
ok( poll_until(
		$node, 'rq_backlog_renamed', rq_effects_check('true'), "$backlog/$backlog/0/0", 60),
	'the backlog renamed mid-drain completes there, each job once (interrupted claims reclaimed)');

# --- CREATE DATABASE ... TEMPLATE the worker's database -------------------------------------

ok(worker_idle('rq_template'), 'the worker of rq_template waits for its next drain');
$log_offset = -s $node->logfile;
($took, $sqlstate) = timed('CREATE DATABASE rq_copy TEMPLATE rq_template');
is($sqlstate, '', 'CREATE DATABASE TEMPLATE succeeds although the worker was connected');
ok($took < $max_ddl_s, sprintf('and takes %.2f s, less than %d s', $took, $max_ddl_s));
$took{'CREATE DATABASE TEMPLATE, worker idle'} = $took;
ok(left_on_its_own('rq_template', $log_offset), 'the worker logged that it left rq_template');
my $after_copy = rq_enqueue($node, 'rq_template', '{"topic": "after the copy"}');
ok( poll_until(
		$node, 'rq_template',
		rq_effects_check("j.id = '$after_copy' AND j.attempts = 1"), '1/1/0/0', 30),
	'the template database is drained again after the copy');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE datname = 'rq_copy'"),
	'0', 'the copy, which is not listed, gets no worker');

# --- every vanished database: clear log lines and a growing backoff -------------------------

for my $db (sort keys %vanished)
{
	backs_off($db, $vanished{$db}, 3);
}
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'regen_queue worker'"),
	'4', 'the workers of the four remaining databases run');
is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
	$postmaster_start, 'the server was never restarted');
ok(!$node->log_contains(qr/terminated by signal|reinitializing|PANIC/),
	'no process of the cluster crashed');

note sprintf('%s: %.2f s', $_, $took{$_}) for sort keys %took;

$node->stop;
done_testing();
