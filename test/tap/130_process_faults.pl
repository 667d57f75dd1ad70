# Process faults while the background worker is inside a SQL handler, with other jobs queued:
# SIGKILL of the worker (the job alone in its lease, and sharing it with three others), its
# termination with pg_terminate_backend(), the launcher's termination (which takes the worker
# along) and SIGKILL, SIGKILL of an idle unrelated backend, and an immediate shutdown. After
# each, the launcher and worker run again within their restart interval, the interrupted job
# comes back only after its lease and completes with exactly one committed effect, every other
# job completes once, nothing stays processing, and the log shows nothing but the fault.
# Last, pg_terminate_backend() of a session waiting in regen_drain(): its drain worker finishes
# and commits the batch it is running, then claims nothing more.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RegenFaults;
use RegenQueueTest;
use Test::More;
use Time::HiRes qw(time);

# From src/extension/worker.cpp (and the README's Background worker section): the postmaster
# starts the launcher again 5 s after it exits (at once after a crash restart), and the launcher
# starts an exited worker again after 1 s, doubling while it keeps exiting. Every wait for a
# restart allows $slack_s more, for a loaded machine.
my $launcher_restart_s = 5;
my $worker_restart_s = 1;
my $slack_s = 20;

# PostgreSQL::Test::Cluster switches crash restarts off; they are part of the subject here.
my $node = rq_node('faults',
	    "regen_queue.databases = 'postgres'\n"
	  . "regen_queue.drain_interval = 100ms\n"
	  . "regen_queue.lease_timeout = 3s\n"
	  . "restart_after_crash = on\n");
fault_install($node);

# Wait until one launcher and one worker run, none of them in @old_pids; true when they do
# within $timeout_s.
sub new_launcher_and_worker
{
	my ($timeout_s, @old_pids) = @_;
	my $old = join(',', @old_pids, 0);

	return poll_until(
		$node, 'postgres',
		"SELECT string_agg(backend_type, ',' ORDER BY backend_type) FROM pg_stat_activity"
		  . " WHERE backend_type IN ('regen_queue launcher', 'regen_queue worker')"
		  . " AND pid NOT IN ($old)",
		'regen_queue launcher,regen_queue worker', $timeout_s);
}

sub processing_jobs
{
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM regen_queue.job_queue WHERE status = 'processing'");
}

# Wait until the postmaster has reinitialized after a crash and takes connections again.
sub wait_for_crash_restart
{
	my ($log_offset) = @_;

	$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
	return poll_until($node, 'postgres', 'SELECT 1', '1', 60);
}

ok(new_launcher_and_worker(30), 'the launcher and the worker run');

