# Many drainers at once. First a long job: its handler sleeps past regen_queue.lease_timeout in
# one drain while the background worker and pgbench sessions drain other jobs; it runs once, at
# its first attempt, and the others finish while it runs. Then 20,000 jobs come due together
# while the background worker, four pgbench sessions calling regen_drain(10) and a pg_cron job
# calling regen_drain(20) all drain: every job runs its handler exactly once and completes at its
# first attempt, no drain claims more jobs than it was asked for, and the counts the drains
# answered add up to the jobs.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use POSIX qw(ceil);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RegenQueueTest;
use Test::More;
use Time::HiRes qw(usleep time);

my $flood_jobs = 20_000;
my $quick_jobs = 500;
my $long_sleep_s = 10;
my $worker_bound = 25;    # regen_queue.max_jobs_per_drain: the worker's drains
my $session_bound = 10;   # regen_drain(10) of the pgbench sessions
my $cron_bound = 20;      # regen_drain(20) of the pg_cron job

# The worker starts only once the long job is running (regen_queue.databases is set then), so
# that an explicit drain, not the worker, runs it. pg_cron runs its jobs in background workers,
# as the node listens on a unix socket only.
my $node = rq_node('many_drainers',
	    "shared_preload_libraries = 'pg_cron,regen_queue'\n"
	  . "max_worker_processes = 32\n"
	  . "cron.database_name = 'postgres'\n"
	  . "cron.use_background_workers = on\n"
	  . "regen_queue.databases = ''\n"
	  . "regen_queue.drain_interval = '100ms'\n"
	  . "regen_queue.max_jobs_per_drain = $worker_bound\n"
	  . "regen_queue.lease_timeout = '2s'\n");
$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
$node->safe_psql('postgres', 'CREATE EXTENSION regen_queue');

# The handler writes one effect row per run: the job, its attempt, and the process that ran it
# (the worker, or a drain worker whose application_name names its caller). The long job sleeps
# past its lease; the others sleep 2 ms, which caps how fast any one drainer can go, so that
# the 20,000 jobs last long enough for pg_cron's minute to come.
$node->safe_psql(
	'postgres', q{
CREATE TABLE public.effects (
    job_id uuid NOT NULL,
    job_type text NOT NULL,
    attempt integer NOT NULL,
    pid integer NOT NULL,
    backend_type text,
    app text,
    at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE public.drains (
    phase text NOT NULL,
    kind text NOT NULL,
    caller_pid integer NOT NULL,
    answer jsonb NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION public.effect(j regen_queue.job_queue) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(CASE WHEN j.job_type = 'long' THEN }
	  . $long_sleep_s . q{ ELSE 0.002 END);
    INSERT INTO public.effects (job_id, job_type, attempt, pid, backend_type, app)
    SELECT j.id, j.job_type, j.attempts, a.pid, a.backend_type, a.application_name
      FROM pg_stat_activity a WHERE a.pid = pg_backend_pid();
    RETURN jsonb_build_object('ok', true);
END $$;
SELECT regen_register_handler(t, 'public.effect(regen_queue.job_queue)')
  FROM unnest(ARRAY['long', 'quick', 'flood']) t;
});

my $host = $node->host;
my $port = $node->port;

# Start pgbench in the background: $clients sessions each running $script for $seconds.
sub start_pgbench
{
	my ($name, $script, $clients, $seconds, @extra) = @_;
	my $file = PostgreSQL::Test::Utils::tempdir() . "/$name.sql";
	my ($stdout, $stderr) = ('', '');

	PostgreSQL::Test::Utils::append_to_file($file, $script);
	my $h = IPC::Run::start(
		[
			'pgbench', '--no-vacuum', "--client=$clients", "--jobs=$clients",
			"--time=$seconds", @extra, '-f', $file, '-h', $host, '-p', $port, 'postgres'
		],
		'>', \$stdout, '2>', \$stderr,
		IPC::Run::timeout(180));
	return ($h, \$stdout, \$stderr);
}

# Wait for a pgbench started above; check that it ran and met no error (an error aborts its
# client: pgbench then exits non-zero; serialization and deadlock failures are counted).
sub finish_pgbench
{
	my ($h, $stdout, $stderr, $what) = @_;

	ok($h->finish, "$what: pgbench exits 0");
	like($$stdout, qr/number of failed transactions: 0 /,
		"$what: no serialization or deadlock failure");
	unlike($$stderr, qr/ERROR|FATAL/, "$what: no error");
	return;
}

# --- a long job while others drain ------------------------------------------------------------

my $long = $node->safe_psql('postgres',
	"SELECT id FROM regen_enqueue(gen_random_uuid(), job_type => 'long')");
my ($long_out, $long_err) = ('', '');
my $long_drain = IPC::Run::start(
	[
		'psql', '-XAtq', '-d', $node->connstr('postgres'),
		'-c', 'SELECT regen_drain(1)'
	],
	'>', \$long_out, '2>', \$long_err,
	IPC::Run::timeout(120));
ok( poll_until(
		$node, 'postgres',
		"SELECT status || '/' || attempts FROM regen_queue.job_queue WHERE id = '$long'",
		'processing/1', 30),
	'an explicit drain claims the long job');
my $long_pid = $node->safe_psql('postgres',
	"SELECT lease_owner FROM regen_queue.job_queue WHERE id = '$long'");

$node->safe_psql('postgres',
	"ALTER SYSTEM SET regen_queue.databases = 'postgres'; SELECT pg_reload_conf()");
ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'regen_queue worker'",
		'1', 30),
	'the background worker starts while the long job runs');

