# Thousands of jobs in every status, enqueued and drained on a primary up to the moment it stops,
# are all on its streaming standby after the promotion, exactly as the primary last committed
# them; the standby's worker did nothing before the promotion, and after it the promoted server
# runs every job left pending or processing, each exactly once.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RegenQueueTest;
use Test::More;

my $primary = rq_node('primary',
	    "regen_queue.databases = 'postgres'\n"
	  . "regen_queue.drain_interval = 50ms\n"
	  . "regen_queue.lease_timeout = 2s\n",
	allows_streaming => 1);
rq_install_effects($primary, 'postgres');

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

my $regen_processes =
  "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'regen_queue %'";
my @standby_processes;

# Enqueue $count jobs in one transaction on the primary: mostly slow ones, every tenth fails for
# good and every tenth fails its first attempt.
sub enqueue_batch
{
	my ($count) = @_;

	$primary->safe_psql(
		'postgres', qq{
SELECT count(regen_enqueue(gen_random_uuid(), jsonb_build_object('topic',
           CASE g % 10 WHEN 0 THEN 'fail' WHEN 1 THEN 'retry' ELSE 'slow' END)))
  FROM generate_series(1, $count) g});
	push @standby_processes, $standby->safe_psql('postgres', $regen_processes);
	return;
}

# The jobs of $node as {id => "status attempts topic effects"}.
sub jobs_of
{
	my ($node) = @_;
	my %jobs;

	for my $row (
		split /\n/,
		$node->safe_psql(
			'postgres', q{
SELECT j.id, j.status, j.attempts, j.payload->'overrides'->>'topic',
       (SELECT count(*) FROM public.effect e WHERE e.job_id = j.id)
  FROM regen_queue.job_queue j}))
	{
		my ($id, @fields) = split /\|/, $row;
		$jobs{$id} = join(' ', @fields);
	}
	return \%jobs;
}

# Compare two job maps; describe what differs (counts and a few examples).
sub differences
{
	my ($want, $got) = @_;
	my @missing = grep { !exists $got->{$_} } sort keys %$want;
	my @extra = grep { !exists $want->{$_} } sort keys %$got;
	my @changed =
	  map { "$_: $want->{$_} became $got->{$_}" }
	  grep { exists $got->{$_} && $got->{$_} ne $want->{$_} } sort keys %$want;

	my @shown = @changed > 3 ? @changed[ 0 .. 2 ] : @changed;

	return (
		(@missing ? (scalar(@missing) . " missing, e.g. $missing[0]") : ()),
		(@extra ? (scalar(@extra) . " extra, e.g. $extra[0]") : ()),
		(@changed ? (scalar(@changed) . ' changed, e.g. ' . join('; ', @shown)) : ()));
}

# --- the primary drains while jobs keep coming ----------------------------------------------

ok(poll_until($primary, 'postgres', $regen_processes, '2', 30),
	'the primary runs a launcher and a worker');
my ($batches, $batch_size, $last_batch) = (10, 250, 1500);
my $total = $batches * $batch_size + $last_batch;
enqueue_batch($batch_size) for 1 .. $batches;
ok( poll_until(
		$primary, 'postgres',
		"SELECT count(*) FILTER (WHERE status IN ('completed', 'failed')) >= 800"
		  . " AND count(*) FILTER (WHERE status = 'processing') > 0"
		  . " FROM regen_queue.job_queue",
		't', 60),
	'the primary\'s worker has finished hundreds of jobs and is in the middle of a batch');

# The last jobs come right before the primary stops, its worker still draining.
enqueue_batch($last_batch);
$primary->stop('fast');
my ($controldata) = run_command([ 'pg_controldata', $primary->data_dir ]);
my ($final_lsn) = $controldata =~ /^Latest checkpoint location:\s*(\S+)$/m;
ok($final_lsn, "the primary's shutdown checkpoint is at $final_lsn");
ok( poll_until(
		$standby, 'postgres',
		"SELECT pg_last_wal_replay_lsn() >= '$final_lsn'::pg_lsn", 't', 60),
	'the standby replays up to it');

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't',
	'the standby is still in recovery');
is(join(',', @standby_processes), join(',', ('0') x ($batches + 1)),
	'while the primary drained, the standby ran no launcher and no worker');
ok(stays_until($standby, 'postgres', $regen_processes, '0', 2), 'and it still runs none');
ok(!$standby->log_contains(qr/regen_queue (?:launcher|worker) started/),
	'its log shows no regen_queue process ever started');
my $before_promotion = jobs_of($standby);

$standby->promote;

# What the primary last committed, read from its own files with no worker to change them.
$primary->append_conf('postgresql.conf', "regen_queue.databases = ''\n");
$primary->start;
my $primary_final = jobs_of($primary);
$primary->stop;

my %by_status;
$by_status{ (split / /, $_)[0] }++ for values %$primary_final;
note join(', ', map { "$_: $by_status{$_}" } sort keys %by_status);
ok( $total == keys %$primary_final
	  && !grep({ !$by_status{$_} } qw(pending processing completed failed)),
	"the primary ended with its $total jobs in every status")
  or diag explain \%by_status;
my @diff = differences($primary_final, $before_promotion);
ok(!@diff, 'before the promotion the standby has every job exactly as the primary left it')
  or diag join("\n", @diff);

# --- the promoted server runs what was left ---------------------------------------------------

ok( poll_until(
		$standby, 'postgres',
		"SELECT string_agg(backend_type, ',' ORDER BY backend_type) FROM pg_stat_activity"
		  . " WHERE backend_type LIKE 'regen_queue %'",
		'regen_queue launcher,regen_queue worker', 30),
	'after the promotion the launcher and the worker start');
ok( poll_until(
		$standby, 'postgres',
		"SELECT count(*) FROM regen_queue.job_queue"
		  . " WHERE status NOT IN ('completed', 'failed')",
		'0', 120),
	'the promoted server runs every pending and processing job');

my $after = jobs_of($standby);
my %expected;
my @bad_attempts;
for my $id (keys %$primary_final)
{
	my ($status, $attempts, $topic) = split / /, $primary_final->{$id};
	if ($status eq 'completed' || $status eq 'failed')
	{
		$expected{$id} = $primary_final->{$id};
		next;
	}
	my $done = $topic eq 'fail' ? 'failed' : 'completed';
	my $got_attempts = exists $after->{$id} ? (split / /, $after->{$id})[1] : 0;

	# A pending job's next attempt is its last (a "retry" job fails its first one); a job
	# whose claim died with the primary may get its attempt back when its lease was shared.
	my $want_attempts =
	  $status eq 'processing' ? $got_attempts
	  : ($topic eq 'retry' && $attempts == 0) ? 2
	  :                                         $attempts + 1;
	push @bad_attempts, "$id: $status with $attempts attempts ended with $got_attempts"
	  if $got_attempts < 1 || $got_attempts > 3;
	$expected{$id} = join(' ', $done, $want_attempts, $topic, $done eq 'completed' ? 1 : 0);
}
@diff = differences(\%expected, $after);
ok(!@diff,
	'after the promotion every job is there: finished ones unchanged, the others finished'
	  . ' in their next attempt with one effect each')
  or diag join("\n", @diff);
is_deeply(\@bad_attempts, [], 'and within their max_attempts');
is( $standby->safe_psql('postgres', rq_effects_check('true')),
	sprintf('%d/%d/0/0', $total, scalar grep { (split / /, $_)[0] eq 'completed' } values %$after),
	'each completed job has exactly one effect, no other job has any');

$standby->stop;
done_testing();
