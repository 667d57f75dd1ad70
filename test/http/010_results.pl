# What a 2xx answer does to a job: a JSON body is its result, an empty one NULL; a body that is
# not JSON or over regen_queue.http_max_response_size fails the job for good; a slow body within
# the call's timeout completes and one beyond it is retried. Also what the request carries.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use HttpTest;
use Encode ();
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = http_node('results', conf => "regen_queue.http_max_response_size = '64kB'\n");
my $service = gs_start(18500);
my $json = JSON::PP->new->utf8->canonical;

# Register job type $type with the service's /generate and @query, enqueue one job; its id.
sub job_with
{
	my ($type, $handler, %opt) = @_;
	register_http($node, $type, endpoint => gs_url($service, '/generate', @{ $handler->{query} }),
		timeout => $handler->{timeout});
	return enqueue($node, $type, %opt);
}

# --- success: the body is the result ---------------------------------------------------------

my $user = $node->safe_psql('postgres', 'SELECT gen_random_uuid()');
my $ok = job_with('r_ok', { query => [] },
	overrides => '{"topic": "Rust basics"}',
	user_id => $user);
ok(wait_jobs($node, [$ok]), 'the job of a 200 answer finishes');
my $row = job_row($node, $ok);
is($row->{status}, 'completed', '200 with a JSON body completes the job');
is($row->{attempts}, 1, 'in one attempt');
is($row->{last_error}, undef, 'with no error');
ok(defined $row->{completed_at}, 'completed_at is stamped');
is($row->{lease_owner}, undef, 'the lease is released');
is($row->{result}{jobId}, $ok, "the result is the service's body: its jobId is the job's id");
is($row->{result}{call}, 1, 'the result says it was the first call of this job');
is($row->{result}{path}, '/generate', 'the result names the path called');
is($node->safe_psql('postgres',
		"SELECT result->>'jobId' FROM regen_queue.job_queue WHERE id = '$ok'"),
	$ok, "result->>'jobId' reads the same in SQL");