# One fault while the worker is held inside the handler of a job, with three other jobs queued.
#   shared:    the job and the three others are claimed together, under one lease;
#   fault:     sub ($worker_pid, $log_offset) that causes the fault and returns once the server
#              takes connections again;
#   restart_s: sub ($log_offset) returning the restart interval that applies to the worker;
#   replaced:  whether the launcher is replaced too (a crash restart, a restart of the server);
#   log:       sub ($worker_pid) returning the problem lines the fault itself writes (regexes).
sub fault_case
{
	my (%case) = @_;
	my $name = $case{name};
	my $gate = $name =~ s/\W+/_/gr;

	set_gate($node, $gate, 'false');
	my ($held, @others);
	if ($case{shared})
	{
		($held, @others) = enqueue_batch($node, [ "gate $gate", 10, 3 ],
			map { [ "$name other $_", 0, 3 ] } 1 .. 3);
	}
	else
	{
		$held = enqueue_topic($node, "gate $gate");
	}
	my $worker = wait_in_handler($node, $held, 'regen_queue worker');
	isnt($worker, '', "$name: the worker is held inside the handler of a job");
	if ($case{shared})
	{
		is( $node->safe_psql('postgres',
				"SELECT count(*) || '/' || count(DISTINCT lease_drain) || '/' || min(lease_size)"
				  . " FROM regen_queue.job_queue WHERE lease_owner = $worker"
				  . " AND status = 'processing'"),
			'4/1/4',
			"$name: the held job and three others were claimed under one lease");
	}
	else
	{
		@others = map { enqueue_topic($node, "$name other $_") } 1 .. 3;
		is(job_summary($node, @others), 'pending/0/0 pending/0/0 pending/0/0',
			"$name: three other jobs wait behind it");
	}
	my $lease_end = $node->safe_psql('postgres',
		"SELECT lease_expires_at FROM regen_queue.job_queue WHERE id = '$held'");
	my $launcher = rq_pid_of($node, 'regen_queue launcher');

	my $log_offset = -s $node->logfile;
	my $started = time();
	$case{fault}->($worker, $log_offset);
	set_gate($node, $gate, 'true');    # the retry may run straight through

	my $restart_s = $case{restart_s}->($log_offset);
	my $back =
	  $case{replaced}
	  ? new_launcher_and_worker($restart_s + $slack_s, $worker, $launcher)
	  : poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'regen_queue worker'"
		  . " AND pid <> $worker",
		'1', $restart_s + $slack_s);
	ok($back,
		"$name: a new worker runs within its restart interval ($restart_s s, + $slack_s s)");
	note sprintf('%s: a new worker ran %.1f s after the fault', $name, time() - $started);
	is(rq_pid_of($node, 'regen_queue launcher'), $launcher, "$name: the launcher kept running")
	  unless $case{replaced};

	ok( poll_until(
			$node, 'postgres', job_summary_sql(@others),
			join(' ', ('completed/1/1') x 3), 60),
		"$name: the three other jobs completed, each with one committed effect");
	# Alone in its lease, the job was charged the attempt that died; a shared lease gives the
	# attempt back, as nobody knows which of its jobs killed the process.
	my $attempts = $case{shared} ? 1 : 2;
	ok( poll_until(
			$node, 'postgres', job_summary_sql($held), "completed/$attempts/1", 60),
		"$name: the interrupted job completed at attempt $attempts, with one committed effect");
	is(effects_of($node, $held), "$attempts:regen_queue worker",
		"$name: the effect that committed is the retry's; the interrupted attempt's was undone");
	is( $node->safe_psql('postgres',
			"SELECT bool_and(at > '$lease_end') FROM public.effects WHERE job_id = '$held'"),
		't', "$name: the job ran again only after its lease had expired");
	like(
		$node->safe_psql('postgres',
			"SELECT last_error FROM regen_queue.job_queue WHERE id = '$held'"),
		lease_error(1, $worker),
		"$name: last_error tells that the lease of the killed worker expired");
	ok( $node->log_contains(
			qr/LOG:  regen_queue: lease of job $held expired during attempt 1; job is now pending/,
			$log_offset),
		"$name: the reclaim is logged");
	is(processing_jobs(), '0', "$name: no job is left processing");

	log_shows_only($node, $log_offset, "$name: the log shows nothing but the fault",
		$case{log}->($worker));
	return;
}

my $crash_restart_s = sub { return $launcher_restart_s + $worker_restart_s; };

# --- SIGKILL of the worker -------------------------------------------------------------------

foreach my $shared (0, 1)
{
	fault_case(
		name => $shared ? 'kill -9 of the worker, shared lease' : 'kill -9 of the worker',
		shared => $shared,
		replaced => 1,
		fault => sub {
			my ($worker, $log_offset) = @_;
			ok(kill('KILL', $worker), "SIGKILL sent to worker $worker");
			ok(wait_for_crash_restart($log_offset), 'the server is back after the crash');
		},
		restart_s => $crash_restart_s,
		log => sub {
			my ($worker) = @_;
			return (crash_restart_lines(),
				killed_line('background worker "regen_queue worker"', $worker));
		});
}

# --- pg_terminate_backend() of the worker ----------------------------------------------------

