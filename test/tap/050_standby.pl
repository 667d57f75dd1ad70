# A streaming standby runs no regen_queue worker and refuses regen_drain() with 25006; once
# promoted, its worker starts and drains the jobs enqueued on the old primary.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RegenQueueTest;
use Test::More;

my $primary = rq_node('primary',
	"regen_queue.databases = 'postgres'\nregen_queue.drain_interval = 200ms\n",
	allows_streaming => 1);
rq_install($primary, 'postgres');

my $worker_count =
  "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'regen_queue %'";
ok(poll_until($primary, 'postgres', $worker_count, '2', 30),
	'the primary runs a launcher and a worker');
my $drained = rq_enqueue($primary, 'postgres', '{"topic": "on the primary"}');
ok( poll_until(
		$primary, 'postgres',
		"SELECT status FROM regen_queue.job_queue WHERE id = '$drained'",
		'completed', 30),
	'the primary drains');

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

# From now on the primary drains nothing, so that the jobs are still there at the promotion.
$primary->safe_psql('postgres',
	"ALTER SYSTEM SET regen_queue.max_jobs_per_drain = 0; SELECT pg_reload_conf()");
ok(wait_for_setting($primary, 'regen_queue.max_jobs_per_drain', '0'),
	'the primary stops draining');
my @ids = map { rq_enqueue($primary, 'postgres', qq({"topic": "before promotion $_"})) } 1 .. 5;
my $ids = join(',', map { "'$_'" } @ids);
$primary->wait_for_catchup($standby);

is( $standby->safe_psql('postgres',
		"SELECT pg_is_in_recovery() || '/' || count(*) FROM regen_queue.job_queue"
		  . " WHERE id IN ($ids) AND status = 'pending'"),
	'true/5',
	'the standby is in recovery and sees the pending jobs');
is( $standby->safe_psql('postgres',
		"SHOW regen_queue.databases"),
	'postgres',
	'the standby has the same regen_queue.databases setting');
ok(stays_until($standby, 'postgres', $worker_count, '0', 3),
	'the standby runs no launcher and no worker');
is(rq_sqlstate($standby, 'postgres', 'SELECT regen_drain()'),
	'25006', 'regen_drain() on the standby fails with 25006');
is(rq_sqlstate($standby, 'postgres',
		"SELECT regen_enqueue(gen_random_uuid(), '{\"topic\": \"on the standby\"}')"),
	'25006', 'and so does regen_enqueue()');

$primary->stop;
$standby->promote;
ok( poll_until(
		$standby, 'postgres',
		"SELECT string_agg(backend_type, ',' ORDER BY backend_type) FROM pg_stat_activity"
		  . " WHERE backend_type LIKE 'regen_queue %'",
		'regen_queue launcher,regen_queue worker', 30),
	'after the promotion the launcher and the worker start');
ok( poll_until(
		$standby, 'postgres',
		"SELECT count(*) FROM regen_queue.job_queue WHERE id IN ($ids)"
		  . " AND status = 'completed' AND attempts = 1",
		'5', 30),
	'the promoted server drains the jobs enqueued before the promotion');
my $after = rq_enqueue($standby, 'postgres', '{"topic": "after promotion"}');
ok( poll_until(
		$standby, 'postgres',
		"SELECT status FROM regen_queue.job_queue WHERE id = '$after'",
		'completed', 30),
	'and the jobs enqueued after it');
is( $standby->safe_psql('postgres', "SELECT regen_drain()->>'ok'"),
	'true', 'regen_drain() works on the promoted server');

$standby->stop;
done_testing();
