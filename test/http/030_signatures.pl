# Request signatures: with regen_queue.http_signing_secret set, a service holding the same
# secret accepts every call and the signature checks out independently (README's format); one
# with another secret rejects every call (401: the job fails for good); with no secret set,
# calls are unsigned ("missing"); a reload changes the secret of later calls; the secret shows
# up in no log line, no last_error and no pg_stat_activity row.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use HttpTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = http_node('signatures');
my $token = sub { join('', map { ('a' .. 'z', 0 .. 9)[ int rand 36 ] } 1 .. 24) };
my $first = 'first-' . $token->();
my $second = 'second-' . $token->();
my $foreign = 'foreign-' . $token->();

my $right = gs_start(18510, '--secret', $first);
my $wrong = gs_start(18511, '--secret', $foreign);
my $later = gs_start(18512, '--secret', $second);

register_http($node, 'sig_right', endpoint => gs_url($right, '/generate/v1', mode => 'plan'));
register_http($node, 'sig_wrong', endpoint => gs_url($wrong, '/generate'));
register_http($node, 'sig_later', endpoint => gs_url($later, '/generate'));

set_system($node, http_signing_secret => $first);
my $worker = worker_pid($node);

# --- the right secret ------------------------------------------------------------------------

my @accepted = enqueue_many($node, 'sig_right', 3, overrides => '{"topic": "Signed ünïcode"}');
ok(wait_jobs($node, \@accepted, undef, 30), 'the jobs for the service with the same secret finish');
is(jobs_where($node,
		"id IN ('" . join("','", @accepted) . "') AND status = 'completed'"),
	3, 'every call is accepted and completes its job');
my $stats = gs_stats($right);
is($stats->{rejected}, 0, 'the service rejected no call');
is($stats->{calls}, 3, 'the service counted the three calls');

