# The shim's life around the database's and its own: it serves again after PostgreSQL restarts,
# answers 503 (and stays up) while PostgreSQL is down, and on SIGTERM stops accepting, lets a
# drain in flight finish with its 200, closes idle connections and exits 0.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use Errno qw(ECONNREFUSED);
use IO::Socket::INET;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ShimTest;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = shim_node('lifecycle');
my $shim = shim_start($node, 18130);
my $drain_path = '/api/internal/jobs/regeneration/process';

sub enqueue_path { return '/api/v1/plans/' . new_plan_id($node) . '/regenerate' }

sub accepted { return $_[0]{status} == 202 }

# --- PostgreSQL restarts under the shim ----------------------------------------------------------

is(http($shim, 'POST', enqueue_path())->{status}, 202, 'before the restart: enqueue 202');
is(http($shim, 'GET', '/healthz')->{status}, 200, 'before the restart: /healthz 200');

$node->restart;
my $plan = new_plan_id($node);
my ($after, @seen) =
  http_until($shim, 'POST', "/api/v1/plans/$plan/regenerate", \&accepted, 30);
note 'enqueue answers after the restart, in order: ' . join(', ', @seen);
is($after->{status}, 202, 'after the restart: an enqueue succeeds within 30 s');
is_deeply([ grep { $_ ne '202' && $_ ne '503 database_unavailable' } @seen ],
	[], 'after the restart: nothing but 503 database_unavailable before that');
cmp_ok(scalar(@seen), '<=', 2, 'after the restart: at most the first request fails');
is(job_count($node, "plan_id = '$plan'"), '1', 'after the restart: the plan has one job');

my $drained = http($shim, 'POST', $drain_path);
is($drained->{status}, 200, 'after the restart: drain 200');
is($drained->{json}{processedCount}, 2, 'after the restart: the drain ran both jobs');
is(http($shim, 'GET', '/healthz')->{status}, 200, 'after the restart: /healthz 200');

# --- PostgreSQL down ----------------------------------------------------------------------------

$node->stop('fast');
my $health = http($shim, 'GET', '/healthz');
is($health->{status}, 503, 'database down: /healthz 503');
is_deeply($health->{json}, { ok => JSON::PP::false, error => 'database_unavailable' },
	'database down: /healthz database_unavailable') or diag $health->{body};
is_deeply($health->{headers}{'retry-after'}, ['1'], 'database down: Retry-After: 1');
# (No new plan id from the database now.)
my $down = http($shim, 'POST', '/api/v1/plans/6b1f4a52-5f9e-4d3c-9a57-0c1d2e3f4a5b/regenerate');
is($down->{status}, 503, 'database down: enqueue 503');
is($down->{json}{error}, 'database_unavailable', 'database down: enqueue database_unavailable');
$down = http($shim, 'POST', $drain_path);
is($down->{status}, 503, 'database down: drain 503');
is($down->{json}{error}, 'database_unavailable', 'database down: drain database_unavailable');
my $metrics = http($shim, 'GET', '/metrics');
is($metrics->{status}, 200, 'database down: /metrics still 200');
is(metric_value($metrics->{body}, 'regen_queue_database_up'), 0,
	'database down: regen_queue_database_up 0');
usleep(500_000);
ok(shim_alive($shim), 'database down: the shim keeps running');
like(shim_log($shim), qr/cannot use the database/, 'database down: the shim logs why');
# Each entry of the log is one line that starts with its time, also when libpq's message
# about a lost connection has several lines.
is_deeply([ grep { !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z / } split /\n/, shim_log($shim) ],
	[], 'database down: every line of the shim\'s log starts with a time stamp');

# A shim started while the database is down listens all the same and serves once it is back.
my $early = shim_start($node, 18132);
is(http($early, 'GET', '/healthz')->{status}, 503, 'started while the database is down: 503');
ok(shim_alive($early), 'started while the database is down: it runs');

$node->start;
my ($early_up) = http_until($early, 'GET', '/healthz', sub { $_[0]{status} == 200 }, 30);
is($early_up->{status}, 200, 'started while the database was down: 200 once it is up');
is(http($early, 'POST', enqueue_path())->{status}, 202,
	'started while the database was down: enqueue 202');
is(shim_stop($early), 0, 'started while the database was down: exits 0');

