# What each answer status and transport error does to a job: 408, 425, 429, 5xx, timeouts,
# refused and broken connections are retried until max_attempts; other 4xx and 3xx fail at once;
# Retry-After on 429 and 503 (only) delays the retry at least that long.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use HttpTest;
use POSIX qw(strftime);
use PostgreSQL::Test::Utils;
use Test::More;

my $node = http_node('statuses');
my $service = gs_start(18505);
my $refused_port = free_port(18509);

# Register $type with the service's /s and @query (or $opt{endpoint}); enqueue one job.
sub job_with
{
	my ($type, $query, %opt) = @_;
	register_http(
		$node, $type,
		endpoint => $opt{endpoint} // gs_url($service, "/$type", @$query),
		timeout => $opt{timeout});
	return enqueue($node, $type, max_attempts => $opt{max_attempts} // 3);
}

sub calls_of
{
	my ($id) = @_;
	return gs_stats($service)->{jobs}{$id} // 0;
}

# --- retryable statuses ----------------------------------------------------------------------

my %retryable;
$retryable{$_} = job_with("s_$_", [ status => $_ ], max_attempts => 2)
  for (408, 425, 429, 500, 502, 503, 504);

# The log line of each failed attempt records the state in between (pending, attempt 1), which
# lasts only until the retry.
for my $status (sort keys %retryable)
{
	my $id = $retryable{$status};
	ok(log_until($node,
			qr/job $id attempt 1 of 2 failed, job is now pending: HTTP $status after \d+\.\d{3} s$/m,
			30),
		"HTTP $status: back to pending after attempt 1, last_error 'HTTP $status after ...'");
}
ok(wait_jobs($node, [ values %retryable ], undef, 60), 'the retryable jobs finish');
for my $status (sort keys %retryable)
{
	my $id = $retryable{$status};
	my $row = job_row($node, $id);
	is($row->{status}, 'failed', "HTTP $status: failed once max_attempts (2) is used up");
	is($row->{attempts}, 2, "HTTP $status: attempts 2");
	like($row->{last_error}, qr/^HTTP $status after \d+\.\d{3} s$/, "HTTP $status: last_error");
	ok(defined $row->{completed_at}, "HTTP $status: completed_at stamped at the final failure");
	is(calls_of($id), 2, "HTTP $status: the service was called twice");
}

# --- permanent statuses ----------------------------------------------------------------------

my %permanent;
$permanent{$_} = job_with("p_$_", [ status => $_ ]) for (400, 401, 403, 404, 409, 410, 422, 302);
ok(wait_jobs($node, [ values %permanent ], undef, 30), 'the jobs of permanent statuses finish');
for my $status (sort keys %permanent)
{
	my $id = $permanent{$status};
	my $row = job_row($node, $id);
	is($row->{status}, 'failed', "HTTP $status fails the job for good");
	is($row->{attempts}, 1, "HTTP $status: attempts 1 of 3");
	my $reason = $status == 302 ? ' \(redirects are not followed\)' : '';
	like($row->{last_error}, qr/^HTTP $status$reason after \d+\.\d{3} s$/,
		"HTTP $status: last_error");
	is(calls_of($id), 1, "HTTP $status: the service was called once");
}
is(gs_stats($service)->{paths}{'/p_302'}, 1, 'the 302 was not followed anywhere');

# --- a retry that succeeds -------------------------------------------------------------------

my $second = job_with('s_fail_first', [ fail_first => 1 ]);
ok(wait_jobs($node, [$second], undef, 30), 'the fail_first job finishes');
my $row = job_row($node, $second);
is($row->{status}, 'completed', '503 then 200: completed');
is($row->{attempts}, 2, 'on attempt 2');
is($row->{result}{call}, 2, "the result is the second call's body");
like($row->{last_error}, qr/^HTTP 503 after \d+\.\d{3} s$/,
	'the first failure stays in last_error');
is(calls_of($second), 2, 'the service was called twice');

# --- Retry-After -----------------------------------------------------------------------------

# The delay each first failure set, with its last_error: read in the same statement that sees
# the job pending after attempt 1, since a retry 2 s later changes both. Polls every job at
# once until each was seen; returns {id => [delay, last_error]}.
sub first_failures
{
	my @ids = @_;
	my %seen;
	poll_until(
		sub {
			my $rows = $node->safe_psql('postgres',
				    "SELECT id, extract(epoch FROM scheduled_for - updated_at), last_error"
				  . " FROM regen_queue.job_queue WHERE id IN ('"
				  . join("','", @ids)
				  . "') AND attempts = 1 AND status = 'pending'");
			for (split /\n/, $rows)
			{
				my ($id, $delay, $error) = split /\|/, $_, 3;
				$seen{$id} //= [ $delay, $error ];
			}
			return keys(%seen) == @ids;
		},
		30, 'first failures');
	return \%seen;
}

my %after;
$after{429} = job_with('a_429', [ status => 429, retry_after => 120 ]);
$after{503} = job_with('a_503', [ status => 503, retry_after => 120 ]);
my $date = strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime(time() + 200));
(my $date_query = $date) =~ s/([^A-Za-z0-9])/sprintf('%%%02X', ord $1)/ge;
my $dated = job_with('a_date', [ status => 503, retry_after => $date_query ]);
my $plain = job_with('a_plain', [ status => 503 ]);
my $ignored = job_with('a_500', [ status => 500, retry_after => 120 ]);
my $first = first_failures(values(%after), $dated, $plain, $ignored);
is(scalar(keys %$first), 5, 'the five jobs were seen pending after attempt 1');