fault_case(
	name => 'pg_terminate_backend of the worker',
	replaced => 0,
	fault => sub {
		my ($worker) = @_;
		is($node->safe_psql('postgres', "SELECT pg_terminate_backend($worker)"),
			't', "worker $worker terminated");
	},
	restart_s => sub {
		my ($log_offset) = @_;
		$node->wait_for_log(
			qr/regen_queue: worker for database "postgres" exited; restarting it in \d+ s/,
			$log_offset);
		my ($delay) = slurp_file($node->logfile, $log_offset) =~ /restarting it in (\d+) s/;
		is($delay, $worker_restart_s, 'the launcher restarts it after 1 s');
		return $delay;
	},
	log => sub {
		my ($worker) = @_;
		return terminated_lines('worker');
	});

# --- the launcher: terminated (it takes the worker along), and killed --------------------------

fault_case(
	name => 'pg_terminate_backend of the launcher',
	replaced => 1,
	fault => sub {
		my ($worker) = @_;
		my $launcher = rq_pid_of($node, 'regen_queue launcher');
		is($node->safe_psql('postgres', "SELECT pg_terminate_backend($launcher)"),
			't', "launcher $launcher terminated");
	},
	restart_s => sub { return $launcher_restart_s; },
	log => sub {
		return terminated_lines('(?:launcher|worker)');
	});

my $killed_launcher;
fault_case(
	name => 'kill -9 of the launcher',
	replaced => 1,
	fault => sub {
		my ($worker, $log_offset) = @_;
		$killed_launcher = rq_pid_of($node, 'regen_queue launcher');
		ok(kill('KILL', $killed_launcher), "SIGKILL sent to launcher $killed_launcher");
		ok(wait_for_crash_restart($log_offset), 'the server is back after the crash');
	},
	restart_s => $crash_restart_s,
	log => sub {
		return (crash_restart_lines(),
			killed_line('background worker "regen_queue launcher"', $killed_launcher));
	});

# --- SIGKILL of an unrelated, idle backend ---------------------------------------------------

my $victim_pid;
fault_case(
	name => 'kill -9 of an idle backend',
	replaced => 1,
	fault => sub {
		my ($worker, $log_offset) = @_;
		my $victim = $node->background_psql('postgres', on_error_stop => 0);
		$victim_pid = $victim->query_safe('SELECT pg_backend_pid()');
		chomp $victim_pid;
		is( $node->safe_psql('postgres',
				"SELECT state FROM pg_stat_activity WHERE pid = $victim_pid"),
			'idle', 'an idle session to kill');
		ok(kill('KILL', $victim_pid), "SIGKILL sent to backend $victim_pid");
		ok(wait_for_crash_restart($log_offset), 'the server is back after the crash');
		$victim->quit;
	},
	restart_s => $crash_restart_s,
	log => sub {
		return (crash_restart_lines(), killed_line('server process', $victim_pid));
	});

# --- immediate shutdown and start ------------------------------------------------------------

fault_case(
	name => 'immediate shutdown',
	replaced => 1,
	fault => sub {
		$node->stop('immediate');
		$node->start;
	},
	restart_s => $crash_restart_s,
	log => sub { return (); });

# --- pg_terminate_backend() of a session waiting in regen_drain() ----------------------------

