# A hostile client and a careful operator against the shim: request framing (duplicate
# Content-Length, Content-Length with chunked, NUL in a header, no Host), percent-encoded paths,
# odd methods, Expect: 100-continue, tokens that are not UTF-8 or have look-alike characters,
# bodies that are deep, huge or not UTF-8, errors libmicrohttpd answers itself, metrics that a
# client cannot grow, the token in PostgreSQL's statement log, SIGHUP, SIGTERM while a drain
# outlasts --shutdown-timeout, and the extension moved to another schema while the shim runs.
#
# Several of these pin problems found by trying (the report of branch t-break lists them); they
# fail until the shim or the extension is fixed.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IO::Select;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ShimTest;
use Test::More;
use Time::HiRes qw(usleep time);

my $node = shim_node('hostile', undef, port => 5496);
my $token = 'tok-' . $node->safe_psql('postgres', "SELECT md5(random()::text)");
set_system($node, worker_token => $token);

my $shim = shim_start($node, 18300);
my $drain_path = '/api/internal/jobs/regeneration/process';
my $host = 'Host: 127.0.0.1';
my $close = "$host\r\nConnection: close";    # for requests whose framing is not the point
my $auth = "Authorization: Bearer $token";

sub enqueue_path { return '/api/v1/plans/' . new_plan_id($node) . '/regenerate' }

# Send $bytes on a new connection and read until the shim closes it or $timeout_s passes;
# returns what came back and whether the connection was closed.
sub exchange
{
	my ($target, $bytes, $timeout_s) = @_;
	my $socket = raw_connect($target);
	syswrite($socket, $bytes);
	my $select = IO::Select->new($socket);
	my ($got, $closed) = ('', 0);
	my $deadline = time() + $timeout_s;

	while (time() < $deadline)
	{
		next unless $select->can_read(0.05);
		my $read = sysread($socket, $got, 65536, length $got);
		if (!$read)
		{
			$closed = 1;
			last;
		}
	}
	close $socket;
	return ($got, $closed);
}

