# What a handler leaves behind when it returns must not decide how its job is completed.
#
# 1. A job whose completion cannot be written fails its attempt, and nothing its handler did may
#    commit: not its rows, and not its notifications either. A handler whose only effect is a
#    NOTIFY takes no transaction id, so the drain treats it as one that "wrote nothing" and
#    completes it with the batch's statement at the end; when that statement is refused for one
#    job, the job's NOTIFY must not go out with the rest of the batch, once per failed attempt. A
#    handler that also writes a row (its job is completed in its own subtransaction) is checked
#    alongside. Each job's notifications are counted by a session that LISTENs during the drain.
# 2. Settings a handler changes are undone when it returns (README, Handlers): one that makes its
#    transaction read-only after its work is done completes like one that wrote nothing.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RegenQueueTest;
use Test::More;

my $node = rq_node('refused_notify', "regen_queue.databases = ''\n");
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION regen_queue;
CREATE TABLE public.effect (topic text NOT NULL);

-- Announces the job and nothing else.
CREATE FUNCTION public.announce(j regen_queue.job_queue) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rq_effect', j.payload #>> '{overrides,topic}');
    RETURN '{"announced": true}';
END $$;

-- Announces the job and records it.
CREATE FUNCTION public.record(j regen_queue.job_queue) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.effect VALUES (j.payload #>> '{overrides,topic}');
    PERFORM pg_notify('rq_effect', j.payload #>> '{overrides,topic}');
    RETURN '{"recorded": true}';
END $$;

SELECT regen_register_handler('announce', 'public.announce(regen_queue.job_queue)');
SELECT regen_register_handler('record', 'public.record(regen_queue.job_queue)');

-- Refuses to store the completion of jobs whose topic starts with "refused".
CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'completed' AND NEW.payload #>> '{overrides,topic}' LIKE 'refused%' THEN
        RAISE EXCEPTION 'refusing to complete %', NEW.payload #>> '{overrides,topic}';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse BEFORE UPDATE ON regen_queue.job_queue
    FOR EACH ROW EXECUTE FUNCTION public.refuse();
});

# Two attempts each, in one batch: the refused ones fail their first attempt and are retried.
my @jobs = (
	[ 'kept announce',    'announce' ],
	[ 'refused announce', 'announce' ],
	[ 'kept record',      'record' ],
	[ 'refused record',   'record' ]);
for my $job (@jobs)
{
	rq_enqueue($node, 'postgres', qq({"topic": "$job->[0]"}),
		"max_attempts => 2, job_type => '$job->[1]'");
}

# Drain in a session that listens; psql prints each notification it was sent.
sub drain_and_listen
{
	my ($stdout, $stderr) = ('', '');
	$node->psql(
		'postgres',
		"LISTEN rq_effect;\nSELECT regen_drain();\nSELECT pg_sleep(0.5);\nSELECT 1;",
		stdout => \$stdout,
		stderr => \$stderr);
	my %heard;
	$heard{$1}++
	  while $stdout =~ /Asynchronous notification "rq_effect" with payload "([^"]*)"/g;
	return %heard;
}

sub statuses
{
	return $node->safe_psql('postgres',
		    "SELECT string_agg(payload #>> '{overrides,topic}' || '=' || status || '/' || attempts,"
		  . " ', ' ORDER BY payload #>> '{overrides,topic}') FROM regen_queue.job_queue");
}

# --- 1. Notifications of refused completions ---------------------------------------------

my %heard = drain_and_listen();
is(statuses(),
	'kept announce=completed/1, kept record=completed/1, refused announce=pending/1, '
	  . 'refused record=pending/1',
	'the refused jobs failed their first attempt, the others completed');
is($heard{'kept announce'} // 0, 1, 'the completed announcing job was announced once');
is($heard{'kept record'} // 0,   1, 'the completed recording job was announced once');
is($heard{'refused record'} // 0, 0,
	'the refused recording job (its own subtransaction) was not announced');
is($heard{'refused announce'} // 0, 0,
	'the refused announcing job (completed by the batch statement) was not announced');

# The second and last attempt of the refused jobs.
$node->safe_psql('postgres',
	"UPDATE regen_queue.job_queue SET scheduled_for = now() WHERE status = 'pending'");
%heard = drain_and_listen();
is(statuses(),
	'kept announce=completed/1, kept record=completed/1, refused announce=failed/2, '
	  . 'refused record=failed/2',
	'the refused jobs failed for good at their second attempt');
is($heard{'refused announce'} // 0, 0,
	'no announcement of the refused announcing job at its second attempt either');
is($heard{'refused record'} // 0, 0, 'nor of the refused recording job');
is($node->safe_psql('postgres', 'SELECT string_agg(topic, \',\' ORDER BY topic) FROM effect'),
	'kept record', 'only the completed recording job left its row');

# --- 2. Settings changed by the handler ------------------------------------------------------

$node->safe_psql(
	'postgres', q{
DROP TRIGGER refuse ON regen_queue.job_queue;
TRUNCATE regen_queue.job_queue, public.effect;

-- Each does its work, then makes the rest of its transaction read-only (SET LOCAL).
CREATE FUNCTION public.read_only_after(j regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF j.payload #>> '{overrides,topic}' LIKE '%writes' THEN
        INSERT INTO public.effect VALUES (j.payload #>> '{overrides,topic}');
    END IF;
    PERFORM set_config('transaction_read_only', 'on', true);
    RETURN '{"done": true}';
END $$;
SELECT regen_register_handler('read_only_after', 'public.read_only_after(regen_queue.job_queue)');
});
for my $topic ('read-only reads', 'read-only writes')
{
	rq_enqueue($node, 'postgres', qq({"topic": "$topic"}),
		"max_attempts => 1, job_type => 'read_only_after'");
}
$node->safe_psql('postgres', 'SELECT regen_drain()');
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(payload #>> '{overrides,topic}' || '=' || status || '/'"
		  . " || coalesce(last_error, '-'), ', ' ORDER BY payload #>> '{overrides,topic}')"
		  . " FROM regen_queue.job_queue"),
	'read-only reads=completed/-, read-only writes=completed/-',
	'a read-only setting left by the handler does not fail its completion, write or no write');
is($node->safe_psql('postgres', 'SELECT string_agg(topic, \',\' ORDER BY topic) FROM effect'),
	'read-only writes', 'the writing handler\'s row is kept');

$node->stop;
done_testing();