my @long_bench = start_pgbench(
	'long_phase',
	"INSERT INTO public.drains (phase, kind, caller_pid, answer)"
	  . " VALUES ('long', 'pgbench', pg_backend_pid(), regen_drain($session_bound));\n",
	2, 4, '--rate=50');
$node->safe_psql('postgres',
	"SELECT count(regen_enqueue(gen_random_uuid(), job_type => 'quick'))"
	  . " FROM generate_series(1, $quick_jobs)");

ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FILTER (WHERE job_type = 'quick' AND status = 'completed')"
		  . " || ' ' || min(status::text) FILTER (WHERE id = '$long')"
		  . " FROM regen_queue.job_queue",
		"$quick_jobs processing", 60),
	"all $quick_jobs other jobs complete while the long job is still running");
ok( poll_until(
		$node, 'postgres',
		"SELECT lease_expires_at < now() FROM regen_queue.job_queue WHERE id = '$long'",
		't', 30),
	'the long job outlives its lease');
is( $node->safe_psql(
		'postgres',
		"SELECT regen_drain($session_bound)->>'processedCount' FROM generate_series(1, 3)"),
	"0\n0\n0",
	'drains that come after its lease expired leave the long job alone');
is( $node->safe_psql('postgres',
		"SELECT status || '/' || attempts || '/' || lease_owner"
		  . " FROM regen_queue.job_queue WHERE id = '$long'"),
	"processing/1/$long_pid",
	'the long job is still processing at its first attempt, in the process that claimed it');

$long_drain->finish;
is($long_out,
	qq({"ok": true, "failedCount": 0, "completedCount": 1, "processedCount": 1}\n),
	'the drain that ran the long job answers one completed job');
is($long_err, '', 'without an error');
finish_pgbench(@long_bench, 'sessions draining beside the long job');

is( $node->safe_psql('postgres',
		"SELECT status || '/' || attempts || '/' || coalesce(last_error, 'no error')"
		  . " FROM regen_queue.job_queue WHERE id = '$long'"),
	'completed/1/no error',
	'the long job completed at its first attempt');
is( $node->safe_psql('postgres',
		"SELECT count(*) || '/' || min(attempt) || '/' || min(pid)"
		  . " FROM public.effects WHERE job_id = '$long'"),
	"1/1/$long_pid",
	'its handler ran once, in the process that claimed it');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FILTER (WHERE j.status = 'completed' AND j.attempts = 1)"
		  . " || '/' || count(DISTINCT e.job_id) || '/' || count(e.job_id)"
		  . " FROM regen_queue.job_queue j LEFT JOIN public.effects e ON e.job_id = j.id"
		  . " WHERE j.job_type = 'quick'"),
	"$quick_jobs/$quick_jobs/$quick_jobs",
	'every other job completed at its first attempt and ran once');
