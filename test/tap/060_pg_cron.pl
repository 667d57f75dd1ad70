# pg_cron drives regen_drain(): with pg_cron preloaded next to regen_queue, a job scheduled with
# cron.schedule() drains the queue and pg_cron records a successful run.
#
# The installed pg_cron (1.4) schedules by the minute only ('N seconds' schedules came with 1.5),
# so the first run comes at the next minute boundary, up to a minute after scheduling.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RegenQueueTest;
use Test::More;

# No regen_queue background worker: pg_cron is the only drainer. pg_cron runs its jobs in
# background workers, as the node listens on a unix socket only.
my $node = rq_node('cron',
	    "shared_preload_libraries = 'pg_cron,regen_queue'\n"
	  . "cron.database_name = 'postgres'\n"
	  . "cron.use_background_workers = on\n"
	  . "regen_queue.databases = ''\n");
$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
rq_install($node, 'postgres');

my $cron_version =
  $node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'");
note "pg_cron $cron_version";

my @ids = map { rq_enqueue($node, 'postgres', qq({"topic": "cron $_"})) } 1 .. 5;
my $ids = join(',', map { "'$_'" } @ids);
ok( stays_until(
		$node, 'postgres',
		"SELECT count(*) FROM regen_queue.job_queue WHERE id IN ($ids) AND status = 'pending'",
		'5', 2),
	'without a schedule nothing drains the queue');

my $jobid = $node->safe_psql('postgres',
	"SELECT cron.schedule('regen-drain', '* * * * *', 'SELECT regen_drain()')");
like($jobid, qr/^\d+$/, 'the drain is scheduled every minute');

ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM regen_queue.job_queue WHERE id IN ($ids)"
		  . " AND status = 'completed' AND attempts = 1",
		'5', 130),
	'pg_cron drains the queue within its first run');
ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FILTER (WHERE status = 'succeeded') > 0"
		  . " AND count(*) FILTER (WHERE status = 'failed') = 0"
		  . " FROM cron.job_run_details WHERE jobid = $jobid",
		't', 30),
	'cron.job_run_details records a succeeded run and no failed one');
is( $node->safe_psql('postgres',
		"SELECT command FROM cron.job_run_details WHERE jobid = $jobid LIMIT 1"),
	'SELECT regen_drain()',
	'the run is the scheduled regen_drain() call');

# A later run fails visibly in cron.job_run_details when the queue is disabled.
$node->safe_psql('postgres',
	"ALTER SYSTEM SET regen_queue.enabled = off; SELECT pg_reload_conf()");
ok(wait_for_setting($node, 'regen_queue.enabled', 'off'), 'queue disabled');
ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) > 0 FROM cron.job_run_details WHERE jobid = $jobid"
		  . " AND status = 'failed' AND return_message LIKE '%regen_queue is disabled%'",
		't', 130),
	'the next run of a disabled queue is recorded as failed, with the reason');

$node->safe_psql('postgres', "SELECT cron.unschedule('regen-drain')");
$node->stop;
done_testing();
