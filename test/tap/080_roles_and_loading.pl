# Loading without preloading, whom the background worker runs handlers as, and the worker
# token in the server log.
#
# - Without shared_preload_libraries, CREATE EXTENSION, regen_enqueue() and regen_drain() work,
#   and regen_queue.worker_role (a restart-only setting) is simply not defined.
# - With regen_queue.worker_role empty, the background worker (the bootstrap superuser) runs a
#   handler as the owner of its function, so a handler owned by an ordinary role gets no more
#   than that role's rights.
# - A worker_role that cannot log in still works: the worker connects as the bootstrap superuser
#   and becomes that role.
# - The server log never shows the token's value, not even PostgreSQL's own "parameter ...
#   changed to ..." line of a reload.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RegenQueueTest;
use Test::More;

# --- without preloading -------------------------------------------------------------------------
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->append_conf('postgresql.conf', "max_worker_processes = 16\n");
$plain->start;

is(rq_sqlstate($plain, 'postgres', 'CREATE EXTENSION regen_queue'),
	'', 'CREATE EXTENSION works without shared_preload_libraries');
$plain->safe_psql(
	'postgres', q{
CREATE FUNCTION public.ok(j regen_queue.job_queue) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('ok', true) $$;
SELECT regen_register_handler('plan_regeneration', 'public.ok(regen_queue.job_queue)');
});
my $job = rq_enqueue($plain, 'postgres');
like($job, qr/^[0-9a-f-]{36}$/, 'regen_enqueue works without preloading');
is( $plain->safe_psql('postgres', 'SELECT regen_drain()'),
	'{"ok": true, "failedCount": 0, "completedCount": 1, "processedCount": 1}',
	'regen_drain works without preloading');
is($plain->safe_psql('postgres', "SELECT status FROM regen_queue.job_queue WHERE id = '$job'"),
	'completed', 'the job completed');
is( $plain->safe_psql(
		'postgres', "SELECT count(*) FROM pg_settings WHERE name = 'regen_queue.worker_role'"),
	'0', 'regen_queue.worker_role exists only when the library is preloaded');
is( $plain->safe_psql(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'regen_queue%'"),
	'0', 'and no background worker runs');
$plain->stop;

# --- worker_role empty: handlers run as their owners --------------------------------------------
my $node = rq_node('owner',
	"regen_queue.databases = 'postgres'\nregen_queue.drain_interval = 100ms\n");
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION regen_queue;
CREATE ROLE app_owner;
CREATE SCHEMA app AUTHORIZATION app_owner;
CREATE TABLE app.seen (job_id uuid, who name, super boolean);
ALTER TABLE app.seen OWNER TO app_owner;
-- pg_authid is readable by superusers only: the handler records whether it could read it.
CREATE FUNCTION app.record(j regen_queue.job_queue) RETURNS jsonb LANGUAGE plpgsql
SET search_path = app, pg_catalog AS $$
DECLARE
    could_read_authid boolean := true;
BEGIN
    BEGIN
        PERFORM count(*) FROM pg_catalog.pg_authid;
    EXCEPTION WHEN insufficient_privilege THEN
        could_read_authid := false;
    END;
    INSERT INTO seen VALUES (j.id, current_user, could_read_authid);
    RETURN '{}';
END $$;
ALTER FUNCTION app.record(regen_queue.job_queue) OWNER TO app_owner;
SELECT regen_register_handler('plan_regeneration', 'app.record(regen_queue.job_queue)');
});
$job = rq_enqueue($node, 'postgres');
ok( poll_until(
		$node, 'postgres', "SELECT status FROM regen_queue.job_queue WHERE id = '$job'",
		'completed', 30),
	'the background worker ran the job');
is( $node->safe_psql('postgres', "SELECT who || ' ' || super FROM app.seen WHERE job_id = '$job'"),
	'app_owner false',
	'with worker_role empty, the handler ran as its function\'s owner, without superuser rights');
$node->stop;

# --- worker_role that cannot log in ---------------------------------------------------------------
$node->append_conf('postgresql.conf', "regen_queue.worker_role = 'nologin_worker'\n");
# The role does not exist yet: the worker says so and is retried with backoff.
my $log_offset = -s $node->logfile;
$node->start;
ok( poll_until(
		$node, 'postgres',
		"SELECT pg_read_file('" . $node->logfile . "', $log_offset, 1000000)"
		  . " LIKE '%regen_queue.worker_role \"nologin_worker\" does not exist%'",
		't', 30),
	'a missing worker_role is reported by name');
$node->safe_psql(
	'postgres', q{
CREATE ROLE nologin_worker NOLOGIN;
GRANT USAGE ON SCHEMA regen_queue TO nologin_worker;
GRANT SELECT ON regen_queue.job_queue, regen_queue.handler TO nologin_worker;
GRANT UPDATE (status, attempts, result, last_error, scheduled_for, started_at, completed_at,
              updated_at, lease_owner, lease_expires_at, lease_drain, lease_size, run_alone)
    ON regen_queue.job_queue TO nologin_worker;
GRANT USAGE ON SCHEMA app TO nologin_worker;
GRANT INSERT ON app.seen TO nologin_worker;
GRANT EXECUTE ON FUNCTION app.record(regen_queue.job_queue) TO nologin_worker;
});
$job = rq_enqueue($node, 'postgres');
ok( poll_until(
		$node, 'postgres', "SELECT status FROM regen_queue.job_queue WHERE id = '$job'",
		'completed', 90),
	'once the role exists, the worker (restarted with backoff) drains as it');
is( $node->safe_psql('postgres', "SELECT who || ' ' || super FROM app.seen WHERE job_id = '$job'"),
	'nologin_worker false', 'a NOLOGIN worker_role runs the handlers');

# --- the token in the server log ------------------------------------------------------------------
my $secret = 'tok-' . join('', map { ('a' .. 'z')[ rand 26 ] } 1 .. 24);
$log_offset = -s $node->logfile;
# PostgreSQL::Test::Cluster logs every statement; the README's rotation recipe turns that off
# for the session that sets the token, which PostgreSQL would otherwise log as written.
$node->safe_psql('postgres',
	"SET log_statement = 'none'; ALTER SYSTEM SET regen_queue.worker_token = '$secret';"
	  . " SELECT pg_reload_conf()");
ok(wait_for_setting($node, 'regen_queue.worker_token', $secret), 'the new token is in effect');
ok( poll_until(
		$node, 'postgres',
		"SELECT pg_read_file('" . $node->logfile . "', $log_offset, 1000000)"
		  . " LIKE '%parameter \"regen_queue.worker_token\" changed to \"********\"%'",
		't', 30),
	'the reload is logged with the token masked');
# A statement and an error that quote the token are masked too, statement text included.
my ($out, $err) = ('', '');
$node->psql('postgres', "SELECT 1 FROM \"regen_nothing_$secret\"",
	stdout => \$out, stderr => \$err);
like($err, qr/does not exist/, 'the client still gets its error in full');
$node->safe_psql('postgres', "ALTER SYSTEM RESET regen_queue.worker_token; SELECT pg_reload_conf()");
ok(wait_for_setting($node, 'regen_queue.worker_token', ''), 'the token is reset');
my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/\Q$secret\E/, 'the server log never shows the token');
$node->stop;

done_testing();