my $last = $stats->{last};
is($last->{target}, '/generate/v1?mode=plan', 'the target signed is the path and query as sent');
like($last->{timestamp} // '', qr/^\d+$/, 'X-Regen-Timestamp is Unix seconds');
ok(abs(($last->{timestamp} // 0) - time()) < 120, 'the timestamp is about now');
like($last->{signature} // '', qr/^v1=[0-9a-f]{64}$/,
	'X-Regen-Signature is v1=<64 lower-case hex>');
my ($valid, $expected) = signature_check($last, $first);
ok($valid, 'the signature checks out with Digest::SHA over the documented base')
  or diag "expected $expected, got " . ($last->{signature} // 'none');
ok(!(signature_check($last, $second))[0], 'and it does not check out with another secret');
my %tampered = (%$last, body => $last->{body} . ' ');
ok(!(signature_check(\%tampered, $first))[0], 'nor over another body');

# --- another secret --------------------------------------------------------------------------

my @refused = enqueue_many($node, 'sig_wrong', 3);
ok(wait_jobs($node, \@refused, undef, 30), 'the jobs for the service with another secret finish');
for my $id (@refused)
{
	my $row = job_row($node, $id);
	is($row->{status}, 'failed', 'a rejected call fails its job for good');
	is($row->{attempts}, 1, 'at once (401 is not retried)');
	like($row->{last_error}, qr/^HTTP 401 after \d+\.\d{3} s$/, "last_error is 'HTTP 401 after ...'");
}
$stats = gs_stats($wrong);
is($stats->{rejected}, 3, 'the service rejected all three calls');
is($stats->{rejected_why}{mismatch}, 3, 'as signature mismatches');
is($stats->{calls}, 0, 'and accepted none');

# --- a reload changes the secret -------------------------------------------------------------

set_system($node, http_signing_secret => $second);
my @after_reload = enqueue_many($node, 'sig_later', 2);
my @old_secret = enqueue_many($node, 'sig_right', 2);
ok(wait_jobs($node, [ @after_reload, @old_secret ], undef, 30), 'the jobs after the reload finish');
is(jobs_where($node, "id IN ('" . join("','", @after_reload) . "') AND status = 'completed'"),
	2, 'calls after the reload are signed with the new secret');
ok((signature_check(gs_stats($later)->{last}, $second))[0],
	'the new signature checks out independently');
is(jobs_where($node,
		"id IN ('" . join("','", @old_secret) . "') AND status = 'failed'"
		  . " AND last_error LIKE 'HTTP 401 %'"),
	2, 'the service holding the old secret now rejects them');
is(gs_stats($right)->{rejected_why}{mismatch}, 2, 'as mismatches');
is(worker_pid($node), $worker, 'the same worker process applied the reload');

# --- no secret -------------------------------------------------------------------------------

set_system($node, http_signing_secret => undef);
is($node->safe_psql('postgres', 'SHOW regen_queue.http_signing_secret'), '', 'the secret is unset');
my @unsigned = enqueue_many($node, 'sig_later', 2);
ok(wait_jobs($node, \@unsigned, undef, 30), 'the unsigned jobs finish');
is(jobs_where($node,
		"id IN ('" . join("','", @unsigned) . "') AND status = 'failed'"
		  . " AND attempts = 1 AND last_error LIKE 'HTTP 401 %'"),
	2, 'a service with --secret rejects unsigned calls: the jobs fail');
is(gs_stats($later)->{rejected_why}{missing}, 2, "the service saw them 'missing' a signature");

# --- the secret stays hidden -----------------------------------------------------------------

$node->safe_psql('postgres',
	'CREATE ROLE app LOGIN; CREATE ROLE reader LOGIN; GRANT pg_read_all_settings TO reader');
set_system($node, http_signing_secret => $first);
my ($out, $err) = ('', '');
$node->psql('postgres', 'SET ROLE app; SHOW regen_queue.http_signing_secret',
	stdout => \$out, stderr => \$err);
is($out, '', 'an ordinary role reads nothing of the secret');
like($err, qr/must be superuser/, 'it is refused');
is($node->safe_psql('postgres', 'SET ROLE reader; SHOW regen_queue.http_signing_secret'),
	'********', 'a member of pg_read_all_settings sees ********');
is($node->safe_psql('postgres',
		"SET log_statement = 'none'; SELECT count(*) FROM pg_settings"
		  . " WHERE setting LIKE '%$first%' OR reset_val LIKE '%$first%'"),
	'0', 'pg_settings shows it to nobody, superusers included');

my $errors = $node->safe_psql('postgres',
	"SELECT string_agg(coalesce(last_error, ''), ' ') FROM regen_queue.job_queue");
for my $case ([ $first, 'the first secret' ], [ $second, 'the second secret' ],
	[ $foreign, "the other service's secret" ])
{
	my ($secret, $what) = @$case;
	ok($errors !~ /\Q$secret\E/, "no last_error contains $what");
	is($node->safe_psql('postgres',
			"SET log_statement = 'none'; SELECT count(*) FROM pg_stat_activity"
			  . " WHERE query LIKE '%$secret%' AND pid <> pg_backend_pid()"),
		'0', "no pg_stat_activity query shows $what");
}
# A statement that sets a new secret, logged by log_statement, shows it masked too.
my $rotated = 'rotated-' . join('', map { ('a' .. 'z')[ rand 26 ] } 1 .. 16);
$node->safe_psql('postgres',
	"SET log_statement = 'all'; ALTER SYSTEM SET regen_queue.http_signing_secret = '$rotated'");
$node->safe_psql('postgres',
	"SET log_statement = 'none'; ALTER SYSTEM RESET regen_queue.http_signing_secret");

my $log = slurp_log($node->logfile);
ok($log =~ /statement: ALTER SYSTEM SET regen_queue\.http_signing_secret = '\*{8}'/,
	'a logged statement that sets the secret shows it masked');
ok($log !~ /\Q$rotated\E/, 'the server log never shows a secret being set');
# ok() rather than like(): a failure must not print the log, the secrets with it.
ok($log =~ /regen_queue: job \S+ attempt 1 of 3 failed, job is now failed: HTTP 401/,
	'the server log has the rejected attempts');
ok($log =~ /parameter "regen_queue\.http_signing_secret" changed to "\*{8}"/,
	'the reloads are logged with the secret masked');
ok($log !~ /\Q$first\E/, 'the server log never shows the first secret');
ok($log !~ /\Q$second\E/, 'the server log never shows the second secret');
for my $service ($right, $wrong, $later)
{
	gs_stop($service);
	ok(slurp_log($service->{log}) !~ /\Q$first\E|\Q$second\E/,
		"nothing of the secrets in the service's own output (port $service->{port})");
}

$node->stop;
done_testing();
