# A reload that arrives while the background worker is in the middle of a drain still takes
# effect within one interval: a handler that sleeps swallows the worker's latch (pg_sleep waits
# on it), so the worker must not rely on the latch alone to learn that drain_interval changed.
# First with the worker idle when the reload comes (the ordinary case), then with it draining.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RegenQueueTest;
use Test::More;

# A long interval: a job queued without a wake-up waits for it, unless the new one applies.
my $node = rq_node('reload_mid_drain',
	    "regen_queue.databases = 'postgres'\n"
	  . "regen_queue.drain_interval = 1h\n"
	  . "regen_queue.inline_processing = on\n");
rq_install($node, 'postgres');

# The handler of job type "nap" sleeps 4 s: the reload below arrives during that sleep.
$node->safe_psql(
	'postgres', q{
CREATE FUNCTION public.nap(j regen_queue.job_queue) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(4);
    RETURN '{"napped": true}';
END $$;
SELECT regen_register_handler('nap', 'public.nap(regen_queue.job_queue)');
});

ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'regen_queue worker'",
		'1', 30),
	'the worker of postgres runs');

sub set_interval
{
	my ($value) = @_;
	$node->safe_psql('postgres',
		"ALTER SYSTEM SET regen_queue.drain_interval = '$value'; SELECT pg_reload_conf();");
	return wait_for_setting($node, 'regen_queue.drain_interval', $value);
}

# A job the worker is not woken for: only a drain of its interval picks it up.
sub enqueue_unannounced
{
	my ($topic) = @_;
	return $node->safe_psql('postgres',
		    "SET regen_queue.inline_processing = off; "
		  . "SELECT (regen_enqueue(gen_random_uuid(), '{\"topic\": \"$topic\"}')).id");
}

sub status_of
{
	my ($id) = @_;
	return "SELECT status FROM regen_queue.job_queue WHERE id = '$id'";
}

# --- The reload comes while the worker idles ------------------------------------------------

ok(set_interval('1h'), 'drain_interval is 1h');
ok(set_interval('200ms'), 'drain_interval reloaded as 200ms while the worker idles');
my $idle_case = enqueue_unannounced('after an idle reload');
ok(poll_until($node, 'postgres', status_of($idle_case), 'completed', 20),
	'a job queued without a wake-up runs within the new interval');

# --- The reload comes while the worker drains ----------------------------------------------

ok(set_interval('1h'), 'drain_interval is 1h again');
my $nap = rq_enqueue($node, 'postgres', '{}', "job_type => 'nap'");
ok(poll_until($node, 'postgres', status_of($nap), 'processing', 20),
	'the enqueue woke the worker, which runs the sleeping handler');
ok(set_interval('200ms'), 'drain_interval reloaded as 200ms while the handler sleeps');
ok(poll_until($node, 'postgres', status_of($nap), 'completed', 20),
	'the sleeping handler finished');

my $late = enqueue_unannounced('after a reload mid-drain');
ok(poll_until($node, 'postgres', status_of($late), 'completed', 20),
	'a job queued without a wake-up after that drain runs within the new interval, '
	  . 'not the old hour');

$node->stop;
done_testing();
