# regen_drain() and the locks of its caller's transaction. A drain runs in a worker process, so a
# handler that needs a row its caller's transaction holds waits for the caller, which waits for
# the drain: PostgreSQL's deadlock detector cannot see that cycle (the caller waits on its latch,
# not on a lock). regen_drain() looks for it every deadlock_timeout and fails with 40P01, also
# when the cycle runs through a second caller and its drain worker.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RegenQueueTest;
use Test::More;
use Time::HiRes qw(time);

my $node = rq_node('deadlock', "regen_queue.databases = ''\ndeadlock_timeout = 200ms\n");
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION regen_queue;
CREATE TABLE public.rows (id int PRIMARY KEY, touched int NOT NULL DEFAULT 0);
INSERT INTO public.rows VALUES (1), (2);
-- Touches the row named by the job's weeklyHours override.
CREATE FUNCTION public.touch(j regen_queue.job_queue) RETURNS jsonb LANGUAGE sql AS $$
    UPDATE public.rows SET touched = touched + 1
     WHERE id = (j.payload #>> '{overrides,weeklyHours}')::int
    RETURNING jsonb_build_object('row', id)
$$;
SELECT regen_register_handler('plan_regeneration', 'public.touch(regen_queue.job_queue)');
});

# The job touching row 2 is claimed first (priority), by the first drain.
my $job_row2 = rq_enqueue($node, 'postgres', '{"weeklyHours": 2}', 'priority => 10');
my $job_row1 = rq_enqueue($node, 'postgres', '{"weeklyHours": 1}', 'priority => 5');

my $a = $node->background_psql('postgres', on_error_stop => 0);
my $b = $node->background_psql('postgres', on_error_stop => 0);
# A bound far above the detection time: a missed cycle ends with 57014, not a hang.
$a->query_safe("SET statement_timeout = '60s'");
$b->query_safe("SET statement_timeout = '60s'");

$b->query_safe('BEGIN');
$b->query_safe('UPDATE public.rows SET touched = touched WHERE id = 2');
$a->query_safe('BEGIN');
$a->query_safe('UPDATE public.rows SET touched = touched WHERE id = 1');

# A drains: its worker takes the row-2 job and waits for B's lock on row 2.
$a->query_until(qr/a_draining/, "\\echo a_draining\nSELECT regen_drain(1);\n");
ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'regen_queue drain'"
		  . " AND wait_event_type = 'Lock'",
		'1', 30),
	'the first drain worker waits for the other transaction\'s row');

# B drains: its worker takes the row-1 job and waits for A. A waits for its worker, which waits
# for B, which waits for its worker, which waits for A.
my $started = time();
$b->query_until(qr/b_draining/, "\\echo b_draining\nSELECT regen_drain(1);\n");
ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) < 2 FROM pg_stat_activity WHERE query LIKE 'SELECT regen_drain(1)%'"
		  . " AND state = 'active'",
		't', 30),
	'a caller of the cycle is released');
my $elapsed = time() - $started;
cmp_ok($elapsed, '<', 20, 'well before the 60 s statement_timeout');

$a->query('ROLLBACK');
$b->query('ROLLBACK');
my $errors = $a->{stderr} . $b->{stderr};
like($errors, qr/regen_drain\(\) would wait forever for its drain worker/,
	'the cycle through a second caller is reported as a deadlock');
unlike($errors, qr/statement timeout/, 'nobody waited for statement_timeout');
$a->quit;
$b->quit;

ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM regen_queue.job_queue WHERE status = 'completed'"
		  . " AND id IN ('$job_row1', '$job_row2')",
		'2', 30),
	'both jobs complete once the transactions are gone');
is($node->safe_psql('postgres', 'SELECT sum(touched) FROM public.rows'),
	'2', 'each job touched its row once');

$node->stop;
done_testing();