# That $needle is nowhere in $text; the lines holding it are shown when it is.
sub absent
{
	my ($text, $needle, $name) = @_;
	my @lines = grep { index($_, $needle) >= 0 } split /\n/, $text;
	ok(!@lines, $name) or diag join("\n", @lines[ 0 .. ($#lines < 5 ? $#lines : 5) ]);
	return;
}

sub first_status { return $_[0] =~ m{^HTTP/1\.\d (\d{3}) } ? $1 : 0 }
sub answer_count { my @all = $_[0] =~ m{HTTP/1\.\d \d{3} }g; return scalar @all }

# --- the start -----------------------------------------------------------------------------------

# libmicrohttpd complains when MHD_OPTION_EXTERNAL_LOGGER is not its first option, and says that
# some of its messages may then go to its own logger, not to the shim's log format.
unlike(shim_log($shim), qr/EXTERNAL_LOGGER is not the first option/,
	'start: libmicrohttpd does not warn that its messages may bypass the shim\'s logger');

# --- framing -------------------------------------------------------------------------------------

# Two different Content-Lengths: which one frames the body depends on who reads it (a proxy in
# front may take the other), so the request must be refused (RFC 9112, 6.3).
my ($got) = exchange($shim,
	"POST $drain_path HTTP/1.1\r\n$host\r\n$auth\r\nContent-Length: 2\r\n"
	  . "Content-Length: 40\r\n\r\n{}",
	3);
is(first_status($got), 400, 'framing: two different Content-Lengths are refused with 400');

# Content-Length and chunked together: the connection must not carry another request after the
# answer (RFC 9112, 6.1: "MUST close the connection after responding").
my $closed;
($got, $closed) = exchange($shim,
	"POST $drain_path HTTP/1.1\r\n$host\r\n$auth\r\nContent-Length: 2\r\n"
	  . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\n$host\r\n\r\n",
	3);
ok(answer_count($got) <= 1 && $closed,
	'framing: after Content-Length with chunked the smuggled second request is not answered')
  or diag "answers: " . answer_count($got) . ", closed: $closed";

# A NUL in a header value ends the value where libmicrohttpd 0.9.75's C strings end (it does
# not refuse them, as RFC 9110, 5.5 would have it; the README says so). What matters is that
# nothing after a NUL is ever taken for the token: a wrong token before it is refused.
($got) = exchange($shim,
	"POST $drain_path HTTP/1.1\r\n$close\r\nAuthorization: Bearer wrong-one\0$token\r\n\r\n", 3);
is(first_status($got), 401, 'framing: what follows a NUL in a header is never the token');

# HTTP/1.1 without Host (RFC 9112, 3.2: "MUST respond with a 400").
($got) = exchange($shim, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", 3);
is(first_status($got), 400, 'framing: an HTTP/1.1 request without Host is refused with 400');

# Pipelined requests on one connection are answered in order.
($got) = exchange($shim,
	"GET /healthz HTTP/1.1\r\n$host\r\n\r\nGET /metrics HTTP/1.1\r\n$host\r\n\r\n"
	  . "GET /nowhere HTTP/1.1\r\n$host\r\n\r\n",
	3);
is_deeply([ $got =~ m{HTTP/1\.1 (\d{3}) }g ], [ 200, 200, 404 ],
	'framing: three pipelined requests, three answers in order');

# --- paths ---------------------------------------------------------------------------------------

# libmicrohttpd decodes %2F into "/" before the route is matched, so a path that a proxy in front
# sees as one segment (and would not match a rule for /api/internal/) reaches the drain.
($got) = exchange($shim,
	"POST /api%2Finternal%2Fjobs%2Fregeneration%2Fprocess HTTP/1.1\r\n$close\r\n$auth\r\n\r\n", 3);
is(first_status($got), 404, 'paths: an encoded slash is not a path separator (404)');

($got) = exchange($shim, "GET /healthz%00anything HTTP/1.1\r\n$close\r\n\r\n", 3);
is(first_status($got), 404, 'paths: %00 does not cut the path short (404)');

# What behaves: dot segments, a trailing slash, a doubled slash, an absolute URI, %2e%2e as id
# (sent raw: curl would resolve the dot segments itself).
for my $path ('/api/internal/jobs/x/../regeneration/process', "$drain_path/", "/$drain_path",
	"http://127.0.0.1$drain_path")
{
	($got) = exchange($shim, "POST $path HTTP/1.1\r\n$close\r\n$auth\r\n\r\n", 3);
	is(first_status($got), 404, "paths: POST $path is 404");
}
my $dots = http($shim, 'POST', '/api/v1/plans/%2e%2e/regenerate', headers => [$auth]);
is($dots->{status}, 400, 'paths: %2e%2e as the plan id is 400');
is($dots->{json} && $dots->{json}{error}, 'invalid_plan_id', 'paths: ... invalid_plan_id');

# --- methods -------------------------------------------------------------------------------------

for my $method (qw(post HEAD OPTIONS PUT))
{
	($got) = exchange($shim, "$method $drain_path HTTP/1.1\r\n$close\r\n$auth\r\n\r\n", 3);
	is(first_status($got), 405, "methods: $method on the drain route is 405");
	like($got, qr/^Allow: POST\r$/m, "methods: $method ... with Allow: POST");
}
is(job_count($node), '0', 'methods: nothing was queued or run by them');

# --- Expect: 100-continue ---------------------------------------------------------------------

($got, $closed) = exchange($shim,
	"POST $drain_path HTTP/1.1\r\n$host\r\n$auth\r\nContent-Length: 100000000\r\n"
	  . "Expect: 100-continue\r\n\r\n",
	3);
is(first_status($got), 413, 'expect: 100-continue with a huge length is 413 at once');
unlike($got, qr/100 Continue/, 'expect: ... without a 100 Continue first');
ok($closed, 'expect: ... and the connection is closed');

# --- tokens --------------------------------------------------------------------------------------

# A token that is not UTF-8 is a wrong token: 401, not a 500 from PostgreSQL's encoding check
# of the parameter (which also lets any client raise the shim's 500 count at will).
for my $case ([ 'Bearer', "Authorization: Bearer $token\xff" ],
	[ 'custom header', "x-regeneration-worker-token: \xc3\x28$token" ])
{
	my ($name, $header) = @$case;
	($got) = exchange($shim, "POST $drain_path HTTP/1.1\r\n$close\r\n$header\r\n\r\n", 3);
	is(first_status($got), 401, "tokens: invalid UTF-8 in the $name token is 401");
}

# Look-alikes are wrong tokens; blanks around it are trimmed.
for my $case (
	[ 'a no-break space after it', "Bearer $token\xc2\xa0", 401 ],
	[ 'a fullwidth letter in it', "Bearer \xef\xbd\x94" . substr($token, 1), 401 ],
	[ 'a vertical tab after it', "Bearer $token\x0b", 401 ],
	[ 'tabs and spaces around it', "Bearer \t $token \t", 200 ])
{
	my ($name, $value, $status) = @$case;
	($got) = exchange($shim, "POST $drain_path HTTP/1.1\r\n$close\r\nAuthorization:$value\r\n\r\n", 3);
	is(first_status($got), $status, "tokens: $name: $status");
}

# --- bodies --------------------------------------------------------------------------------------

my @bodies = (
	# Too deep for the server's stack (54001) to read as JSON at all.
	[ 'a 32,000-deep array', '[' x 32000 . ']' x 32000, 'invalid_json' ],
	[ '64 KiB of {', '{' x 65536, 'invalid_json' ],
	[ 'invalid UTF-8', qq({"overrides":{"topic":"ab\xffcd"}}), 'invalid_json' ],
	[ 'a lone surrogate escape', '{"overrides":{"topic":"ab\\ud800cd"}}', 'invalid_json' ],
	[ 'a byte-order mark', "\xef\xbb\xbf{}", 'invalid_json' ],
	[ 'trailing garbage', '{"overrides":{}} x', 'invalid_json' ]);
for my $case (@bodies)
{
	my ($name, $body, $code) = @$case;
	my $r = http($shim, 'POST', enqueue_path(), headers => [$auth], body => $body);
	is($r->{status}, 400, "bodies: $name is 400");
	is($r->{json} && $r->{json}{error}, $code, "bodies: $name is $code");
}
is(job_count($node), '0', 'bodies: none was queued');

# The field a 400 names is the key of the body, also when the key holds a double quote.
my $quoted = http($shim, 'POST', enqueue_path(), headers => [$auth], body => '{"a\"b": 1}');
is($quoted->{status}, 400, 'bodies: an unknown key with a double quote is 400');
is($quoted->{json} && $quoted->{json}{field}, 'a"b', 'bodies: ... and its field is that key')
  or diag $quoted->{body};

my $bad_user = exchange_user("\xff\xfe");
is($bad_user, 400, 'bodies: an x-user-id that is not UTF-8 is 400');

sub exchange_user
{
	my ($value) = @_;
	my ($answer) = exchange($shim,
		'POST ' . enqueue_path() . " HTTP/1.1\r\n$close\r\n$auth\r\nx-user-id: $value\r\n\r\n", 3);
	return first_status($answer);
}

# --- libmicrohttpd's own refusals ----------------------------------------------------------------

# A header block over the connection's memory is refused by libmicrohttpd itself, before the
# shim sees the request (the README lists these answers, which are its own HTML): the
# connection is closed, nothing is drained, and the shim goes on serving.
my $drained_before = job_count($node, "status = 'completed'");
my $refused_closed;
($got, $refused_closed) = exchange($shim,
	"POST $drain_path HTTP/1.1\r\n$host\r\n$auth\r\nX-Long: " . ('a' x 40000) . "\r\n\r\n", 3);
is(first_status($got), 431, 'refusals: a 40 KB header line is 431');
ok($refused_closed, 'refusals: ... and its connection is closed');
is(job_count($node, "status = 'completed'"), $drained_before, 'refusals: ... nothing was drained');
is(http($shim, 'GET', '/healthz')->{status}, 200, 'refusals: ... and the shim serves on');

# --- metrics cannot be grown by clients ----------------------------------------------------------

my $before = http($shim, 'GET', '/metrics');
for my $i (1 .. 60)
{
	exchange($shim, "GET /random/$i/" . ('x' x $i) . " HTTP/1.1\r\n$host\r\nConnection: close\r\n\r\n", 2);
	exchange($shim, "M$i $drain_path HTTP/1.1\r\n$host\r\nConnection: close\r\n\r\n", 2);
}
my $after = http($shim, 'GET', '/metrics');
my @lines_before = grep { !/^#/ } split /\n/, $before->{body};
my @lines_after = grep { !/^#/ } split /\n/, $after->{body};
is(scalar @lines_after, scalar @lines_before,
	'metrics: 120 requests with distinct paths and methods add no series');
is(metric_value($after->{body}, 'regen_http_requests_total{route="unknown",status="404"}'),
	metric_value($before->{body}, 'regen_http_requests_total{route="unknown",status="404"}') + 60,
	'metrics: ... and are counted under route="unknown"');
unlike($after->{body}, qr{/random/}, 'metrics: ... no path shows');

# --- the token in PostgreSQL's log ---------------------------------------------------------------

# Superuser statements that must not be logged themselves.
sub quietly
{
	my ($sql) = @_;
	return $node->safe_psql('postgres',
		"SET log_statement = 'none'; SET log_min_duration_statement = -1;\n$sql");
}

# log_min_duration_statement = 0 is a common setting (every statement with its duration). It
# logs the parameters of every statement, the shim's token check included.
quietly("ALTER SYSTEM SET log_min_duration_statement = 0; SELECT pg_reload_conf();");
my $deadline = time() + 30;
usleep(100_000) while quietly('SHOW log_min_duration_statement') ne '0' && time() < $deadline;

my $wrong = 'guess-' . $node->safe_psql('postgres', "SELECT md5(random()::text)");
my $refused = http($shim, 'POST', $drain_path, headers => ["Authorization: Bearer $wrong"]);
is($refused->{status}, 401, 'log: a wrong token presented with durations logged: 401');

# A token of fewer than 8 characters is masked only where the setting is named.
my $short = 'k' . substr($node->safe_psql('postgres', "SELECT md5(random()::text)"), 0, 6);
quietly("ALTER SYSTEM SET regen_queue.worker_token = '$short'; SELECT pg_reload_conf();");
my ($short_ok) = http_until($shim, 'POST', $drain_path, sub { $_[0]{status} == 200 }, 30,
	headers => ["Authorization: Bearer $short"]);
is($short_ok->{status}, 200, 'log: a 7-character token works');

# The README's way to rotate the token (its Operations table), run as written.
my $rotated = 'rot-' . $node->safe_psql('postgres', "SELECT md5(random()::text)");
$node->safe_psql('postgres',
	"SET log_statement = 'none'; SET log_min_duration_statement = -1; "
	  . "SET log_min_error_statement = 'panic'; "
	  . "ALTER SYSTEM SET regen_queue.worker_token = '$rotated'; SELECT pg_reload_conf();");
my ($rotated_ok) = http_until($shim, 'POST', $drain_path, sub { $_[0]{status} == 200 }, 30,
	headers => ["Authorization: Bearer $rotated"]);
is($rotated_ok->{status}, 200, 'log: the rotated token works');
$token = $rotated;
$auth = "Authorization: Bearer $token";

quietly("ALTER SYSTEM RESET log_min_duration_statement; SELECT pg_reload_conf();");
my $server_log = slurp_log($node->logfile);
like($server_log, qr/duration: .*check_token/, 'log: the token checks were logged with durations');
absent($server_log, $wrong, 'log: a presented wrong token is not in the server log');
absent($server_log, $short, 'log: a short token is not in the server log');
absent($server_log, $rotated, 'log: a token rotated the README\'s way is not in the server log');

# --- SIGHUP ---------------------------------------------------------------------------------------

# Operators and tools (logrotate, systemctl reload) send SIGHUP to daemons; the shim must not die
# of it without a word, dropping whatever it was answering.
{
	my $hup = shim_start($node, 18301);
	kill('HUP', $hup->{pid});
	my $status = shim_wait($hup, 2);
	ok(!defined $status, 'SIGHUP: the shim is still running')
	  or diag 'wait status ' . ($status // 'none') . "\n" . shim_log($hup);
	if (!defined $status)
	{
		my $r = http($hup, 'GET', '/healthz');
		is($r->{status}, 200, 'SIGHUP: ... and answers');
	}
	shim_stop($hup, 'TERM', 30);
}

# --- SIGTERM while a drain outlasts --shutdown-timeout --------------------------------------------

{
	my $grace_s = 1;
	my $term = shim_start($node, 18302, '--shutdown-timeout', $grace_s);
	my $slow = http($term, 'POST', enqueue_path(), headers => [$auth],
		body => '{"overrides":{"topic":"sleep 20"}}');
	is($slow->{status}, 202, 'SIGTERM: a job that takes 20 s queued');

	my $client = raw_connect($term);
	print $client "POST $drain_path HTTP/1.1\r\n$host\r\n$auth\r\n\r\n";
	my $until = time() + 30;
	usleep(50_000) while job_count($node, "status = 'processing'") ne '1' && time() < $until;
	is(job_count($node, "status = 'processing'"), '1', 'SIGTERM: the drain is running it');

	kill('TERM', $term->{pid});
	my $signalled = time();
	my $status = shim_wait($term, $grace_s + 6);
	ok(defined $status, "SIGTERM: the shim exits within --shutdown-timeout ($grace_s s) and some")
	  or diag sprintf('still running %.1f s after SIGTERM', time() - $signalled);
	$status = shim_wait($term, 40) unless defined $status;
	is($status, 0, 'SIGTERM: ... with status 0');
	close $client;

	# The drain goes on in its database worker; let it end before the extension is dropped.
	$until = time() + 40;
	usleep(200_000) while job_count($node, "status = 'processing'") ne '0' && time() < $until;
	is(job_count($node, "status = 'completed'"), '1', 'SIGTERM: the job completed all the same');
}

# --- the extension moved to another schema while the shim runs -----------------------------------

is(http($shim, 'POST', $drain_path, headers => [$auth])->{status}, 200,
	'schema: a drain before the move');
$node->safe_psql(
	'postgres', q{
DROP EXTENSION regen_queue CASCADE;
CREATE SCHEMA q;
CREATE EXTENSION regen_queue SCHEMA q;
CREATE FUNCTION public.h(j regen_queue.job_queue) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('ok', true) $$;
SELECT q.regen_register_handler('plan_regeneration', 'public.h(regen_queue.job_queue)');
GRANT USAGE ON SCHEMA q, regen_queue TO shim;
GRANT EXECUTE ON FUNCTION q.regen_enqueue(uuid, jsonb, uuid, integer, timestamptz, integer, text),
    q.regen_drain(integer), q.regen_stats(), regen_queue.http_check_token(bytea),
    regen_queue.http_request_overrides(text) TO shim;
GRANT SELECT ON regen_queue.job_queue, regen_queue.handler TO shim;
GRANT UPDATE (status, attempts, result, last_error, scheduled_for, started_at, completed_at,
              updated_at, lease_owner, lease_expires_at, lease_drain, lease_size, run_alone)
    ON regen_queue.job_queue TO shim;
});
my ($moved, @seen) = http_until($shim, 'POST', $drain_path, sub { $_[0]{status} == 200 }, 10,
	headers => [$auth]);
is($moved->{status}, 200, 'schema: drains work again once the extension is back in schema q')
  or diag "statuses seen: @seen";
my $fresh = shim_start($node, 18303);
is(http($fresh, 'POST', $drain_path, headers => [$auth])->{status}, 200,
	'schema: (a shim started now drains: the grants are right)');
shim_stop($fresh);

# --- a token no client can present ---------------------------------------------------------------

# The shim refuses a presented token with a blank in it (and trims blanks around it), so a
# configured token with one can never match: setting it should fail, not lock every client out.
my ($ret) = $node->psql('postgres',
	"SET log_statement = 'none'; ALTER SYSTEM SET regen_queue.worker_token = 'two words'");
isnt($ret, 0, 'token: a worker_token with a space in it is refused when set');

is(shim_stop($shim), 0, 'the shim exits 0 on SIGTERM');
absent(shim_log($shim), $_, 'the shim\'s log shows no token') for ($wrong, $short, $rotated);
$node->stop;

done_testing();
