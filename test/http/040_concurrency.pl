# Many calls at once: at most regen_queue.http_concurrency in flight, and at most a job type's
# max_concurrency; each job called once; SQL and HTTP handlers' jobs in one queue; while calls
# are in flight the worker holds no transaction, no lock and no row lock.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use HttpTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = http_node('concurrency', conf => "regen_queue.http_concurrency = 8\n");
my $wide = gs_start(18515);
my $narrow = gs_start(18516);
my $slow = gs_start(18517);

# --- regen_queue.http_concurrency ------------------------------------------------------------

register_http($node, 'c_many', endpoint => gs_url($wide, '/generate', latency_ms => 500));
my @many = enqueue_many($node, 'c_many', 40);
ok(wait_jobs($node, \@many, undef, 120), '40 calls of 0.5 s finish');
is(jobs_where($node, "job_type = 'c_many' AND status = 'completed' AND attempts = 1"),
	40, 'all 40 jobs completed in one attempt');
my $stats = gs_stats($wide);
is($stats->{calls}, 40, 'the service got 40 calls');
is(scalar(grep { ($stats->{jobs}{$_} // 0) == 1 } @many), 40, 'each job was called exactly once');
ok($stats->{max_in_flight} <= 8,
	"never more than http_concurrency (8) in flight (max $stats->{max_in_flight})");
ok($stats->{max_in_flight} >= 4, "calls do run side by side (max $stats->{max_in_flight})");

# --- a job type's max_concurrency ------------------------------------------------------------

register_http($node, 'c_two', endpoint => gs_url($narrow, '/generate', latency_ms => 400),
	max_concurrency => 2);
my @two = enqueue_many($node, 'c_two', 10);
ok(wait_jobs($node, \@two, undef, 120), '10 calls of a type limited to 2 at a time finish');
is(jobs_where($node, "job_type = 'c_two' AND status = 'completed'"), 10, 'all completed');
$stats = gs_stats($narrow);
ok($stats->{max_in_flight} <= 2, "never more than max_concurrency (2) in flight "
	  . "(max $stats->{max_in_flight})");
ok($stats->{max_in_flight} >= 1, 'the calls did arrive');
is(scalar(grep { ($stats->{jobs}{$_} // 0) == 1 } @two), 10, 'each job was called once');

# --- SQL and HTTP handlers together ----------------------------------------------------------

$node->safe_psql(
	'postgres', q{
CREATE FUNCTION public.sql_handler(j regen_queue.job_queue) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('sql', true, 'id', j.id) $$;
SELECT regen_register_handler('c_sql', 'public.sql_handler(regen_queue.job_queue)');
});
gs_reset($wide);
register_http($node, 'c_mixed', endpoint => gs_url($wide, '/mixed', latency_ms => 200));
my (@sql_jobs, @http_jobs);
for (1 .. 5)
{
	push @sql_jobs, enqueue_many($node, 'c_sql', 3);
	push @http_jobs, enqueue_many($node, 'c_mixed', 3);
}
ok(wait_jobs($node, [ @sql_jobs, @http_jobs ], undef, 60), 'the mixed jobs finish');
is(jobs_where($node,
		"id IN ('" . join("','", @sql_jobs) . "') AND status = 'completed'"
		  . " AND (result->>'sql')::boolean AND result->>'id' = id::text"),
	15, "the SQL handler's 15 jobs completed with its result");
is(jobs_where($node,
		"id IN ('" . join("','", @http_jobs) . "') AND status = 'completed'"
		  . " AND result->>'jobId' = id::text AND result->>'path' = '/mixed'"),
	15, "the HTTP handler's 15 jobs completed with the service's result");
is(gs_stats($wide)->{calls}, 15, 'the service got only the HTTP jobs');

# --- nothing held while calls are in flight --------------------------------------------------

register_http($node, 'c_slow', endpoint => gs_url($slow, '/generate', latency_ms => 4000));
my @held = enqueue_many($node, 'c_slow', 4);
ok(poll_until(sub { gs_stats($slow)->{in_flight} == 4 }, 30, '4 calls in flight'),
	'the four 4 s calls are in flight');
my $worker = worker_pid($node);
ok($worker =~ /^\d+$/, "the worker runs (pid $worker)");
is(jobs_where($node, "id IN ('" . join("','", @held) . "') AND status = 'processing'"
		  . " AND lease_owner = $worker"),
	4, 'their jobs are processing, leased to the worker');

my $list = join(',', map { "'$_'" } @held);
my ($out, $err) = ('', '');
$node->psql(
	'postgres',
	"BEGIN; SELECT count(*) FROM (SELECT id FROM regen_queue.job_queue WHERE id IN ($list)"
	  . " FOR UPDATE NOWAIT) locked; ROLLBACK;",
	stdout => \$out,
	stderr => \$err);
is($out, '4', 'the rows of jobs whose calls are in flight are not locked (FOR UPDATE NOWAIT)');
is($err, '', 'no lock_not_available error') or diag $err;

my @samples;
for (1 .. 10)
{
	push @samples,
	  $node->safe_psql('postgres',
		    "SELECT concat_ws('/', coalesce(state, 'null'), (xact_start IS NULL)::text,"
		  . " (backend_xid IS NULL)::text, (backend_xmin IS NULL)::text,"
		  . " (SELECT count(*) FROM pg_locks l WHERE l.pid = a.pid)::text)"
		  . " FROM pg_stat_activity a WHERE pid = $worker");
	usleep(100_000);
}
is(gs_stats($slow)->{in_flight}, 4, 'the calls were in flight during all the samples');
is_deeply([ map { (split m{/})[1 .. 4] } @samples ], [ ('true', 'true', 'true', '0') x 10 ],
	'the worker had no transaction, xid, snapshot or lock in any of 10 samples')
  or diag "state/no xact/no xid/no xmin/locks: @samples";
unlike("@samples", qr/idle in transaction|active/, 'its state is never in a transaction')
  or diag "@samples";

ok(wait_jobs($node, \@held, "status = 'completed'", 60), 'the slow calls complete');

gs_stop($_) for ($wide, $narrow, $slow);
$node->stop;
done_testing();
