# Limits: bodies over --max-body are answered 413 without being read, a body at the limit is
# taken; clients that send too slowly (or stay idle) are cut off after --request-timeout while
# others are served; a full pool answers 503 server_busy with Retry-After.
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
use Time::HiRes qw(time usleep);

my $node = shim_node('limits');
my $timeout_s = 3;
my $shim = shim_start($node, 18120, '--max-body', 4096, '--request-timeout', $timeout_s);
my $drain_path = '/api/internal/jobs/regeneration/process';

sub enqueue_path { return '/api/v1/plans/' . new_plan_id($node) . '/regenerate' }

# A valid body of exactly $size bytes (JSON padded with spaces).
sub body_of_size
{
	my ($size) = @_;
	my $json = '{"overrides":{"topic":"body size ' . $size . '"}}';
	return $json . (' ' x ($size - length $json));
}

# --- --max-body with curl ---------------------------------------------------------------------

{
	my $at_limit = body_of_size(4096);
	is(length $at_limit, 4096, 'the body at the limit is 4096 bytes');
	my $r = http($shim, 'POST', enqueue_path(), body => $at_limit);
	is($r->{status}, 202, 'a body of exactly --max-body bytes: 202');
	is($node->safe_psql('postgres',
			"SELECT payload->'overrides'->>'topic' FROM regen_queue.job_queue"
			  . " WHERE id = '$r->{json}{jobId}'"),
		'body size 4096', 'a body at the limit: its job has its overrides');

	my $before = job_count($node);
	$r = http($shim, 'POST', enqueue_path(), body => body_of_size(4097));
	is($r->{status}, 413, 'one byte over --max-body: 413');
	is_deeply($r->{json}, { ok => JSON::PP::false, error => 'payload_too_large' },
		'one byte over: payload_too_large') or diag $r->{body};
	is_deeply($r->{headers}{connection}, ['close'], 'one byte over: Connection: close');
	is(job_count($node), $before, 'one byte over: nothing queued');

	$r = http($shim, 'POST', $drain_path, body => body_of_size(5000));
	is($r->{status}, 413, 'drain with a body over --max-body: 413');

	# A chunked body has no Content-Length: the shim cannot answer before it has read past the
	# limit, and closes the connection instead.
	$r = http($shim, 'POST', enqueue_path(),
		body => body_of_size(10000), headers => ['Transfer-Encoding: chunked']);
	ok(scalar(grep { /^transfer-encoding: chunked/i } @{ $r->{sent} }), 'curl sent it chunked');
	isnt($r->{status}, 202, 'a chunked body over the limit is not accepted');
	is(job_count($node), $before, 'a chunked body over the limit: nothing queued');
}

# --- a huge Content-Length and a body that never comes -----------------------------------------