{
	my $name = 'pg_terminate_backend of a regen_drain() caller';
	set_gate($node, 'drain_worker', 'false');
	set_gate($node, 'drain_caller', 'false');

	# Keep the background worker busy, so that the drain's jobs are the drain's own.
	my $busy = enqueue_topic($node, 'gate drain_worker');
	my $worker = wait_in_handler($node, $busy, 'regen_queue worker');
	isnt($worker, '', "$name: the background worker is held in a handler");
	my $launcher = rq_pid_of($node, 'regen_queue launcher');

	my ($held, @mates) = enqueue_batch(
		$node, [ 'gate drain_caller', 10, 3 ],
		[ 'drain mate 1', 0, 3 ],
		[ 'drain mate 2', 0, 3 ]);
	my ($out, $err) = ('', '');
	my $caller_h = IPC::Run::start(
		[
			'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', 'SELECT regen_drain(10)'
		],
		'>', \$out, '2>', \$err);
	my $drain = wait_in_handler($node, $held, 'regen_queue drain');
	isnt($drain, '', "$name: the drain worker is held in the handler of its first job");
	my $caller = $node->safe_psql('postgres',
		"SELECT substring(application_name FROM 'PID (\\d+)') FROM pg_stat_activity"
		  . " WHERE pid = $drain");
	is( $node->safe_psql('postgres',
			"SELECT backend_type || ' ' || wait_event FROM pg_stat_activity WHERE pid = $caller"),
		'client backend BgWorkerShutdown',
		"$name: its caller waits for it");
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM regen_queue.job_queue WHERE lease_owner = $drain"
			  . " AND status = 'processing'"),
		'3', "$name: the drain worker claimed the three jobs");
	my @late = map { enqueue_topic($node, "drain late $_") } 1 .. 2;

	my $log_offset = -s $node->logfile;
	is($node->safe_psql('postgres', "SELECT pg_terminate_backend($caller)"),
		't', "$name: caller $caller terminated");
	$caller_h->finish;
	like($err, qr/FATAL:  terminating connection due to administrator command/,
		"$name: the caller's session ends");
	ok( poll_until(
			$node, 'postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $caller",
			'0', 30),
		"$name: the caller is gone");
	ok( poll_until(
			$node, 'postgres', "SELECT wait_event FROM pg_stat_activity WHERE pid = $drain",
			'PgSleep', 10),
		"$name: its drain worker goes on with the handler it is running");
	is(job_summary($node, $held, @mates),
		'processing/1/0 processing/1/0 processing/1/0',
		"$name: its three jobs are still processing");

	set_gate($node, 'drain_caller', 'true');
	ok( poll_until(
			$node, 'postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $drain",
			'0', 30),
		"$name: once the handler returns, the drain worker exits");
	is( job_summary($node, $held, @mates),
		'completed/1/1 completed/1/1 completed/1/1',
		"$name: it completed its batch: each job once, at attempt 1");
	is( $node->safe_psql('postgres',
			"SELECT string_agg(DISTINCT pid || ' ' || backend_type, ',') FROM public.effects"
			  . " WHERE job_id IN ('$held', '$mates[0]', '$mates[1]')"),
		"$drain regen_queue drain",
		"$name: all three ran in that drain worker");
	is(job_summary($node, @late), 'pending/0/0 pending/0/0',
		"$name: it claimed no more jobs after its caller was gone");

	set_gate($node, 'drain_worker', 'true');
	ok( poll_until(
			$node, 'postgres', job_summary_sql($busy, @late),
			'completed/1/1 completed/1/1 completed/1/1', 30),
		"$name: the background worker completes its job and the two left over");
	is(rq_pid_of($node, 'regen_queue worker'), $worker,
		"$name: the background worker kept running");
	is(rq_pid_of($node, 'regen_queue launcher'), $launcher, "$name: so did the launcher");
	is(processing_jobs(), '0', "$name: no job is left processing");
	log_shows_only(
		$node, $log_offset,
		"$name: the log shows nothing but the terminated session",
		qr/\[$caller\] .*FATAL:  terminating connection due to administrator command/);
}

# --- every job of the file -------------------------------------------------------------------

is( $node->safe_psql('postgres',
		"SELECT count(*) FROM regen_queue.job_queue WHERE status <> 'completed'"),
	'0', 'no job of this file was lost: every one completed');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM regen_queue.job_queue j WHERE (SELECT count(*) FROM public.effects e"
		  . " WHERE e.job_id = j.id) <> 1"),
	'0', 'no job ran its effects twice (or not at all)');

$node->stop;
done_testing();
