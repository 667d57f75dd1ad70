# The worker token on both POST routes: the accepted ways to present it, every refused one
# (401), no token configured (development: open, but malformed headers still 401; production:
# 503 worker_token_not_configured, never 500), the runbook's curl command, and the token kept
# out of the shim's log and the server log.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ShimTest;
use Test::More;

my $node = shim_node('auth');
my $token = 'tok-' . $node->safe_psql('postgres', "SELECT md5(random()::text)");
my $wrong = 'guess-' . $node->safe_psql('postgres', "SELECT md5(random()::text)");
set_system($node, worker_token => $token);

my $shim = shim_start($node, 18110);
my $drain_path = '/api/internal/jobs/regeneration/process';
my $last_plan;

sub enqueue_path
{
	$last_plan = new_plan_id($node);
	return "/api/v1/plans/$last_plan/regenerate";
}

# One request on each route with @headers: the enqueue expects 202 (and its row) or the
# refusal, the drain 200 with counts or the same refusal, and a refused enqueue queues nothing.
sub both_routes
{
	my ($name, $status, $code, @headers) = @_;

	my $before = job_count($node);
	my $r = http($shim, 'POST', enqueue_path(), headers => \@headers);
	is($r->{status}, $status // 202, "enqueue, $name: " . ($status // 202));
	if (defined $status)
	{
		is_deeply($r->{json}, { ok => JSON::PP::false, error => $code },
			"enqueue, $name: $code") or diag $r->{body};
		is(job_count($node), $before, "enqueue, $name: no job queued");
	}
	else
	{
		ok($r->{json}{ok} && is_uuid($r->{json}{jobId}), "enqueue, $name: ok and a jobId")
		  or diag $r->{body};
		is(job_count($node, "plan_id = '$last_plan' AND status = 'pending'"),
			'1', "enqueue, $name: the job is queued");
	}

	my $pending = job_count($node, "status = 'pending'");
	my $d = http($shim, 'POST', $drain_path, headers => \@headers);
	is($d->{status}, $status // 200, "drain, $name: " . ($status // 200));
	if (defined $status)
	{
		is_deeply($d->{json}, { ok => JSON::PP::false, error => $code }, "drain, $name: $code")
		  or diag $d->{body};
		is(job_count($node, "status = 'pending'"), $pending, "drain, $name: nothing ran");
	}
	else
	{
		is_deeply(
			$d->{json},
			{
				ok => JSON::PP::true,
				processedCount => 0 + $pending,
				completedCount => 0 + $pending,
				failedCount => 0
			},
			"drain, $name: the counts") or diag $d->{body};
		is(job_count($node, "status = 'pending'"), '0', "drain, $name: nothing left pending");
	}
	return ($r, $d);
}

# --- a token configured: accepted ---------------------------------------------------------------

both_routes('Bearer', undef, undef, "Authorization: Bearer $token");
both_routes('bearer', undef, undef, "Authorization: bearer $token");
both_routes('BEARER', undef, undef, "Authorization: BEARER $token");
both_routes('bEaReR', undef, undef, "Authorization: bEaReR $token");
both_routes('spaces around', undef, undef, "Authorization:    Bearer    $token    ");
both_routes('tabs around', undef, undef, "Authorization:\tBearer\t$token\t");
both_routes('x-regeneration-worker-token', undef, undef, "x-regeneration-worker-token: $token");
both_routes('X-Regeneration-Worker-Token with spaces', undef, undef,
	"X-Regeneration-Worker-Token:   $token  ");
both_routes('authorization header name in capitals', undef, undef,
	"AUTHORIZATION: Bearer $token");

# The runbook's command, as written there, through a shell.
{
	my ($out, $err) = ('', '');
	my $before_pending = job_count($node, "status = 'pending'");
	http($shim, 'POST', enqueue_path(), headers => ["Authorization: Bearer $token"]);
	local $ENV{REGENERATION_WORKER_TOKEN} = $token;
	local $ENV{APP} = $shim->{url};
	# Nothing but the shim is asked: no proxy, whatever the environment says.
	local $ENV{no_proxy} = '*';
	local @ENV{qw(http_proxy HTTP_PROXY all_proxy ALL_PROXY)};
	delete @ENV{qw(http_proxy HTTP_PROXY all_proxy ALL_PROXY)};
	IPC::Run::run(
		[
			'bash', '-c',
			'curl -X POST "$APP/api/internal/jobs/regeneration/process" \\' . "\n"
			  . '  -H "Authorization: Bearer ${REGENERATION_WORKER_TOKEN}"'
		],
		'<', \undef, '>', \$out, '2>', \$err);
	is($? >> 8, 0, 'the runbook\'s curl command: curl exits 0');
	my $answer = eval { JSON::PP->new->decode($out) };
	is_deeply(
		$answer,
		{ ok => JSON::PP::true, processedCount => 1, completedCount => 1, failedCount => 0 },
		'the runbook\'s curl command: the drain\'s counts') or diag "$out\n$err";
	is(job_count($node, "status = 'pending'"), $before_pending,
		'the runbook\'s curl command: the job it queued ran');
}

# --- a token configured: refused ----------------------------------------------------------------

my $unauthorized = 'unauthorized';
both_routes('both headers', 401, $unauthorized,
	"Authorization: Bearer $token", "x-regeneration-worker-token: $token");
both_routes('Authorization twice', 401, $unauthorized,
	"Authorization: Bearer $token", "Authorization: Bearer $token");
both_routes('x-regeneration-worker-token twice', 401, $unauthorized,
	"x-regeneration-worker-token: $token", "x-regeneration-worker-token: $token");
both_routes('empty x-regeneration-worker-token', 401, $unauthorized,
	'x-regeneration-worker-token;');
both_routes('Bearer with no token', 401, $unauthorized, 'Authorization: Bearer');
both_routes('empty Authorization', 401, $unauthorized, 'Authorization;');
both_routes('a wrong token', 401, $unauthorized, "Authorization: Bearer $wrong");
both_routes('a wrong custom token', 401, $unauthorized, "x-regeneration-worker-token: $wrong");
both_routes('the token cut short', 401, $unauthorized,
	'Authorization: Bearer ' . substr($token, 0, -1));
both_routes('the token and more', 401, $unauthorized, "Authorization: Bearer ${token}x");
both_routes('the token in upper case', 401, $unauthorized, 'Authorization: Bearer ' . uc $token);
both_routes('two words after Bearer', 401, $unauthorized,
	"Authorization: Bearer $token $token");
both_routes('Basic scheme', 401, $unauthorized, "Authorization: Basic $token");
both_routes('no scheme', 401, $unauthorized, "Authorization: $token");
both_routes('Bearer glued to the token', 401, $unauthorized, "Authorization: Bearer$token");
both_routes('no header', 401, $unauthorized);

# The order of the checks: path, method, length, then the token, then the request itself.
{
	my $before = job_count($node);
	my $r = http($shim, 'POST', '/api/v1/plans/not-a-uuid/regenerate');
	is($r->{status}, 401, 'a bad plan id without the token: 401 (the token comes first)');
	$r = http($shim, 'POST', '/api/v1/plans/not-a-uuid/regenerate',
		headers => ["Authorization: Bearer $token"]);
	is($r->{status}, 400, 'a bad plan id with the token: 400');
	is($r->{json}{error}, 'invalid_plan_id', 'a bad plan id with the token: invalid_plan_id');
	$r = http($shim, 'POST', enqueue_path(), body => '{"overrides":',
		headers => ["Authorization: Bearer $wrong"]);
	is($r->{status}, 401, 'bad JSON with a wrong token: 401');
	$r = http($shim, 'POST', enqueue_path(), body => ' ' x 70000);
	is($r->{status}, 413, 'a body over --max-body without the token: 413 (length first)');
	$r = http($shim, 'POST', '/nope');
	is($r->{status}, 404, 'an unknown path without the token: 404');
	$r = http($shim, 'GET', $drain_path);
	is($r->{status}, 405, 'GET on the drain without the token: 405');
	is(http($shim, 'GET', '/healthz')->{status}, 200, '/healthz needs no token');
	is(http($shim, 'GET', '/metrics')->{status}, 200, '/metrics needs no token');
	is(job_count($node), $before, 'none of these queued a job');
}

# curl sent the duplicated headers as asked (else the 401s above would prove nothing).
{
	my $r = http($shim, 'POST', $drain_path,
		headers => [ "x-regeneration-worker-token: $wrong", "x-regeneration-worker-token: $wrong" ]);
	is(scalar(grep { /^x-regeneration-worker-token: /i } @{ $r->{sent} }),
		2, 'curl sends a header given twice twice');
	$r = http($shim, 'POST', $drain_path, headers => ['x-regeneration-worker-token;']);
	ok(scalar(grep { /^x-regeneration-worker-token:\s*$/i } @{ $r->{sent} }),
		'curl sends an empty header for "name;"');
}

# --- no token configured, development -------------------------------------------------------------

set_system($node, worker_token => undef);
both_routes('no token configured, no header', undef, undef);
both_routes('no token configured, any Bearer token', undef, undef, "Authorization: Bearer $wrong");
both_routes('no token configured, both headers', 401, $unauthorized,
	"Authorization: Bearer $wrong", "x-regeneration-worker-token: $wrong");
both_routes('no token configured, Authorization twice', 401, $unauthorized,
	"Authorization: Bearer $wrong", "Authorization: Bearer $wrong");
both_routes('no token configured, custom header twice', 401, $unauthorized,
	"x-regeneration-worker-token: $wrong", "x-regeneration-worker-token: $wrong");
both_routes('no token configured, empty custom header', 401, $unauthorized,
	'x-regeneration-worker-token;');
both_routes('no token configured, Basic scheme', 401, $unauthorized,
	"Authorization: Basic $wrong");

# --- no token configured, production ----------------------------------------------------------

set_system($node, environment => 'production');
both_routes('production without a token, no header',
	503, 'worker_token_not_configured');
both_routes('production without a token, a Bearer token',
	503, 'worker_token_not_configured', "Authorization: Bearer $wrong");
both_routes('production without a token, custom header',
	503, 'worker_token_not_configured', "x-regeneration-worker-token: $wrong");

set_system($node, enabled => 'off');
both_routes('production without a token, queue disabled',
	503, 'worker_token_not_configured');
set_system($node, enabled => undef);

set_system($node, worker_token => $token);
both_routes('production with the token', undef, undef, "Authorization: Bearer $token");
both_routes('production, a wrong token', 401, $unauthorized, "Authorization: Bearer $wrong");
both_routes('production, no header', 401, $unauthorized);
set_system($node, enabled => 'off');
both_routes('queue disabled, a wrong token', 401, $unauthorized, "Authorization: Bearer $wrong");
both_routes('queue disabled, the token', 503, 'queue_disabled', "Authorization: Bearer $token");
set_system($node, enabled => undef);
set_system($node, environment => undef);

# --- the token in the logs ----------------------------------------------------------------------

my $metrics = http($shim, 'GET', '/metrics');
unlike($metrics->{body}, qr/\Q$token\E/, '/metrics never shows the token');
is(metric_value($metrics->{body},
		'regen_http_requests_total{route="/api/internal/jobs/regeneration/process",status="500"}'),
	undef, 'no drain was answered 500');
is(metric_value($metrics->{body},
		'regen_http_requests_total{route="/api/v1/plans/:planId/regenerate",status="500"}'),
	undef, 'no enqueue was answered 500');

is(shim_stop($shim), 0, 'the shim exits 0 on SIGTERM');
my $shim_log = shim_log($shim);
like($shim_log, qr{ POST /api/internal/jobs/regeneration/process 401 }, 'the shim logged the 401s');
unlike($shim_log, qr/\Q$token\E/, 'the shim\'s log never shows the token');
unlike($shim_log, qr/\Q$wrong\E/, 'the shim\'s log never shows a presented token');

$node->stop;
my $server_log = slurp_log($node->logfile);
# Only the production server without a token (an operator's matter) is logged as an error.
unlike($server_log, qr/ERROR:(?!\s+regen_queue\.worker_token is not set).*token/,
	'refused checks write nothing to the server log (every client can cause them)');
like($server_log, qr/ERROR:\s+regen_queue\.worker_token is not set/,
	'a production server without a token is in the server log');
unlike($server_log, qr/\Q$token\E/, 'the server log never shows the token');
unlike($server_log, qr/\Q$wrong\E/, 'the server log never shows a presented token');

done_testing();
