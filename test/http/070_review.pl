# Cases from the review of HTTP handlers: the late answer of a cancelled call does not touch
# the job's next claim; a slow SQL handler in the same batch does not let another drain reclaim
# a job whose call is in flight; lowering http_concurrency by reload takes effect with calls in
# flight; a URL with dot segments is signed as libcurl sends it.
use strict;
use warnings;

use HttpTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

my $node = http_node('review', lease_timeout => '2s');
my $service = gs_start(18530, '--secret', 'review-secret');
my $plain = gs_start(18531);
set_system($node, http_signing_secret => 'review-secret');

# --- a cancelled call's late answer -----------------------------------------------------------

# The first call of the job answers 422 after 3 s; the next one 200 after 3 s. The job is
# cancelled and retried while the first call is in flight, and claimed again as attempt 1.
register_http($node, 'stale',
	endpoint => gs_url($service, '/stale', latency_ms => 3000, fail_first => 1, fail_status => 422));
my $stale = enqueue($node, 'stale');
ok(poll_until(sub { (gs_stats($service)->{in_flight} // 0) == 1 }, 30),
	'the first call is in flight');
is($node->safe_psql('postgres', "SELECT status FROM regen_cancel('$stale')"),
	'failed', 'the job is cancelled during its call');
is($node->safe_psql('postgres', "SELECT status || ' ' || attempts FROM regen_retry('$stale')"),
	'pending 0', 'and retried: pending, attempts start over');
ok(wait_jobs($node, [$stale], "status IN ('completed', 'failed')", 30), 'the job finishes');
my $row = job_row($node, $stale);
is($row->{status}, 'completed', "the stale 422 did not fail the new claim's attempt");
is($row->{attempts}, 1, 'attempt 1 of the new claim');
is($row->{result}{call}, 2, "the result is the second call's answer");
is(gs_stats($service)->{jobs}{$stale}, 2, 'the service was called twice, once per claim');

# --- a slow SQL handler in the batch of a job whose call is in flight -------------------------

# One batch claims, in this order: an HTTP job (500 ms call), a SQL job of 1.2 s (after it the
# batch commits, handing the HTTP job over), a SQL job of 6 s. The lease is 2 s; a regen_drain()
# at 4.5 s reaps expired leases.
$node->safe_psql(
	'postgres', q{
CREATE FUNCTION public.sleepy(j regen_queue.job_queue) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('slept', pg_sleep(CASE j.job_type WHEN 'sql_short'
                                                      THEN 1.2 ELSE 6 END)::text) $$;
SELECT regen_register_handler('sql_short', 'public.sleepy(regen_queue.job_queue)');
SELECT regen_register_handler('sql_long', 'public.sleepy(regen_queue.job_queue)');
});
register_http($node, 'batched', endpoint => gs_url($service, '/batched', latency_ms => 500));
my $batched = $node->safe_psql(
	'postgres', q{
BEGIN;
SELECT regen_enqueue(gen_random_uuid(), job_type => 'sql_short', priority => 2) \gset
SELECT regen_enqueue(gen_random_uuid(), job_type => 'sql_long', priority => 1) \gset
SELECT (regen_enqueue(gen_random_uuid(), job_type => 'batched', priority => 3)).id;
COMMIT;
});
ok(sql_until($node,
		"SELECT count(*) FROM regen_queue.job_queue WHERE job_type = 'sql_long'"
		  . " AND status = 'processing'",
		'1', 20),
	'the batch is running');
usleep(4_500_000);
my $other = $node->safe_psql('postgres', 'SELECT regen_drain()');
like($other, qr/"processedCount": 0/, 'a second drain meanwhile finds nothing to run');
ok(wait_jobs($node, [$batched], undef, 30), 'the HTTP job finishes');
$row = job_row($node, $batched);
is($row->{status}, 'completed', 'the HTTP job completed');
is($row->{attempts}, 1, 'in one attempt: its lease never expired');
is(gs_stats($service)->{jobs}{$batched}, 1, 'its endpoint was called once');
ok(sql_until($node,
		"SELECT count(*) FROM regen_queue.job_queue WHERE job_type LIKE 'sql\\_%'"
		  . " AND status = 'completed'",
		'2', 30),
	'the SQL jobs complete too');

# --- lowering http_concurrency with calls in flight -------------------------------------------

set_system($node, http_concurrency => 40, max_jobs_per_drain => 1000);
register_http($node, 'steady', endpoint => gs_url($plain, '/steady', latency_ms => 1000));
my @steady = enqueue_many($node, 'steady', 200);
ok(poll_until(sub { (gs_stats($plain)->{in_flight} // 0) >= 30 }, 30),
	'30 or more calls are in flight');
set_system($node, http_concurrency => 5);
ok(poll_until(sub { (gs_stats($plain)->{in_flight} // 99) <= 5 }, 15),
	'after the reload the calls in flight drop to 5');
gs_reset($plain);
usleep(3_000_000);
my $stats = gs_stats($plain);
cmp_ok($stats->{max_in_flight}, '<=', 5, 'and stay within 5 while the worker stays busy');
cmp_ok($stats->{calls}, '>', 0, 'calls went on meanwhile');
set_system($node, http_concurrency => 64);
ok(wait_jobs($node, \@steady, "status = 'completed'", 60), 'all 200 jobs complete');

# --- a URL with dot segments ------------------------------------------------------------------

register_http($node, 'dots', endpoint => "http://127.0.0.1:$service->{port}/a/../dots?x=1");
my $dots = enqueue($node, 'dots');
ok(wait_jobs($node, [$dots], undef, 30), 'the job of the dot-segment URL finishes');
is(job_row($node, $dots)->{status}, 'completed',
	'its call was signed over the path libcurl sends (/dots), and accepted');
is(gs_stats($service)->{paths}{'/dots'}, 1, 'the service saw /dots');

gs_stop($plain);
gs_stop($service);
$node->stop;
done_testing();