my ($up, @while_starting) = http_until($shim, 'GET', '/healthz', sub { $_[0]{status} == 200 }, 30);
note '/healthz answers while the database comes back: ' . join(', ', @while_starting);
is($up->{status}, 200, 'database back: /healthz 200 within 30 s');
is(http($shim, 'POST', enqueue_path())->{status}, 202, 'database back: enqueue 202');
is(metric_value(http($shim, 'GET', '/metrics')->{body}, 'regen_queue_database_up'), 1,
	'database back: regen_queue_database_up 1');
is(http($shim, 'POST', $drain_path)->{json}{processedCount}, 2,
	'database back: a drain runs both jobs queued since');

# --- SIGTERM while a drain is in flight --------------------------------------------------------

my $slow = http($shim, 'POST', enqueue_path(), body => '{"overrides":{"topic":"sleep 4"}}');
is($slow->{status}, 202, 'SIGTERM: a job that takes 4 s queued');

# An idle keep-alive connection, open when the signal comes.
my $idle = raw_connect($shim);
print $idle "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
my $idle_answer = raw_read_response($idle, 10);
is($idle_answer && $idle_answer->{status}, 200, 'SIGTERM: a keep-alive connection answered');

my ($out, $err) = ('', '');
my $drain = IPC::Run::start(
	[ 'curl', '-q', '-sS', '--noproxy', '*', '--max-time', 60, '-w', '\n%{http_code}',
	  '-X', 'POST', "$shim->{url}$drain_path" ],
	'<', \undef, '>', \$out, '2>', \$err);
my $deadline = time() + 30;
usleep(50_000) while job_count($node, "status = 'processing'") ne '1' && time() < $deadline;
is(job_count($node, "status = 'processing'"), '1', 'SIGTERM: the drain is running the job');

kill('TERM', $shim->{pid});
my $signalled = time();

# New connections are refused while the drain still runs.
my $refused = 0;
while (time() - $signalled < 3)
{
	my $socket = IO::Socket::INET->new(
		PeerAddr => '127.0.0.1',
		PeerPort => $shim->{port},
		Proto => 'tcp');
	if (!$socket)
	{
		$refused = $! == ECONNREFUSED;
		last;
	}
	close $socket;
	usleep(50_000);
}
ok($refused, 'SIGTERM: new connections are refused');
is(job_count($node, "status = 'processing'"), '1',
	'SIGTERM: ... while the drain is still in flight');
ok(shim_alive($shim), 'SIGTERM: the shim waits for the drain in flight');
ok(defined wait_closed($idle, 5), 'SIGTERM: the idle keep-alive connection is closed');
close $idle;

$drain->finish;
my ($body, $code) = $out =~ /^(.*)\n(\d{3})$/s;
is($code, 200, 'SIGTERM: the drain in flight gets its 200');
is_deeply(eval { JSON::PP->new->decode($body // '') },
	{ ok => JSON::PP::true, processedCount => 1, completedCount => 1, failedCount => 0 },
	'SIGTERM: with its counts') or diag "$out $err";
is(job_count($node, "status = 'completed' AND id = '$slow->{json}{jobId}'"), '1',
	'SIGTERM: the job completed');

is(shim_wait($shim, 30), 0, 'SIGTERM: the shim exits 0 after the drain');
my $log = shim_log($shim);
like($log, qr/received \S+.*finishing requests in flight/, 'SIGTERM: logged');
like($log, qr{POST /api/internal/jobs/regeneration/process 200 }, 'SIGTERM: the drain logged');
like($log, qr/stopped$/m, 'SIGTERM: "stopped" logged');
unlike($log, qr/unfinished/, 'SIGTERM: no request left unfinished');

# --- SIGTERM with nothing in flight, and SIGINT ------------------------------------------------

for my $signal ('TERM', 'INT')
{
	my $quiet = shim_start($node, 18131);
	is(http($quiet, 'GET', '/healthz')->{status}, 200, "SIG$signal idle: serving");
	my $start = time();
	is(shim_stop($quiet, $signal, 30), 0, "SIG$signal idle: exits 0");
	cmp_ok(time() - $start, '<', 10, "SIG$signal idle: exits without waiting out a timeout");
}

$node->stop;
done_testing();
