# The background worker: launcher and database workers in pg_stat_activity, draining with no
# regen_drain() call, waking on enqueue with inline_processing, idle with a wait event and no
# snapshot, and one worker per listed database.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RegenQueueTest;
use Test::More;

my $node = rq_node('worker',
	"regen_queue.databases = 'postgres'\nregen_queue.drain_interval = 200ms\n");

# --- launcher and worker show up -------------------------------------------------------------

ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'regen_queue launcher'"
		  . " AND datname IS NULL AND application_name LIKE 'regen_queue%'",
		'1', 30),
	'one launcher, connected to no database, with an application name');
ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'regen_queue worker'"
		  . " AND datname = 'postgres' AND application_name LIKE 'regen_queue%'",
		'1', 30),
	'one database worker for postgres, with an application name');

# --- jobs drain with no regen_drain() call ---------------------------------------------------

rq_install($node, 'postgres');
my @ids = map { rq_enqueue($node, 'postgres', qq({"topic": "job $_"})) } 1 .. 5;
my $id_list = join(',', map { "'$_'" } @ids);

ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM regen_queue.job_queue WHERE id IN ($id_list)"
		  . " AND status = 'completed'",
		'5', 30),
	'the worker drains enqueued jobs by itself');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM regen_queue.job_queue WHERE id IN ($id_list)"
		  . " AND attempts = 1 AND result->>'ok' = 'true'"
		  . " AND result->>'topic' = payload->'overrides'->>'topic'"),
	'5',
	'each job ran its handler once and stored its result');

# --- idle: a wait event, no snapshot, no transaction -----------------------------------------

my $idle_worker =
    "SELECT wait_event_type || '/' || wait_event || '/' || (backend_xmin IS NULL)"
  . " || '/' || (backend_xid IS NULL) FROM pg_stat_activity"
  . " WHERE backend_type = 'regen_queue worker' AND datname = 'postgres'";
ok(poll_until($node, 'postgres', $idle_worker, 'Extension/Extension/true/true', 30),
	'the idle worker waits on an Extension wait event');

# Between drains (every 200 ms) the worker must never be caught waiting with a snapshot.
ok( stays_until(
		$node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'regen_queue worker'"
		  . " AND wait_event_type = 'Extension'"
		  . " AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL)",
		'0', 3),
	'the worker holds no snapshot and no transaction while it waits');

# --- inline_processing wakes the worker although the interval is an hour -------------------

# Each drain ends by reporting the worker idle, so state_change tells when it last drained.
my $before_reload = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
$node->safe_psql('postgres',
	"ALTER SYSTEM SET regen_queue.drain_interval = '1h'; SELECT pg_reload_conf()");
ok(wait_for_setting($node, 'regen_queue.drain_interval', '1h'), 'drain_interval reloaded');
ok( poll_until(
		$node, 'postgres',
		"SELECT state_change > '$before_reload' AND wait_event_type = 'Extension'"
		  . " FROM pg_stat_activity WHERE backend_type = 'regen_queue worker'",
		't', 30),
	'the worker drained once after the reload and now waits for an hour');

# Without inline processing, nothing wakes the worker: the job waits for the next interval.
my $quiet_job = rq_enqueue($node, 'postgres', '{"topic": "quiet"}');
ok( stays_until(
		$node, 'postgres',
		"SELECT status FROM regen_queue.job_queue WHERE id = '$quiet_job'",
		'pending', 3),
	'with inline_processing off and a 1 h interval, a new job stays pending');

# An enqueue with inline_processing on (SUSET: a superuser session may set it) wakes the worker
# when it commits; the worker then drains every due job, the earlier one too.
my $inline_job = $node->safe_psql('postgres',
	"SET regen_queue.inline_processing = on;"
	  . " SELECT (regen_enqueue(gen_random_uuid(), '{\"topic\": \"inline\"}')).id");
ok( poll_until(
		$node, 'postgres',
		"SELECT string_agg(status::text, ',' ORDER BY id = '$inline_job')"
		  . " FROM regen_queue.job_queue WHERE id IN ('$quiet_job', '$inline_job')",
		'completed,completed', 10),
	'an enqueue with inline_processing wakes the worker, which drains within seconds, not the hour');

# An enqueue whose transaction rolls back wakes nobody; the job does not exist at all.
my $state_before = $node->safe_psql('postgres',
	"SELECT state_change FROM pg_stat_activity WHERE backend_type = 'regen_queue worker'");
$node->safe_psql('postgres',
	"SET regen_queue.inline_processing = on; BEGIN;"
	  . " SELECT regen_enqueue(gen_random_uuid(), '{\"topic\": \"rolled back\"}'); ROLLBACK");
ok( stays_until(
		$node, 'postgres',
		"SELECT state_change = '$state_before' FROM pg_stat_activity"
		  . " WHERE backend_type = 'regen_queue worker'",
		't', 2),
	'a rolled-back enqueue does not wake the worker');

# Through the configuration file too: inline_processing = on for every session.
$node->safe_psql('postgres',
	"ALTER SYSTEM SET regen_queue.inline_processing = on; SELECT pg_reload_conf()");
ok(wait_for_setting($node, 'regen_queue.inline_processing', 'on'),
	'inline_processing reloaded');
my $conf_job = rq_enqueue($node, 'postgres', '{"topic": "conf inline"}');
ok( poll_until(
		$node, 'postgres',
		"SELECT status FROM regen_queue.job_queue WHERE id = '$conf_job'",
		'completed', 10),
	'inline_processing from the configuration wakes the worker as well');

# --- two databases, one worker each ----------------------------------------------------------

$node->safe_psql('postgres', 'CREATE DATABASE second_db');
rq_install($node, 'second_db');
$node->append_conf('postgresql.conf',
	"regen_queue.databases = 'postgres, second_db'\n");
$node->safe_psql('postgres',
	"ALTER SYSTEM RESET regen_queue.drain_interval;"
	  . " ALTER SYSTEM RESET regen_queue.inline_processing");
$node->restart;

ok( poll_until(
		$node, 'postgres',
		"SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_stat_activity"
		  . " WHERE backend_type = 'regen_queue worker'",
		'postgres,second_db', 30),
	'one worker per listed database');

my $first = rq_enqueue($node, 'postgres', '{"topic": "first db"}');
my $second = rq_enqueue($node, 'second_db', '{"topic": "second db"}');
ok( poll_until(
		$node, 'postgres',
		"SELECT status FROM regen_queue.job_queue WHERE id = '$first'",
		'completed', 30),
	'the worker of postgres drains its job');
ok( poll_until(
		$node, 'second_db',
		"SELECT status FROM regen_queue.job_queue WHERE id = '$second'",
		'completed', 30),
	'the worker of second_db drains its job');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM regen_queue.job_queue WHERE id = '$second'"),
	'0',
	'a job of second_db never shows up in postgres');

$node->stop;
done_testing();