is( $node->safe_psql(
		'postgres',
		"SELECT (SELECT max(completed_at) FROM regen_queue.job_queue WHERE job_type = 'quick')"
		  . " < (SELECT completed_at FROM regen_queue.job_queue WHERE id = '$long')"),
	't',
	'they all completed before the long job did');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FILTER (WHERE backend_type = 'regen_queue worker') > 0"
		  . " AND count(*) FILTER (WHERE backend_type = 'regen_queue drain') > 0"
		  . " FROM public.effects WHERE job_type = 'quick'"),
	't',
	'both the worker and the sessions ran some of them');

# --- 20,000 jobs, three kinds of drainer ------------------------------------------------------

# From here on drains use a long lease: a drain that stalls for a while on this busy
# machine must not see its jobs reclaimed, which would count a second attempt.
$node->safe_psql('postgres',
	"ALTER SYSTEM SET regen_queue.lease_timeout = '5min'; SELECT pg_reload_conf()");
ok(wait_for_setting($node, 'regen_queue.lease_timeout', '5min'), 'the lease is 5 min now');

# pg_cron runs at minute boundaries only. The jobs come due at $start, 10 s before a boundary;
# the 2 ms per job and the pgbench rate (40 drains a second) keep them coming for 20 s at
# least, so the pg_cron run at the boundary finds thousands left.
my $boundary = (int(time() / 60) + 1) * 60;
$boundary += 60 if $boundary - time() < 20;
my $start = $boundary - 10;
note 'the jobs come due ' . sprintf('%.1f', $start - time()) . ' s from now';

$node->safe_psql('postgres',
	"SELECT count(regen_enqueue(gen_random_uuid(), job_type => 'flood',"
	  . " run_at => to_timestamp($start)))"
	  . " FROM generate_series(1, $flood_jobs)");
my $cron_job = $node->safe_psql('postgres',
	"SELECT cron.schedule('flood-drain', '* * * * *', \$\$"
	  . "INSERT INTO public.drains (phase, kind, caller_pid, answer)"
	  . " VALUES ('flood', 'cron', pg_backend_pid(), regen_drain($cron_bound))\$\$)");
cmp_ok(time(), '<', $start, 'the jobs and the pg_cron job are in place before the jobs come due');

usleep(1_000_000 * ($start - 1 - time())) if $start - 1 > time();
my @flood_bench = start_pgbench(
	'flood_phase',
	"INSERT INTO public.drains (phase, kind, caller_pid, answer)"
	  . " VALUES ('flood', 'pgbench', pg_backend_pid(), regen_drain($session_bound));\n",
	4, ceil($start + 25 - time()),
	'--rate=40');

ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM regen_queue.job_queue"
		  . " WHERE job_type = 'flood' AND status <> 'completed'",
		'0', 150),
	'every job completes');
note 'the last job completed '
  . $node->safe_psql('postgres',
	"SELECT round(extract(epoch FROM max(completed_at)) - $start, 1)"
	  . " FROM regen_queue.job_queue WHERE job_type = 'flood'")
  . ' s after they came due, '
  . ($boundary - $start)
  . ' s before that a minute began';

finish_pgbench(@flood_bench, 'four sessions calling regen_drain(10)');
$node->safe_psql('postgres', "SELECT cron.unschedule('flood-drain')");
ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM cron.job_run_details"
		  . " WHERE jobid = $cron_job AND status NOT IN ('succeeded', 'failed')",
		'0', 60),
	'no pg_cron run is left running');

# Every effect, with the kind of drainer that ran it: the worker itself, or the drain worker
# of a recorded caller (a drain worker's application_name names its caller's pid).
$node->safe_psql(
	'postgres', q{
CREATE TABLE public.callers AS
SELECT DISTINCT kind, caller_pid FROM public.drains WHERE phase = 'flood';
CREATE TABLE public.flood_effects AS
SELECT e.*, CASE WHEN e.backend_type = 'regen_queue worker' THEN 'worker' ELSE c.kind END AS kind
  FROM public.effects e
  LEFT JOIN public.callers c ON e.app = 'regen_queue drain for PID ' || c.caller_pid
 WHERE e.job_type = 'flood';
});
is( $node->safe_psql(
		'postgres',
		'SELECT count(*) FROM (SELECT caller_pid FROM public.callers'
		  . ' GROUP BY caller_pid HAVING count(*) > 1) reused'),
	'0',
	'no caller pid was both a pgbench session and a pg_cron run');