my $stats = gs_stats($service);
is($stats->{jobs}{$ok}, 1, 'the service got exactly one call for the job');
my $last = $stats->{last};
is($last->{target}, '/generate', 'the call went to the registered path');
like($last->{content_type} // '', qr{^application/json\b}i, 'Content-Type is application/json');
is($last->{timestamp}, undef, 'no secret set: no X-Regen-Timestamp');
is($last->{signature}, undef, 'no secret set: no X-Regen-Signature');
my $sent = eval { $json->decode(Encode::encode_utf8($last->{body})) };
ok($sent, 'the request body is JSON') or diag $last->{body};
is_deeply(
	[ sort keys %{ $sent // {} } ],
	[qw(attempt jobId jobType maxAttempts payload planId userId)],
	'the request body has exactly the documented keys');
is($sent->{jobId}, $ok, 'jobId is the job id');
is($sent->{jobType}, 'r_ok', 'jobType is the job type');
is($sent->{planId}, $row->{plan_id}, 'planId is the plan id');
is($sent->{userId}, $user, 'userId is the user id');
is($sent->{attempt}, 1, 'attempt is the attempt being made');
is($sent->{maxAttempts}, 3, 'maxAttempts is the job max_attempts');
is_deeply($sent->{payload}, { overrides => { topic => 'Rust basics' } },
	'payload is the job payload');

my $anonymous = job_with('r_anonymous', { query => [] });
ok(wait_jobs($node, [$anonymous], "status = 'completed'"), 'a job without a user completes');
$sent = $json->decode(Encode::encode_utf8(gs_stats($service)->{last}{body}));
ok(exists $sent->{userId} && !defined $sent->{userId}, 'userId is null for a job without a user');
is_deeply($sent->{payload}, { overrides => {} }, 'empty overrides are sent as such');

# --- empty bodies ----------------------------------------------------------------------------

my $no_content = job_with('r_204', { query => [ status => 204 ] });
my $empty = job_with('r_empty', { query => [ body => '' ] });
my $blank = job_with('r_blank', { query => [ body => '%20%0A%20' ] });
ok(wait_jobs($node, [ $no_content, $empty, $blank ]), 'the jobs of empty answers finish');
for my $case ([ $no_content, '204 No Content' ], [ $empty, '200 with an empty body' ],
	[ $blank, '200 with a blank body' ])
{
	my ($id, $what) = @$case;
	$row = job_row($node, $id);
	is($row->{status}, 'completed', "$what completes the job");
	is($row->{result}, undef, "$what stores a NULL result");
	is($node->safe_psql('postgres',
			"SELECT result IS NULL FROM regen_queue.job_queue WHERE id = '$id'"),
		't', "$what: result IS NULL in SQL (not a JSON null)");
	is($row->{attempts}, 1, "$what: one attempt");
}

# --- bodies that are not JSON ----------------------------------------------------------------

my $not_json = job_with('r_not_json', { query => [ body => 'not%20json' ] });
my $truncated = job_with('r_truncated', { query => [ body => '%7B%22a%22%3A' ] });
# JSON text is UTF-8: a byte that is not would otherwise end up inside the stored jsonb.
my $not_utf8 = job_with('r_not_utf8', { query => [ body => '%7B%22a%22%3A%22%FF%22%7D' ] });
ok(wait_jobs($node, [ $not_json, $truncated, $not_utf8 ]),
	'the jobs of answers that are not JSON finish');
for my $case ([ $not_json, 'not json' ], [ $truncated, '{"a":' ],
	[ $not_utf8, '{"a":"\\xFF"}' ])
{
	my ($id, $what) = @$case;
	$row = job_row($node, $id);
	is($row->{status}, 'failed', "a 200 body '$what' fails the job");
	is($row->{attempts}, 1, "'$what': at once, no retry (max_attempts 3)");
	like($row->{last_error} // '',
		qr/^HTTP 200 with a body that is not valid JSON text: .* after \d+\.\d{3} s$/,
		"'$what': last_error names JSON, the status and the time");
	is($row->{result}, undef, "'$what': no result");
	is(gs_stats($service)->{jobs}{$id}, 1, "'$what': the service was called once");
}

# --- response size limit (64kB = 65536 bytes) ------------------------------------------------

my $under = job_with('r_under', { query => [ body_bytes => 65000 ] });
my $at = job_with('r_at', { query => [ body_bytes => 65536 ] });
my $over = job_with('r_over', { query => [ body_bytes => 65537 ] });
my $far_over = job_with('r_far_over', { query => [ body_bytes => 1_000_000 ] });
ok(wait_jobs($node, [ $under, $at, $over, $far_over ]), 'the jobs of large answers finish');
$row = job_row($node, $under);
is($row->{status}, 'completed', 'a 65000-byte body (under the limit) completes');
is(length($row->{result} // ''), 64998, 'its result is the whole JSON string');
$row = job_row($node, $at);
is($row->{status}, 'completed', 'a 65536-byte body (exactly the limit) completes');
is(length($row->{result} // ''), 65534, 'its result is the whole JSON string');
for my $case ([ $over, '65537-byte' ], [ $far_over, '1000000-byte' ])
{
	my ($id, $what) = @$case;
	$row = job_row($node, $id);
	is($row->{status}, 'failed', "a $what body (over the limit) fails the job");
	is($row->{attempts}, 1, "$what: at once, no retry");
	like($row->{last_error} // '', qr/^response body too large, cut off after \d+\.\d{3} s$/,
		"$what: last_error says too large");
	is($row->{result}, undef, "$what: no result");
}

# --- slow bodies -----------------------------------------------------------------------------

my $slow_ok = job_with('r_slow_ok', { query => [ slow_body_ms => 1500 ], timeout => '10 s' });
my $slow_late = job_with('r_slow_late', { query => [ slow_body_ms => 4000 ], timeout => '1 s' },
	max_attempts => 2);
ok(wait_jobs($node, [$slow_ok], undef, 60), 'the slow body within the timeout finishes');
$row = job_row($node, $slow_ok);
is($row->{status}, 'completed', 'a body over 1.5 s within a 10 s timeout completes');
is($row->{result}{jobId}, $slow_ok, 'with the whole body as its result');
is($row->{attempts}, 1, 'in one attempt');

ok(wait_jobs($node, [$slow_late], undef, 60), 'the slow body beyond the timeout finishes');
$row = job_row($node, $slow_late);
is($row->{status}, 'failed', 'a body over 4 s with a 1 s timeout fails after its attempts');
is($row->{attempts}, 2, 'it was retried: both attempts used');
is(gs_stats($service)->{jobs}{$slow_late}, 2, 'the service was called twice for it');
like($row->{last_error} // '', qr/^timed out after (\d+\.\d{3}) s$/, "last_error: 'timed out'");
my ($took) = ($row->{last_error} // '') =~ /after (\d+\.\d+) s/;
ok(defined $took && $took >= 0.9 && $took < 3.5, "the call was cut at about 1 s ($took s)");

gs_stop($service);
$node->stop;
done_testing();