for my $path (enqueue_path(), $drain_path)
{
	my $before = job_count($node);
	my $socket = raw_connect($shim);
	print $socket "POST $path HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	  . "Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{\"overr";
	my $start = time();
	my $answer = raw_read_response($socket, 10);
	ok($answer, "Content-Length 100000000 on $path: an answer without the body (in "
		  . sprintf('%.2f', time() - $start) . ' s)');
	is($answer && $answer->{status}, 413, "Content-Length 100000000 on $path: 413");
	is($answer && $answer->{json}{error}, 'payload_too_large',
		"Content-Length 100000000 on $path: payload_too_large");
	ok(defined wait_closed($socket, 10), "Content-Length 100000000 on $path: then closed");
	close $socket;
	is(job_count($node), $before, "Content-Length 100000000 on $path: nothing queued");
}

# A Content-Length past 2^64 is refused as too large as well (by libmicrohttpd itself).
{
	my $socket = raw_connect($shim);
	print $socket "POST $drain_path HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	  . "Content-Length: 99999999999999999999999\r\n\r\n";
	my $answer = raw_read_response($socket, 10);
	is($answer && $answer->{status}, 413, 'Content-Length past 2^64: 413');
	close $socket;
}

# --- default --max-body is 64 KiB --------------------------------------------------------------

{
	my $default = shim_start($node, 18121);
	is(http($default, 'POST', enqueue_path(), body => body_of_size(65536))->{status},
		202, 'default limit: a body of 65536 bytes is taken');
	is(http($default, 'POST', enqueue_path(), body => body_of_size(65537))->{status},
		413, 'default limit: 65537 bytes are 413');
	is(shim_stop($default), 0, 'the default shim exits 0');
}

# --- slow clients -----------------------------------------------------------------------------

# A request sent in three pieces within the timeout is served.
{
	my $socket = raw_connect($shim);
	print $socket "POST $drain_path HT";
	usleep(300_000);
	print $socket "TP/1.1\r\nHost: 127.0.0.1\r\n";
	usleep(300_000);
	print $socket "Content-Length: 0\r\n\r\n";
	my $answer = raw_read_response($socket, 10);
	is($answer && $answer->{status}, 200, 'a request sent in pieces within the timeout: 200');
	close $socket;
}

# Each case: what is sent at once, and what then trickles at one byte a second (undef: nothing).
my @slow = (
	[ 'a partial request line, then silence', "POST $drain_path HT", undef ],
	[ 'partial headers trickling', "POST $drain_path HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
		'a' x 64 ],
	[
		'a body trickling',
		"POST " . enqueue_path() . " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		  . "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n",
		' ' x 100
	]);
for my $case (@slow)
{
	my ($name, $start, $trickle) = @$case;
	my $before = job_count($node);
	my $socket = raw_connect($shim);
	print $socket $start;

	# Others are served while this one dawdles.
	my $health = http($shim, 'GET', '/healthz');
	is($health->{status}, 200, "$name: another client is served meanwhile");
	my $queued = http($shim, 'POST', enqueue_path());
	is($queued->{status}, 202, "$name: an enqueue meanwhile is served");

	my $closed = wait_closed($socket, $timeout_s + 10, $trickle);
	ok(defined $closed, "$name: closed within --request-timeout ($timeout_s s) + 10 s"
		  . (defined $closed ? sprintf(' (%.1f s)', $closed) : ''));
	cmp_ok($closed // 0, '>=', $timeout_s - 1.5, "$name: not closed long before the timeout");
	close $socket;
	is(job_count($node), $before + 1, "$name: only the other client's job is queued");
}
like(shim_log($shim), qr/closed a connection: its request did not arrive within $timeout_s s/,
	'the shim logs the slow connections it closed');

# An idle keep-alive connection is closed after the timeout too.
{
	my $socket = raw_connect($shim);
	print $socket "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	my $answer = raw_read_response($socket, 10);
	is($answer && $answer->{status}, 200, 'keep-alive: the first request is answered');
	my $closed = wait_closed($socket, $timeout_s + 10);
	ok(defined $closed, 'keep-alive: an idle connection is closed after the timeout');
	close $socket;
}

is(shim_stop($shim), 0, 'the shim exits 0');
# libmicrohttpd's own messages (a Content-Length it cannot parse, a connection it closed) go
# to the same log: they must be lines of the same form.
is_deeply([ grep { !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z / } split /\n/, shim_log($shim) ],
	[], 'every line of the shim\'s log starts with a time stamp');

# --- a full pool: 503 server_busy ------------------------------------------------------------

{
	my $busy = shim_start($node, 18122, '--pool-size', 1, '--pool-timeout', 1);
	$node->safe_psql('postgres', 'DELETE FROM regen_queue.job_queue');
	my $slow = http($busy, 'POST', enqueue_path(), body => '{"overrides":{"topic":"sleep 8"}}');
	is($slow->{status}, 202, 'pool: a slow job queued');

	my ($out, $err) = ('', '');
	my $drain = IPC::Run::start(
		[ 'curl', '-q', '-sS', '--noproxy', '*', '--max-time', 60, '-X', 'POST',
		  "$busy->{url}$drain_path" ],
		'<', \undef, '>', \$out, '2>', \$err);
	my $deadline = time() + 30;
	usleep(100_000)
	  while job_count($node, "status = 'processing'") ne '1' && time() < $deadline;
	is(job_count($node, "status = 'processing'"), '1', 'pool: the drain is running the job');

	my $before = job_count($node);
	my $r = http($busy, 'POST', enqueue_path());
	is($r->{status}, 503, 'pool: an enqueue while the only connection drains: 503');
	is_deeply($r->{json}, { ok => JSON::PP::false, error => 'server_busy' },
		'pool: server_busy') or diag $r->{body};
	is_deeply($r->{headers}{'retry-after'}, ['1'], 'pool: Retry-After: 1');
	is(job_count($node), $before, 'pool: nothing queued');
	# /healthz has a connection of its own: a busy pool is not a dead shim.
	$r = http($busy, 'GET', '/healthz');
	is($r->{status}, 200, 'pool: /healthz while the only connection drains: 200');
	is_deeply($r->{json}, { ok => JSON::PP::true, database => 'up' },
		'pool: /healthz says the database is up') or diag $r->{body};

	$drain->finish;
	is_deeply(eval { JSON::PP->new->decode($out) },
		{ ok => JSON::PP::true, processedCount => 1, completedCount => 1, failedCount => 0 },
		'pool: the drain in flight ends 200 with its counts') or diag "$out $err";
	is(http($busy, 'GET', '/healthz')->{status}, 200, 'pool: served again once it is free');
	is(shim_stop($busy), 0, 'the pool shim exits 0');
}

$node->stop;
done_testing();
