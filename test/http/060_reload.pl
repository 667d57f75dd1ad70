# Reloads with calls in flight: regen_queue.http_endpoint (for handlers registered without an
# endpoint) moves later calls to another service while calls in flight finish where they are;
# regen_queue.http_timeout applies to later calls; regen_queue.enabled = off starts no new
# call but lets the calls in flight finish.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use HttpTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = http_node('reload');
my $first = gs_start(18525);
my $second = gs_start(18526);
my $third = gs_start(18527);

sub in_list { return "id IN ('" . join("','", @_) . "')" }

# --- no endpoint at all ----------------------------------------------------------------------

register_http($node, 'r_guc');
my $orphan = enqueue($node, 'r_guc');
ok(wait_jobs($node, [$orphan], undef, 30), 'a job of a handler without any endpoint finishes');
my $row = job_row($node, $orphan);
is($row->{status}, 'failed', 'it fails for good');
is($row->{attempts}, 1, 'at once');
like($row->{last_error}, qr/^no endpoint\b/, "last_error says 'no endpoint'");

# --- regen_queue.http_endpoint moves later calls ---------------------------------------------

set_system($node, http_endpoint => gs_url($first, '/a', latency_ms => 3000));
my $worker = worker_pid($node);
my @before = enqueue_many($node, 'r_guc', 4);
ok(poll_until(sub { gs_stats($first)->{in_flight} == 4 }, 30, '4 calls to A in flight'),
	'four 3 s calls to service A are in flight');
set_system($node, http_endpoint => gs_url($second, '/b', latency_ms => 100));
is(gs_stats($first)->{in_flight}, 4, 'the reload happened while they were in flight');
my @after = enqueue_many($node, 'r_guc', 5);
ok(wait_jobs($node, [ @before, @after ], undef, 60), 'the nine jobs finish');
is(jobs_where($node,
		in_list(@before) . " AND status = 'completed' AND attempts = 1 AND last_error IS NULL"
		  . " AND result->>'path' = '/a'"),
	4, 'the calls in flight to A completed there, uncut');
is(jobs_where($node,
		in_list(@after) . " AND status = 'completed' AND attempts = 1 AND result->>'path' = '/b'"),
	5, 'the later jobs went to B');
is(gs_stats($first)->{calls}, 4, 'A got only the four calls made before the reload');
is(gs_stats($second)->{calls}, 5, 'B got the five later ones');
is(worker_pid($node), $worker, 'the same worker applied the reload');

# --- regen_queue.http_timeout applies to later calls -----------------------------------------

register_http($node, 'r_timeout', endpoint => gs_url($second, '/t', latency_ms => 2000));
my $slow_ok = enqueue($node, 'r_timeout', max_attempts => 1);
ok(wait_jobs($node, [$slow_ok], undef, 60), 'a 2 s call with the default 30 s timeout finishes');
is(job_row($node, $slow_ok)->{status}, 'completed', 'it completes');

set_system($node, http_timeout => '1s');
my $cut = enqueue($node, 'r_timeout', max_attempts => 1);
ok(wait_jobs($node, [$cut], undef, 60), 'a 2 s call after http_timeout = 1s finishes');
$row = job_row($node, $cut);
is($row->{status}, 'failed', 'it fails (max_attempts 1)');
like($row->{last_error}, qr/^timed out after (0\.9\d\d|1\.\d{3}) s$/, 'timed out after about 1 s');

set_system($node, http_timeout => '10s');
my $again = enqueue($node, 'r_timeout', max_attempts => 1);
ok(wait_jobs($node, [$again], undef, 60), 'a 2 s call after http_timeout = 10s finishes');
is(job_row($node, $again)->{status}, 'completed', 'it completes again');

# A handler's own timeout wins over the setting.
register_http($node, 'r_own_timeout', endpoint => gs_url($second, '/o', latency_ms => 2000),
	timeout => '500 ms');
my $own = enqueue($node, 'r_own_timeout', max_attempts => 1);
ok(wait_jobs($node, [$own], undef, 60), "a call with the handler's own 500 ms timeout finishes");
like(job_row($node, $own)->{last_error} // '', qr/^timed out after 0\.\d{3} s$/,
	"the handler's timeout wins over http_timeout = 10s");

# --- regen_queue.enabled = off ---------------------------------------------------------------

register_http($node, 'r_enabled', endpoint => gs_url($third, '/e', latency_ms => 3000),
	max_concurrency => 3);
my @enabled = enqueue_many($node, 'r_enabled', 6);
ok(poll_until(sub { gs_stats($third)->{in_flight} == 3 }, 30, '3 calls in flight'),
	'three 3 s calls are in flight (max_concurrency 3), three jobs wait');
my %started = %{ gs_stats($third)->{jobs} };
my @not_started = grep { !exists $started{$_} } @enabled;
is(scalar(@not_started), 3, 'three jobs have not been called');
set_system($node, enabled => 'off');
ok(wait_jobs($node, [ keys %started ], "status = 'completed'", 30),
	'with enabled = off the calls in flight still complete');
ok( sql_until($node,
		"SELECT count(*) FROM regen_queue.job_queue WHERE "
		  . in_list(@not_started)
		  . " AND status = 'pending' AND attempts = 0",
		'3', 10),
	'the jobs not yet called are pending, their attempt given back');
sleep 2;
is(gs_stats($third)->{calls}, 3, 'and no new call started');
is(jobs_where($node, in_list(@not_started) . " AND status = 'pending'"), 3, 'they still wait');

set_system($node, enabled => 'on');
ok(wait_jobs($node, \@not_started, "status = 'completed' AND attempts = 1", 60),
	'enabled = on again: they complete in their first attempt');
is(gs_stats($third)->{calls}, 6, 'the service got each job once');

gs_stop($_) for ($first, $second, $third);
$node->stop;
done_testing();
