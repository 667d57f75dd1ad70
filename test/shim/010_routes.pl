# The shim's routes with no token configured (environment development): enqueue and its
# errors, drain and its counts, 404, 405 with Allow, /healthz, /metrics, the queue switched off,
# and one log line per request.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ShimTest;
use Test::More;
use IO::Select;
use Time::HiRes qw(time);

my $node = shim_node('routes');
my $shim = shim_start($node, 18100);
my $enqueued_202 = 0;    # 202 answers of the enqueue route, for /metrics

sub enqueue_path { return "/api/v1/plans/$_[0]/regenerate" }

# POST an enqueue and check the 202 and the row it made; returns the answer.
sub enqueue_ok
{
	my ($name, $plan, %opt) = @_;
	my $payload = delete $opt{payload} // '{"overrides": {}}';
	my $user = delete $opt{user};
	my $r = http($shim, 'POST', enqueue_path($plan), %opt);

	is($r->{status}, 202, "$name: 202");
	$enqueued_202++ if $r->{status} == 202;
	my $j = $r->{json} // {};
	is_deeply(
		[ sort keys %$j ],
		[qw(jobId ok planId status)],
		"$name: the answer has ok, planId, jobId and status")
	  or diag $r->{body};
	ok($j->{ok} && JSON::PP::is_bool($j->{ok}), "$name: ok is true");
	is($j->{planId}, $plan, "$name: planId is the plan's");
	is($j->{status}, 'pending', "$name: status pending");
	ok(is_uuid($j->{jobId}), "$name: jobId is a uuid");
	is( $node->safe_psql(
			'postgres',
			"SELECT plan_id || '|' || status || '|' || payload::text || '|' || coalesce(user_id::text, '-')"
			  . " FROM regen_queue.job_queue WHERE id = '"
			  . ($j->{jobId} // '00000000-0000-0000-0000-000000000000') . "'"),
		"$plan|pending|$payload|" . ($user // '-'),
		"$name: the job row has the plan, status pending, the payload and the user id");
	return $r;
}

# POST something refused and check its answer, and that no job was queued by it.
sub refused
{
	my ($name, $method, $path, $status, $code, %opt) = @_;
	my $field = delete $opt{field};
	my $no_field = delete $opt{no_field};
	my $before = job_count($node);
	my $r = http($shim, $method, $path, %opt);

	is($r->{status}, $status, "$name: $status");
	is($r->{json}{error}, $code, "$name: error $code") or diag $r->{body};
	ok(defined $r->{json}{ok} && !$r->{json}{ok}, "$name: ok is false");
	is($r->{json}{field}, $field, "$name: field $field") if defined $field;
	ok(!exists $r->{json}{field}, "$name: no field (none of the request's is wrong)")
	  or diag $r->{body}
	  if $no_field;
	is(job_count($node), $before, "$name: no job was queued");
	return $r;
}

# --- enqueue: 202 ---------------------------------------------------------------------------

# curl -X POST with no data sends no body at all (no Content-Length).
my $plan = new_plan_id($node);
my $first = enqueue_ok('no body', $plan);
ok(!grep(/^content-length/i, @{ $first->{sent} }), 'no body: curl sent no Content-Length');

enqueue_ok('empty body', new_plan_id($node), body => '');
enqueue_ok('{}', new_plan_id($node), body => '{}');
enqueue_ok('{"overrides":{}}', new_plan_id($node), body => '{"overrides":{}}');
enqueue_ok('{"overrides":null}', new_plan_id($node), body => '{"overrides":null}');
enqueue_ok(
	'overrides normalised',
	new_plan_id($node),
	body => '{"overrides": {"topic": "  Rust basics  ", "weeklyHours": 5, "notes": "   "}}',
	payload => '{"overrides": {"notes": null, "topic": "Rust basics", "weeklyHours": 5}}');

my $user = $node->safe_psql('postgres', 'SELECT gen_random_uuid()');
enqueue_ok(
	'x-user-id',
	new_plan_id($node),
	headers => ["x-user-id: $user"],
	user => $user);

# --- enqueue: 409 -----------------------------------------------------------------------------

my $first_job = $first->{json}{jobId};
my $dup = refused('same plan again', 'POST', enqueue_path($plan), 409, 'already_queued');
is($dup->{json}{jobId}, $first_job, '409: jobId is the first job\'s id');
is($dup->{json}{status}, 'pending', '409: status of the existing job');
is(job_count($node, "plan_id = '$plan'"), '1', '409: the plan has one job');

# --- enqueue: 400 -----------------------------------------------------------------------------

refused('plan id not a uuid', 'POST', enqueue_path('not-a-uuid'), 400, 'invalid_plan_id',
	field => 'planId');
(my $no_dashes = new_plan_id($node)) =~ s/-//g;
refused('plan id without dashes', 'POST', enqueue_path($no_dashes), 400, 'invalid_plan_id',
	field => 'planId');
refused('x-user-id not a uuid', 'POST', enqueue_path(new_plan_id($node)),
	400, 'invalid_user_id', headers => ['x-user-id: nope'], field => 'x-user-id');
refused('malformed JSON', 'POST', enqueue_path(new_plan_id($node)),
	400, 'invalid_json', body => '{"overrides":', no_field => 1);
# PostgreSQL's message quotes the encoding's name ("UTF8"), which is no field of the request.
refused('invalid UTF-8 in the body', 'POST', enqueue_path(new_plan_id($node)),
	400, 'invalid_json', body => qq({"overrides":{"topic":"ab\xff\xfecd"}}), no_field => 1);
refused('a NUL byte in the body', 'POST', enqueue_path(new_plan_id($node)),
	400, 'invalid_json', body => qq({"overrides":{}}\0));
refused('a NUL byte inside a string', 'POST', enqueue_path(new_plan_id($node)),
	400, 'invalid_json', body => qq({"overrides":{"topic":"ab\0cd"}}));
refused('weeklyHours 100', 'POST', enqueue_path(new_plan_id($node)),
	400, 'invalid_overrides', body => '{"overrides":{"weeklyHours":100}}',
	field => 'weeklyHours');
refused('unknown override', 'POST', enqueue_path(new_plan_id($node)),
	400, 'invalid_overrides', body => '{"overrides":{"colour":"red"}}', field => 'colour');
refused('unknown top-level key', 'POST', enqueue_path(new_plan_id($node)),
	400, 'invalid_overrides', body => '{"overrides":{},"extra":1}', field => 'extra');
refused('overrides not an object', 'POST', enqueue_path(new_plan_id($node)),
	400, 'invalid_overrides', body => '{"overrides":[1]}', field => 'overrides');
my $array = refused('body not an object', 'POST', enqueue_path(new_plan_id($node)),
	400, 'invalid_overrides', body => '[{"overrides":{}}]');
like($array->{json}{message}, qr/JSON object/, 'body not an object: the message says so');

# --- drain ----------------------------------------------------------------------------------

my $bad = enqueue_ok('a job that fails', new_plan_id($node),
	body => '{"overrides":{"topic":"fail now"}}',
	payload => '{"overrides": {"topic": "fail now"}}');
my $pending = job_count($node, "status = 'pending'");
cmp_ok($pending, '>=', 5, 'several jobs are pending before the drain');

my $drain_path = '/api/internal/jobs/regeneration/process';
my $drained = http($shim, 'POST', $drain_path);
is($drained->{status}, 200, 'drain: 200');
is_deeply(
	$drained->{json},
	{
		ok => JSON::PP::true,
		processedCount => 0 + $pending,
		completedCount => $pending - 1,
		failedCount => 1
	},
	'drain: the counts of the jobs that were pending') or diag $drained->{body};
is( $node->safe_psql(
		'postgres',
		"SELECT status, count(*) FROM regen_queue.job_queue GROUP BY 1 ORDER BY 1"),
	"completed|" . ($pending - 1) . "\nfailed|1",
	'drain: the jobs are completed, the failing one failed');
is( $node->safe_psql('postgres',
		"SELECT status FROM regen_queue.job_queue WHERE id = '$bad->{json}{jobId}'"),
	'failed', 'drain: the job that fails is the failed one');

my $again = http($shim, 'POST', $drain_path, body => '');
is($again->{status}, 200, 'drain with an empty body: 200');
is_deeply(
	$again->{json},
	{ ok => JSON::PP::true, processedCount => 0, completedCount => 0, failedCount => 0 },
	'drain of an empty queue: zeros');

# max_jobs_per_drain = 0: the drain does nothing.
set_system($node, max_jobs_per_drain => '0');
enqueue_ok('while shedding, 1', new_plan_id($node));
enqueue_ok('while shedding, 2', new_plan_id($node));
my $shed = http($shim, 'POST', $drain_path);
is($shed->{status}, 200, 'drain with max_jobs_per_drain = 0: 200');
is_deeply(
	$shed->{json},
	{ ok => JSON::PP::true, processedCount => 0, completedCount => 0, failedCount => 0 },
	'drain with max_jobs_per_drain = 0: zeros');
is(job_count($node, "status = 'pending'"), '2', 'max_jobs_per_drain = 0: both jobs still pending');
set_system($node, max_jobs_per_drain => undef);

# --- 404 ------------------------------------------------------------------------------------

my $some = new_plan_id($node);
my $not_found = 1;    # the 404s answered, for /metrics: GET /nope below, and the loop's
for my $path ('/', '/nope', '/api/v1/plans', enqueue_path($some) . '/',
	enqueue_path($some) . '/extra', "/api/v1/plans/$some/x/regenerate",
	"$drain_path/", "$drain_path/extra", '/healthz/', '/metrics/x')
{
	my $before = job_count($node);
	my $r = http($shim, 'POST', $path, body => '{}');
	is($r->{status}, 404, "POST $path: 404");
	$not_found++;
	is_deeply($r->{json}, { ok => JSON::PP::false, error => 'not_found' },
		"POST $path: not_found") or diag $r->{body};
	is(job_count($node), $before, "POST $path: no job queued");
}
is(http($shim, 'GET', '/nope')->{status}, 404, 'GET /nope: 404');

# --- 405 ------------------------------------------------------------------------------------

for my $case (
	[ 'GET', enqueue_path($some), 'POST' ],
	[ 'PUT', enqueue_path($some), 'POST' ],
	[ 'GET', $drain_path, 'POST' ],
	[ 'DELETE', $drain_path, 'POST' ],
	[ 'POST', '/healthz', 'GET, HEAD' ],
	[ 'POST', '/metrics', 'GET, HEAD' ])
{
	my ($method, $path, $allow) = @$case;
	my $before = job_count($node);
	my $r = http($shim, $method, $path);
	is($r->{status}, 405, "$method $path: 405");
	is_deeply($r->{json}, { ok => JSON::PP::false, error => 'method_not_allowed' },
		"$method $path: method_not_allowed") or diag $r->{body};
	is_deeply($r->{headers}{allow}, [$allow], "$method $path: Allow: $allow");
	is(job_count($node), $before, "$method $path: no job queued");
}

# --- /healthz and /metrics ------------------------------------------------------------------

my $health = http($shim, 'GET', '/healthz');
is($health->{status}, 200, '/healthz: 200');
is_deeply($health->{json}, { ok => JSON::PP::true, database => 'up' },
	'/healthz: {"ok":true,"database":"up"}') or diag $health->{body};
my $head = http($shim, 'HEAD', '/healthz', head => 1);
is($head->{status}, 200, 'HEAD /healthz: 200');

# HEAD over a raw socket: the answer's header block and then nothing (curl would not read a
# body after a HEAD's headers even if one came).
sub raw_head
{
	my ($path) = @_;
	my $socket = raw_connect($shim);
	print $socket "HEAD $path HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
	my $bytes = '';
	my $deadline = time() + 10;
	my $select = IO::Select->new($socket);
	while (time() < $deadline)
	{
		next unless $select->can_read(0.1);
		my $read = sysread($socket, $bytes, 65536, length $bytes);
		last unless $read;
	}
	close $socket;
	$shim->{requests}++;
	return $bytes;
}
for my $path ('/healthz', '/metrics')
{
	my $bytes = raw_head($path);
	like($bytes, qr{^HTTP/1\.1 200 }, "raw HEAD $path: 200");
	like($bytes, qr{\r\n\r\n\z}, "raw HEAD $path: nothing after the header block");
}

my $metrics = http($shim, 'GET', '/metrics');
is($metrics->{status}, 200, '/metrics: 200');
like($metrics->{headers}{'content-type'}[0], qr{^text/plain}, '/metrics: text/plain');
is(metric_value($metrics->{body}, 'regen_queue_jobs{status="pending"}'),
	job_count($node, "status = 'pending'"),
	'/metrics: pending jobs as in the table');
is(metric_value($metrics->{body}, 'regen_queue_jobs{status="failed"}'),
	job_count($node, "status = 'failed'"),
	'/metrics: failed jobs as in the table');
is( metric_value(
		$metrics->{body},
		'regen_http_requests_total{route="/api/v1/plans/:planId/regenerate",status="202"}'),
	$enqueued_202,
	'/metrics: regen_http_requests_total counts every 202 of the enqueue route');
is( metric_value(
		$metrics->{body},
		'regen_http_requests_total{route="/api/internal/jobs/regeneration/process",status="200"}'),
	3, '/metrics: regen_http_requests_total counts the three drains');
is(metric_value($metrics->{body}, 'regen_http_requests_total{route="unknown",status="404"}'),
	$not_found, '/metrics: the 404s counted under route "unknown"');
is(metric_value($metrics->{body}, 'regen_http_requests_total{route="/healthz",status="405"}'),
	1, '/metrics: the 405 of /healthz counted');
is(metric_value($metrics->{body}, 'regen_http_drained_jobs_total{result="processed"}'),
	$drained->{json}{processedCount}, '/metrics: the jobs the drains processed');
is(metric_value($metrics->{body}, 'regen_http_drains_total{outcome="ok"}'),
	3, '/metrics: three drains ok');
is(http($shim, 'HEAD', '/metrics', head => 1)->{status}, 200, 'HEAD /metrics: 200');

# --- the queue switched off -----------------------------------------------------------------

set_system($node, enabled => 'off');
my $off = refused('enqueue while disabled', 'POST', enqueue_path(new_plan_id($node)),
	503, 'queue_disabled');
my $pending_now = job_count($node, "status = 'pending'");
my $off_drain = http($shim, 'POST', $drain_path);
is($off_drain->{status}, 503, 'drain while disabled: 503');
is($off_drain->{json}{error}, 'queue_disabled', 'drain while disabled: queue_disabled');
is(job_count($node, "status = 'pending'"), $pending_now, 'drain while disabled: nothing ran');
set_system($node, enabled => undef);
enqueue_ok('enabled again', new_plan_id($node));

# --- the log --------------------------------------------------------------------------------

is(shim_stop($shim), 0, 'the shim exits 0 on SIGTERM');
my $log = shim_log($shim);
like($log, qr{^\S+ POST /api/v1/plans/:planId/regenerate 202 [\d.]+ ms$}m,
	'log: a line for an enqueue, with route, status and time');
like($log, qr{^\S+ POST /nope 404 }m, 'log: an unknown path is logged as sent');
my @request_lines = $log =~ m{^\S+ (?:GET|POST|PUT|DELETE|HEAD) \S+ \d{3} [\d.]+ ms$}mg;
is(scalar(@request_lines), $shim->{requests}, 'log: one line per request');
$node->stop;
done_testing();
