# Retention: the background worker deletes completed and failed jobs older than
# regen_queue.retention, in bounded batches, and leaves everything else alone; 0 keeps them all;
# a finished job locked by another session is skipped, not waited for, and pruned later.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RegenQueueTest;
use Test::More;
use Time::HiRes qw(usleep time);

my $node = rq_node('retention',
	"regen_queue.databases = 'postgres'\n"
	  . "regen_queue.drain_interval = '100ms'\n"
	  . "regen_queue.retention = 0\n");
rq_install($node, 'postgres');
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'regen_queue worker'",
		'1', 30),
	'the worker runs');

# 25,000 completed and 500 failed jobs that finished two hours ago, 100 completed a minute ago,
# and 50 pending ones created two hours ago (due in a day, so nothing drains them).
$node->safe_psql(
	'postgres', q{
INSERT INTO regen_queue.job_queue (plan_id, status, attempts, completed_at, created_at, result)
SELECT gen_random_uuid(), 'completed', 1, now() - interval '2 hours',
       now() - interval '3 hours', '{"old": true}'
  FROM generate_series(1, 25000);
INSERT INTO regen_queue.job_queue (plan_id, status, attempts, completed_at, created_at, last_error)
SELECT gen_random_uuid(), 'failed', 3, now() - interval '2 hours',
       now() - interval '3 hours', 'gave up'
  FROM generate_series(1, 500);
INSERT INTO regen_queue.job_queue (plan_id, status, attempts, completed_at, result)
SELECT gen_random_uuid(), 'completed', 1, now() - interval '1 minute', '{"recent": true}'
  FROM generate_series(1, 100);
INSERT INTO regen_queue.job_queue (plan_id, created_at, scheduled_for)
SELECT gen_random_uuid(), now() - interval '2 hours', now() + interval '1 day'
  FROM generate_series(1, 50);
});
my $count_by_kind = q{
SELECT count(*) FILTER (WHERE status = 'completed' AND completed_at < now() - interval '1 hour')
       || ' ' || count(*) FILTER (WHERE status = 'failed')
       || ' ' || count(*) FILTER (WHERE status = 'completed' AND result ? 'recent')
       || ' ' || count(*) FILTER (WHERE status = 'pending')
  FROM regen_queue.job_queue};

ok(stays_until($node, 'postgres', $count_by_kind, '25000 500 100 50', 2),
	'with regen_queue.retention = 0 every finished job is kept');

# One old finished job is locked by another session: pruning must skip it, not wait.
my $locker = $node->background_psql('postgres', on_error_stop => 0);
$locker->query_safe('BEGIN');
my $locked = $locker->query_safe(
	"SELECT id FROM regen_queue.job_queue WHERE status = 'failed' ORDER BY id LIMIT 1 FOR UPDATE");
chomp $locked;

my $log_offset = -s $node->logfile;
$node->safe_psql('postgres',
	"ALTER SYSTEM SET regen_queue.retention = '1h'; SELECT pg_reload_conf()");
ok(poll_until($node, 'postgres', $count_by_kind, '0 1 100 50', 60),
	'with a retention of 1 h the old finished jobs go; recent and pending ones stay, and so '
	  . 'does the locked one');

# Enqueue and drain go on meanwhile: nobody waited for the pruning.
my $fresh = rq_enqueue($node, 'postgres', '{"topic": "After pruning"}');
ok(poll_until($node, 'postgres',
		"SELECT status FROM regen_queue.job_queue WHERE id = '$fresh'", 'completed', 30),
	'a job enqueued while pruning runs is drained');

# Bounded batches: each pass deletes at most 10 batches of 1,000, and says when more are left.
my $log = slurp_file($node->logfile, $log_offset);
my @passes = $log =~ /regen_queue: pruned (\d+) finished jobs older than regen_queue\.retention/g;
cmp_ok(scalar(@passes), '>=', 3, 'the 25,499 jobs took several passes');
ok(!(grep { $_ > 10000 } @passes), 'no pass deleted more than 10,000 jobs');
my $sum = 0;
$sum += $_ for @passes;
is($sum, 25499, 'the passes deleted exactly the 25,499 unlocked old jobs');
like($log, qr/DETAIL:  More are left for the next pass\./, 'a pass that hit its bound says so');

$locker->query_safe('COMMIT');
$locker->quit;
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM regen_queue.job_queue WHERE id = '$locked'", '0', 90),
	'once unlocked, the skipped job is pruned by a later pass');
is($node->safe_psql('postgres', $count_by_kind), '0 0 100 50',
	'nothing but old finished jobs was ever deleted');

$node->stop;
done_testing();
