# Concurrent drains: four pgbench clients call regen_drain(50) at once over a few thousand jobs.
# Every job runs exactly once, at its first attempt, and the drains' counts add up to the jobs.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RegenQueueTest;
use Test::More;

my $jobs = 3000;
my $clients = 4;
my $per_client = 40;    # 4 * 40 drains of up to 50 jobs: room for 8000 jobs

# No background worker: the pgbench clients are the only drainers.
my $node = rq_node('concurrent', "regen_queue.databases = ''\n");
rq_install($node, 'postgres');
$node->safe_psql(
	'postgres', q{
CREATE TABLE public.run_log (
    job_id uuid NOT NULL,
    pid integer NOT NULL DEFAULT pg_backend_pid(),
    at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE public.drain_result (result jsonb NOT NULL);
CREATE FUNCTION public.logging_handler(j regen_queue.job_queue) RETURNS jsonb LANGUAGE sql AS $$
    INSERT INTO public.run_log (job_id) VALUES (j.id) RETURNING jsonb_build_object('ok', true)
$$;
SELECT regen_register_handler('plan_regeneration', 'public.logging_handler(regen_queue.job_queue)');
});

is( $node->safe_psql(
		'postgres',
		"SELECT count(regen_enqueue(gen_random_uuid(), jsonb_build_object('topic', 'bulk ' || i),"
		  . " priority => i % 3)) FROM generate_series(1, $jobs) i"),
	$jobs,
	"$jobs jobs enqueued");

my $host = $node->host;
my $port = $node->port;
$node->pgbench(
	"--no-vacuum --client=$clients --jobs=$clients --transactions=$per_client"
	  . " -h $host -p $port",
	0,
	[qr{number of transactions actually processed: @{[$clients * $per_client]}/@{[$clients * $per_client]}}],
	[qr{^$}],
	'pgbench runs concurrent regen_drain(50) calls without an error',
	{ '070_drain' => "INSERT INTO public.drain_result SELECT regen_drain(50);\n" },
	'postgres');

is( $node->safe_psql('postgres',
		"SELECT status || ':' || count(*) FROM regen_queue.job_queue GROUP BY status"),
	"completed:$jobs",
	'every job completed');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM regen_queue.job_queue WHERE attempts <> 1 OR last_error IS NOT NULL"),
	'0',
	'every job completed at its first attempt, without an error');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) || '/' || count(DISTINCT job_id) FROM public.run_log"),
	"$jobs/$jobs",
	'every job ran its handler exactly once');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM regen_queue.job_queue j"
		  . " WHERE NOT EXISTS (SELECT FROM public.run_log l WHERE l.job_id = j.id)"),
	'0',
	'no job was completed without running its handler');

is( $node->safe_psql(
		'postgres',
		"SELECT count(*) || '/' || sum((result->>'processedCount')::int)"
		  . " || '/' || sum((result->>'completedCount')::int)"
		  . " || '/' || sum((result->>'failedCount')::int)"
		  . " || '/' || bool_and((result->>'ok')::boolean)"
		  . " FROM public.drain_result"),
	($clients * $per_client) . "/$jobs/$jobs/0/true",
	'the counts of all drains add up to the jobs: none counted twice, none left out');
is( $node->safe_psql('postgres',
		"SELECT max((result->>'processedCount')::int) <= 50 FROM public.drain_result"),
	't', 'no drain processed more than the 50 jobs it was asked for');

note 'drain workers that ran handlers: '
  . $node->safe_psql('postgres', 'SELECT count(DISTINCT pid) FROM public.run_log');
note 'pairs of drain workers running handlers at overlapping times: '
  . $node->safe_psql(
	'postgres', q{
WITH spans AS (SELECT pid, min(at) AS first, max(at) AS last FROM public.run_log GROUP BY pid)
SELECT count(*) FROM spans a JOIN spans b ON a.pid < b.pid
 WHERE a.first <= b.last AND b.first <= a.last});

$node->stop;
done_testing();