is( $node->safe_psql('postgres',
		"SELECT status || ':' || count(*) FROM regen_queue.job_queue"
		  . " WHERE job_type = 'flood' GROUP BY status"),
	"completed:$flood_jobs",
	'all jobs are completed: none pending, processing or failed');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM regen_queue.job_queue WHERE job_type = 'flood'"
		  . " AND (attempts <> 1 OR last_error IS NOT NULL OR lease_expires_at IS NOT NULL)"),
	'0',
	'each completed at its first attempt, without an error, its lease released');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) || '/' || count(DISTINCT job_id) || '/' || max(attempt)"
		  . " FROM public.flood_effects"),
	"$flood_jobs/$flood_jobs/1",
	"exactly $flood_jobs effects, one per job, all of attempt 1");
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM regen_queue.job_queue j WHERE j.job_type = 'flood'"
		  . " AND NOT EXISTS (SELECT FROM public.effects e WHERE e.job_id = j.id)"),
	'0',
	'no job completed without its effect');

is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM public.drains WHERE phase = 'flood' AND NOT ("
		  . " (answer->>'ok')::boolean"
		  . " AND (answer->>'processedCount')::int"
		  . "     = (answer->>'completedCount')::int + (answer->>'failedCount')::int"
		  . " AND (answer->>'failedCount')::int = 0"
		  . " AND (answer->>'processedCount')::int"
		  . "     <= CASE kind WHEN 'cron' THEN $cron_bound ELSE $session_bound END)"),
	'0',
	'every answer is ok, within its bound (10, or 20 for pg_cron), and processed = completed + failed'
);
is( $node->safe_psql(
		'postgres',
		"SELECT (SELECT sum((answer->>'processedCount')::int) FROM public.drains"
		  . "        WHERE phase = 'flood')"
		  . " + (SELECT count(*) FROM public.flood_effects WHERE kind = 'worker')"),
	$flood_jobs,
	'the explicit drains\' processedCount plus the jobs the worker ran add up to the jobs');
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(kind || ':' || (answered = ran), ' ' ORDER BY kind) FROM ("
		  . " SELECT d.kind, sum((d.answer->>'processedCount')::int) AS answered,"
		  . "        (SELECT count(*) FROM public.flood_effects e WHERE e.kind = d.kind) AS ran"
		  . "   FROM public.drains d WHERE d.phase = 'flood' GROUP BY d.kind) k"),
	'cron:true pgbench:true',
	'for the pgbench sessions and pg_cron alike, the counts they answered are the jobs their'
	  . ' drain workers ran');
is($node->safe_psql('postgres', 'SELECT count(*) FROM public.flood_effects WHERE kind IS NULL'),
	'0', 'every job ran in the worker or in the drain worker of a recorded caller');
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(kind || ':' || (count > 0), ' ' ORDER BY kind) FROM ("
		  . " SELECT kind, count(*) FROM public.flood_effects GROUP BY kind) k"),
	'cron:true pgbench:true worker:true',
	'the worker, the pgbench sessions and pg_cron each ran jobs');
note 'jobs run by each kind of drainer: '
  . $node->safe_psql('postgres',
	"SELECT string_agg(kind || ' ' || n, ', ' ORDER BY kind) FROM"
	  . " (SELECT kind, count(*) AS n FROM public.flood_effects GROUP BY kind) k");

# Each claim leaves its drain's id on the job (lease_drain): the jobs of one drain ran in one
# process, and no drain had more than its bound.
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM ("
		  . " SELECT j.lease_drain, min(e.kind) AS kind, count(*) AS jobs,"
		  . "        count(DISTINCT e.pid) AS processes"
		  . "   FROM regen_queue.job_queue j JOIN public.flood_effects e ON e.job_id = j.id"
		  . "  GROUP BY j.lease_drain) d"
		  . " WHERE processes <> 1 OR jobs > CASE kind WHEN 'worker' THEN $worker_bound"
		  . "   WHEN 'cron' THEN $cron_bound ELSE $session_bound END"),
	'0',
	'every drain ran its jobs in one process and claimed no more than its bound'
	  . " ($worker_bound for the worker)");

is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FILTER (WHERE status = 'succeeded') > 0"
		  . " AND count(*) FILTER (WHERE status = 'failed') = 0"
		  . " FROM cron.job_run_details WHERE jobid = $cron_job"),
	't',
	'cron.job_run_details records a succeeded run of the drain and no failed one');

$node->stop;
done_testing();