for my $status (429, 503)
{
	my ($delay, $error) = @{ $first->{ $after{$status} } // [ -1, '' ] };
	ok($delay >= 119.9 && $delay <= 150, "$status with Retry-After: 120 delays by 120 s ($delay)");
	my $due = job_row($node, $after{$status})->{due_in_s};
	ok($due >= 100, "$status: scheduled_for is still about 2 minutes away ($due s)");
	like($error, qr/^HTTP $status \(Retry-After 120 s\) after \d+\.\d{3} s$/,
		"$status: last_error gives Retry-After's delay");
}
my ($delay, $error) = @{ $first->{$dated} // [ -1, '' ] };
ok($delay >= 185 && $delay <= 210,
	"503 with Retry-After: <date 200 s ahead> delays ~200 s ($delay)");
($delay) = @{ $first->{$plain} // [-1] };
ok($delay >= 1.4 && $delay <= 2.6, "503 without Retry-After: the 2 s backoff, jittered ($delay)");
($delay, $error) = @{ $first->{$ignored} // [ -1, '' ] };
ok($delay >= 1.4 && $delay <= 2.6, "500 with Retry-After: 120 is not honoured ($delay)");
like($error, qr/^HTTP 500 after \d+\.\d{3} s$/, '500: last_error does not mention Retry-After');
is(calls_of($after{$_}), 1, "$_ with Retry-After: not called again yet") for (429, 503);

# --- transport errors ------------------------------------------------------------------------

my $timeout = job_with('t_timeout', [ latency_ms => 4000 ], timeout => '1 s', max_attempts => 2);
my $refused = job_with('t_refused', [], endpoint => "http://127.0.0.1:$refused_port/x",
	max_attempts => 2);
my $dropped = job_with('t_drop', [ drop => 1 ], max_attempts => 2);

my $pending_after = 'attempt 1 of 2 failed, job is now pending';
ok(log_until($node, qr/job $timeout $pending_after: timed out after [01]\.\d{3} s$/m, 30),
	"a call over its 1 s timeout: pending, last_error 'timed out after about 1 s'");
ok(log_until($node, qr/job $refused $pending_after: could not connect(: .*)? after [\d.]+ s$/m,
		30),
	"a refused connection: pending, last_error 'could not connect'");
ok(log_until($node, qr/job $dropped $pending_after: connection failed(: .*)? after [\d.]+ s$/m,
		30),
	"a connection closed without an answer: pending, last_error 'connection failed'");
ok(wait_jobs($node, [ $timeout, $refused, $dropped ], undef, 60), 'the transport jobs finish');
my %final_error = (
	timeout => qr/^timed out after (0\.9\d\d|1\.\d{3}) s$/,
	refused => qr/^could not connect(: .*)? after [\d.]+ s$/,
	dropped => qr/^connection failed(: .*)? after [\d.]+ s$/);
for my $case ([ $timeout, 'timeout' ], [ $refused, 'refused' ], [ $dropped, 'dropped' ])
{
	my ($id, $what) = @$case;
	$row = job_row($node, $id);
	is($row->{status}, 'failed', "$what: failed after max_attempts");
	is($row->{attempts}, 2, "$what: retried once (attempts 2)");
	like($row->{last_error}, $final_error{$what}, "$what: last_error of the last attempt");
}
is(calls_of($timeout), 2, 'timeout: the service saw both attempts');
# Each attempt is one POST: libcurl must not send it again by itself on another pooled
# connection when the endpoint closes one without answering (the endpoint may have done the
# work each time). Fails with libcurl 7.88's default, which resends up to 5 times.
is(calls_of($dropped), 2, 'dropped: the service got one POST per attempt, 2 in all')
  or diag 'last_error: ' . job_row($node, $dropped)->{last_error};

gs_stop($service);
$node->stop;
done_testing();
