# Data safety: the queue survives pg_dump and restore (custom, plain and directory formats) and
# every released version updates to a catalog identical to a fresh install, keeping its jobs.
#
# No background worker runs (regen_queue.databases is empty) and the only drains are explicit
# regen_drain() calls, each preceded by a check that no HTTP handler's job could be claimed: the
# HTTP endpoint registered here must never be called.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RegenQueueTest;
use Test::More;

my $node = rq_node('dump', "regen_queue.databases = ''\n");
my $dump_dir = PostgreSQL::Test::Utils::tempdir();

# An application schema with a SQL handler; "broken" topics fail for good, "flaky" ones are
# retried. Error text and overrides carry newlines, tabs, backslashes and quotes, which a dump
# must escape.
my $app_schema = <<'SQL';
CREATE SCHEMA app;
CREATE TABLE app.regenerated (
    job_id  uuid PRIMARY KEY,
    plan_id uuid NOT NULL,
    topic   text
);
CREATE FUNCTION app.regenerate(job regen_queue.job_queue) RETURNS jsonb
LANGUAGE plpgsql SET search_path = app, pg_catalog AS $$
DECLARE
    topic text := job.payload->'overrides'->>'topic';
BEGIN
    IF topic = 'broken' THEN
        RAISE EXCEPTION E'cannot rebuild plan %\n\tsee C:\\logs, ''quoted''', job.plan_id
            USING ERRCODE = 'RQ001';
    ELSIF topic = 'flaky' THEN
        RAISE EXCEPTION 'generator busy';
    END IF;
    INSERT INTO regenerated (job_id, plan_id, topic) VALUES (job.id, job.plan_id, topic);
    RETURN jsonb_build_object('plan', job.plan_id, 'topic', topic, 'attempt', job.attempts);
END $$;
SQL

# Run a client program against the node; (success, stdout, stderr).
sub run_tool
{
	my ($program, @args) = @_;
	my ($stdout, $stderr) = ('', '');
	my $ok = IPC::Run::run [ $program, '-h', $node->host, '-p', $node->port, @args ],
	  '>', \$stdout, '2>', \$stderr;

	diag "$program @args:\n$stderr" unless $ok;
	return ($ok, $stdout, $stderr);
}

# Every row of a table as text, ordered by its key; $where narrows it.
sub rows_text
{
	my ($db, $table, $key, $where) = @_;

	$where //= '';
	return $node->safe_psql($db,
		"SELECT count(*) || E'\\n' || coalesce(string_agg(t::text, E'\\n' ORDER BY t.$key), '')"
		  . " FROM $table t $where");
}

sub jobs_text { return rows_text($_[0], 'regen_queue.job_queue', 'id', $_[1]); }
sub handlers_text { return rows_text($_[0], 'regen_queue.handler', 'job_type'); }

# The extension's version, the tables it dumps (by name) and their conditions.
sub extension_state
{
	my ($db) = @_;

	return $node->safe_psql($db,
		"SELECT extversion || ' ' || extconfig::regclass[]::text || ' ' || extcondition::text"
		  . " FROM pg_extension WHERE extname = 'regen_queue'");
}

# pg_dump --schema-only of $db with $opts, without what differs between two equal databases:
# comments, SET lines, the restrict key, OIDs, LSNs and the database's name.
sub normalised_schema
{
	my ($db, @opts) = @_;
	my ($ok, $dump) = run_tool('pg_dump', '--schema-only', @opts, $db);
	my @lines;

	return "pg_dump failed" unless $ok;
	for my $line (split /\n/, $dump)
	{
		next if $line =~ /^(--|SET |\\restrict |\\unrestrict )/;
		$line =~ s/'\d+'::pg_catalog\.oid/'<oid>'::pg_catalog.oid/g;
		$line =~ s/WHERE oid = '\d+'/WHERE oid = '<oid>'/;
		$line =~ s/'\{[\d,]+\}'/'{<oids>}'/g;
		$line =~ s/\b[0-9A-F]+\/[0-9A-F]+\b/<lsn>/g;
		$line =~ s/\b\Q$db\E\b/<db>/g;
		push @lines, $line;
	}
	my $text = join("\n", @lines);
	$text =~ s/\n{3,}/\n\n/g;
	return $text;
}

# pg_dump --data-only of $db, normalised like the schema.
sub normalised_data
{
	my ($db) = @_;
	my ($ok, $dump) = run_tool('pg_dump', '--data-only', $db);

	return "pg_dump failed" unless $ok;
	return join("\n",
		grep { !/^(--|SET |\\restrict |\\unrestrict |SELECT pg_catalog\.set_config)/ }
		  split /\n/, $dump);
}

# Stop before any drain that could claim a job of an HTTP handler (none may be due soon).
sub assert_no_http_job_claimable
{
	my ($db) = @_;
	my $claimable = $node->safe_psql(
		$db, q{
SELECT count(*) FROM regen_queue.job_queue j
  LEFT JOIN regen_queue.handler h ON h.job_type = j.job_type
 WHERE (h.job_type IS NULL OR h.handler IS NULL)
   AND ((j.status = 'pending' AND j.scheduled_for < now() + interval '1 hour')
        OR (j.status = 'processing' AND j.lease_expires_at < now() + interval '1 hour'))});

	BAIL_OUT("$db: $claimable job(s) without a SQL handler would be drained")
	  if $claimable ne '0';
	return;
}

# Ids of the pending jobs a drain would claim now, as a SQL list ('' when none).
sub due_ids
{
	my ($db) = @_;

	return $node->safe_psql($db,
		"SELECT coalesce(string_agg(quote_literal(id), ',' ORDER BY id), '')"
		  . " FROM regen_queue.job_queue WHERE status = 'pending' AND scheduled_for <= now()");
}

# Drain $db and check that exactly the jobs due before it completed through the SQL handler,
# and that every other job is unchanged.
sub drains_due_jobs
{
	my ($db, $label) = @_;
	my $due = due_ids($db);
	my $count = $due eq '' ? 0 : scalar(split /,/, $due);

	$due = 'NULL' if $due eq '';
	my $others = jobs_text($db, "WHERE id NOT IN ($due)");
	cmp_ok($count, '>', 0, "$label: there are due jobs to drain");
	assert_no_http_job_claimable($db);
	is($node->safe_psql($db, "SELECT regen_drain()->>'processedCount'"),
		$count, "$label: regen_drain() processes every due job");
	is( $node->safe_psql(
			$db,
			"SELECT count(*) FROM regen_queue.job_queue j JOIN app.regenerated r ON r.job_id = j.id"
			  . " WHERE j.id IN ($due) AND j.status = 'completed'"
			  . " AND j.result->>'topic' IS NOT DISTINCT FROM r.topic"),
		$count,
		"$label: each due job completed through the SQL handler, with its result");
	is(jobs_text($db, "WHERE id NOT IN ($due)"),
		$others, "$label: jobs that were not due are untouched by the drain");
	return;
}

# The duplicate of an active job's plan fails with 23505 and names the active job.
sub duplicate_refused
{
	my ($db, $status, $label) = @_;
	my ($id, $plan, $type) = split /\|/,
	  $node->safe_psql($db,
		"SELECT id, plan_id, job_type FROM regen_queue.job_queue j"
		  . " JOIN regen_queue.handler h USING (job_type)"
		  . " WHERE status = '$status' AND h.handler IS NOT NULL ORDER BY id LIMIT 1");
	my ($stdout, $stderr) = ('', '');

	$node->psql(
		$db,
		"SELECT regen_enqueue('$plan', job_type => '$type');\n"
		  . "\\echo SQLSTATE=:LAST_ERROR_SQLSTATE",
		stdout => \$stdout,
		stderr => \$stderr,
		on_error_stop => 0);
	like($stdout, qr/SQLSTATE=23505/,
		"$label: a second job for the plan of a $status job fails with 23505");
	like($stderr, qr/Job $id is $status\./, "$label: and its detail names the $status job");
	return;
}

# =============================================================================================
# Part 1: pg_dump and restore
# =============================================================================================

$node->safe_psql('postgres', 'CREATE DATABASE app_db');
$node->safe_psql('postgres', 'CREATE ROLE app_role; CREATE ROLE worker_role');
$node->safe_psql('app_db', "CREATE EXTENSION regen_queue;\n$app_schema" . q{
SELECT regen_register_handler('plan_regeneration', 'app.regenerate(regen_queue.job_queue)');
SELECT regen_register_handler('summary_rebuild', 'app.regenerate(regen_queue.job_queue)');
SELECT regen_register_http_handler('remote_generation', 'http://127.0.0.1:9/never-called',
                                   timeout => '2 s', max_concurrency => 3);
SELECT regen_register_http_handler('remote_default');
GRANT EXECUTE ON FUNCTION regen_enqueue(uuid, jsonb, uuid, integer, timestamptz, integer, text)
    TO app_role;
GRANT USAGE ON SCHEMA regen_queue TO worker_role;
GRANT SELECT ON regen_queue.job_queue, regen_queue.handler TO worker_role;
GRANT UPDATE (status, attempts, result, last_error) ON regen_queue.job_queue TO worker_role;
});

# Jobs that end completed, failed, or pending after a failed attempt: one drain of SQL jobs.
$node->safe_psql(
	'app_db', q{
SELECT regen_enqueue(gen_random_uuid(), '{"topic": "done first"}', gen_random_uuid(), 5);
SELECT regen_enqueue(gen_random_uuid(), '{"topic": "done second"}', job_type => 'summary_rebuild');
SELECT regen_enqueue(gen_random_uuid(), '{"topic": "broken"}', max_attempts => 2);
SELECT regen_enqueue(gen_random_uuid(), '{"topic": "flaky"}', priority => -3);
});
assert_no_http_job_claimable('app_db');
is($node->safe_psql('app_db', "SELECT regen_drain()->>'processedCount'"),
	'4', 'the original database drains its first jobs');

# The retried job's next attempt moves a day away, so that it stays out of later drains.
$node->safe_psql(
	'app_db', q{
UPDATE regen_queue.job_queue SET scheduled_for = now() + interval '1 day'
 WHERE payload->'overrides'->>'topic' = 'flaky';
});

# Jobs left as they are: due, delayed, of HTTP handlers (never due), cancelled, and jobs put
# into processing with a live lease or completed by hand, as a drain would leave them.
$node->safe_psql(
	'app_db', q{
SELECT regen_enqueue(gen_random_uuid(),
    '{"topic": "all overrides", "notes": "line one\nline two\ttab \\\\ back ''q''",'
    ' "skillLevel": "advanced", "weeklyHours": 80, "learningStyle": "video",'
    ' "startDate": "2030-01-02", "deadlineDate": null}', gen_random_uuid(), 1000000, NULL, 100);
SELECT regen_enqueue(gen_random_uuid(), '{"topic": "lowest priority"}', NULL, -1000000,
                     max_attempts => 1);
SELECT regen_enqueue(gen_random_uuid(), '{"topic": "a summary"}', job_type => 'summary_rebuild');
SELECT regen_enqueue(gen_random_uuid(), NULL);
SELECT regen_enqueue(gen_random_uuid(), '{"topic": "next week"}',
                     run_at => now() + interval '7 days');
SELECT regen_enqueue(gen_random_uuid(), '{"topic": "remote"}', run_at => now() + interval '30 days',
                     job_type => 'remote_generation');
SELECT regen_enqueue(gen_random_uuid(), '{"topic": "remote default"}',
                     run_at => now() + interval '30 days', job_type => 'remote_default');
SELECT regen_cancel((regen_enqueue(gen_random_uuid(), '{"topic": "cancelled"}')).id);

SELECT regen_enqueue(gen_random_uuid(), '{"topic": "in flight"}',
                     run_at => now() + interval '30 days');
SELECT regen_enqueue(gen_random_uuid(), '{"topic": "remote in flight"}',
                     run_at => now() + interval '30 days', job_type => 'remote_generation');
SELECT regen_enqueue(gen_random_uuid(), '{"topic": "remote done"}',
                     run_at => now() + interval '30 days', job_type => 'remote_generation');
});

# A statement does not see the rows its own regen_enqueue() calls insert: change them after.
$node->safe_psql(
	'app_db', q{
UPDATE regen_queue.job_queue
   SET status = 'processing', attempts = 1, scheduled_for = now(), started_at = now(),
       lease_owner = 4242, lease_expires_at = now() + interval '1 day', lease_drain = 17,
       lease_size = 2, run_alone = true, updated_at = now()
 WHERE payload->'overrides'->>'topic' IN ('in flight', 'remote in flight');
UPDATE regen_queue.job_queue
   SET status = 'completed', attempts = 1, started_at = now(), completed_at = now(),
       result = '{"plan": "from the service", "modules": [1, 2, 3]}', updated_at = now()
 WHERE payload->'overrides'->>'topic' = 'remote done';
});

is( $node->safe_psql(
		'app_db',
		"SELECT string_agg(DISTINCT status::text, ',')"
		  . " || '/' || bool_or(status = 'pending' AND scheduled_for > now())"
		  . " || '/' || bool_or(status = 'pending' AND last_error IS NOT NULL)"
		  . " || '/' || bool_or(status = 'failed' AND last_error LIKE 'RQ001:%')"
		  . " || '/' || bool_or(status = 'completed' AND result IS NOT NULL)"
		  . " || '/' || bool_or(status = 'processing' AND lease_expires_at > now())"
		  . " FROM regen_queue.job_queue"),
	'completed,failed,pending,processing/true/true/true/true/true',
	'the original database has jobs in every status, delayed, retried and leased');

my %source = (
	jobs => jobs_text('app_db'),
	handlers => handlers_text('app_db'),
	app_rows => rows_text('app_db', 'app.regenerated', 'job_id'),
	extension => extension_state('app_db'),
	schema => normalised_schema('app_db'),
	catalog => normalised_schema('app_db', '--binary-upgrade'),
	data => normalised_data('app_db'));

like($source{schema}, qr/GRANT SELECT ON TABLE regen_queue\.job_queue TO worker_role;/,
	'the original schema dump carries the grants made on the extension\'s tables');
like($source{catalog}, qr/ALTER EXTENSION regen_queue ADD TABLE regen_queue\.job_queue;/,
	'the catalog dump lists the extension\'s members');

like($source{data}, qr/^COPY regen_queue\.job_queue /m,
	'a data dump of the original includes the job queue');

my %formats = (
	custom => sub {
		my ($db) = @_;
		my $file = "$dump_dir/app.dump";
		return (run_tool('pg_dump', '-Fc', '-f', $file, 'app_db'))[0]
		  && (run_tool('pg_restore', '--exit-on-error', '-d', $db, $file))[0];
	},
	plain => sub {
		my ($db) = @_;
		my $file = "$dump_dir/app.sql";
		return (run_tool('pg_dump', '-Fp', '-f', $file, 'app_db'))[0]
		  && (run_tool('psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $db, '-f', $file))[0];
	},
	directory_parallel => sub {
		my ($db) = @_;
		my $dir = "$dump_dir/app.dir";
		return (run_tool('pg_dump', '-Fd', '-j', '2', '-f', $dir, 'app_db'))[0]
		  && (run_tool('pg_restore', '--exit-on-error', '-j', '2', '-d', $db, $dir))[0];
	});

for my $format (sort keys %formats)
{
	my $db = "restored_$format";

	$node->safe_psql('postgres', "CREATE DATABASE $db");
	ok($formats{$format}->($db), "$format: pg_dump and its restore succeed");

	is(jobs_text($db), $source{jobs}, "$format: every job row is restored column by column");
	is(handlers_text($db), $source{handlers}, "$format: the handler registry is restored");
	is(rows_text($db, 'app.regenerated', 'job_id'),
		$source{app_rows}, "$format: the handler's own table is restored");
	is(extension_state($db), $source{extension},
		"$format: same extension version and dumped tables");
	is(normalised_schema($db), $source{schema}, "$format: pg_dump --schema-only is the same");
	is(normalised_schema($db, '--binary-upgrade'),
		$source{catalog}, "$format: the extension's catalog objects are the same");
	is(normalised_data($db), $source{data}, "$format: a dump of the restored data is the same");

	is( $node->safe_psql(
			$db,
			"SELECT has_function_privilege('app_role', 'regen_enqueue(uuid, jsonb, uuid, integer,"
			  . " timestamptz, integer, text)', 'EXECUTE')"
			  . " || '/' || has_function_privilege('app_role', 'regen_drain(integer)', 'EXECUTE')"
			  . " || '/' || has_column_privilege('worker_role', 'regen_queue.job_queue', 'status',"
			  . " 'UPDATE')"
			  . " || '/' || has_column_privilege('worker_role', 'regen_queue.job_queue', 'plan_id',"
			  . " 'UPDATE')"),
		'true/false/true/false',
		"$format: granted privileges are restored and nothing more is granted");
	is( $node->safe_psql(
			$db,
			"SELECT i.indisunique AND i.indisvalid AND i.indisready"
			  . " AND pg_get_indexdef(i.indexrelid) LIKE '%WHERE (status = ANY%'"
			  . " FROM pg_index i"
			  . " WHERE i.indexrelid = 'regen_queue.job_queue_one_active_idx'::regclass"),
		't', "$format: the one-active-job-per-plan index is there, unique and valid");

	duplicate_refused($db, 'pending', $format);
	duplicate_refused($db, 'processing', $format);

	my $before = $node->safe_psql($db, 'SELECT count(*) FROM regen_queue.job_queue');
	is( $node->safe_psql(
			$db,
			"SELECT j.status || '/' || (j.created_at = now()) || '/' || j.attempts"
			  . " FROM regen_enqueue(gen_random_uuid(), '{\"topic\": \"after restore\"}') j"),
		'pending/true/0', "$format: regen_enqueue() works with the restored defaults");
	is($node->safe_psql($db, 'SELECT count(*) FROM regen_queue.job_queue'),
		$before + 1, "$format: the new job is stored next to the restored ones");

	drains_due_jobs($db, $format);
}

# =============================================================================================
# Part 2: every released version updates to what a fresh install creates
# =============================================================================================

my ($default_version, $all_versions) = split /\|/,
  $node->safe_psql('postgres',
	"SELECT e.default_version, string_agg(v.version, ' '"
	  . " ORDER BY string_to_array(v.version, '.')::int[])"
	  . " FROM pg_available_extensions e"
	  . " JOIN pg_available_extension_versions v USING (name)"
	  . " WHERE name = 'regen_queue' GROUP BY e.default_version");
my @versions = split / /, $all_versions;

# The scripts in src/sql name the same versions (the suite runs from the top of the tree).
if (-d 'src/sql')
{
	my %named;
	for my $script (glob 'src/sql/regen_queue--*.sql')
	{
		$named{$_} = 1 for grep { defined } ($script =~ /--([\d.]+)(?:--([\d.]+))?\.sql$/);
	}
	is(join(' ', sort { version_cmp($a, $b) } keys %named),
		$all_versions, 'the installed versions are those of the scripts in src/sql');
}
cmp_ok(scalar @versions, '>=', 2, "at least two versions are available: @versions");
is($versions[-1], $default_version, 'the default version is the newest');

# Order of two dotted version numbers.
sub version_cmp
{
	my @a = split /\./, $_[0];
	my @b = split /\./, $_[1];

	while (@a || @b)
	{
		my $order = (shift(@a) // 0) <=> (shift(@b) // 0);
		return $order if $order;
	}
	return 0;
}

# A database at $version with the application schema and, when $with_jobs, a handler and
# jobs: completed, failed, pending with a failed attempt, due, delayed and processing.
sub versioned_database
{
	my ($db, $version, $with_jobs) = @_;

	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, "CREATE EXTENSION regen_queue VERSION '$version';\n$app_schema");
	return unless $with_jobs;

	$node->safe_psql(
		$db, q{
SELECT regen_register_handler('plan_regeneration', 'app.regenerate(regen_queue.job_queue)');
SELECT regen_enqueue(gen_random_uuid(), '{"topic": "done before"}', gen_random_uuid(), 7);
SELECT regen_enqueue(gen_random_uuid(), '{"topic": "broken"}');
SELECT regen_enqueue(gen_random_uuid(), '{"topic": "flaky"}', max_attempts => 5);
});
	assert_no_http_job_claimable($db);
	$node->safe_psql(
		$db, q{
SELECT regen_drain();
UPDATE regen_queue.job_queue SET scheduled_for = now() + interval '1 day'
 WHERE payload->'overrides'->>'topic' = 'flaky';
SELECT regen_enqueue(gen_random_uuid(), '{"topic": "due", "weeklyHours": 3}',
                     gen_random_uuid(), 2, NULL, 9);
SELECT regen_enqueue(gen_random_uuid(), '{"topic": "due too", "skillLevel": "beginner"}');
SELECT regen_enqueue(gen_random_uuid(), '{"topic": "later"}', run_at => now() + interval '2 days');
SELECT regen_enqueue(gen_random_uuid(), '{"topic": "running"}',
                     run_at => now() + interval '2 days');
});
	$node->safe_psql(
		$db, q{
UPDATE regen_queue.job_queue
   SET status = 'processing', attempts = 1, started_at = now(), lease_owner = 99,
       lease_expires_at = now() + interval '1 day', lease_drain = 1, lease_size = 1
 WHERE payload->'overrides'->>'topic' = 'running';
});
	is( $node->safe_psql(
			$db,
			"SELECT string_agg(DISTINCT status::text, ',')"
			  . " || '/' || bool_or(status = 'pending' AND scheduled_for > now())"
			  . " || '/' || bool_or(status = 'pending' AND scheduled_for <= now())"
			  . " FROM regen_queue.job_queue"),
		'completed,failed,pending,processing/true/true',
		"$version: jobs in every status, due and delayed, before the update");
	return;
}

my %fresh;
for my $target (@versions[ 1 .. $#versions ])
{
	(my $tag = $target) =~ s/\./_/g;
	versioned_database("fresh_$tag", $target, 0);
	$fresh{$target} = {
		schema => normalised_schema("fresh_$tag"),
		catalog => normalised_schema("fresh_$tag", '--binary-upgrade'),
		extension => extension_state("fresh_$tag"),
	};
}

for my $from_index (0 .. $#versions - 1)
{
	for my $target (@versions[ $from_index + 1 .. $#versions ])
	{
		my $from = $versions[$from_index];
		my $label = "$from to $target";
		(my $db = "updated_${from}_to_$target") =~ s/\./_/g;

		versioned_database($db, $from, 1);
		my $jobs_before = jobs_text($db);
		my $handlers_before = rows_text($db,
			'(SELECT job_type, handler, registered_at, registered_by FROM regen_queue.handler)',
			'job_type');

		# What an administrator types: a bare UPDATE for the newest version.
		$node->safe_psql($db,
			$target eq $default_version
			? 'ALTER EXTENSION regen_queue UPDATE'
			: "ALTER EXTENSION regen_queue UPDATE TO '$target'");

		is(extension_state($db), $fresh{$target}{extension},
			"$label: version and dumped tables as in a fresh install");
		is(normalised_schema($db, '--binary-upgrade'),
			$fresh{$target}{catalog}, "$label: every catalog object as in a fresh install");
		is(normalised_schema($db), $fresh{$target}{schema},
			"$label: pg_dump --schema-only as in a fresh install");
		is(jobs_text($db), $jobs_before, "$label: the jobs are unchanged by the update");
		is( rows_text(
				$db,
				'(SELECT job_type, handler, registered_at, registered_by'
				  . ' FROM regen_queue.handler)',
				'job_type'),
			$handlers_before,
			"$label: the handler registry is unchanged by the update");

		drains_due_jobs($db, $label);

		# The tables are still dumped with their data once updated. pg_dump records no
		# extension version, so the copy gets $target before the restore (whose CREATE
		# EXTENSION IF NOT EXISTS then keeps it).
		my $file = "$dump_dir/$db.dump";
		my $copy = "${db}_copy";
		ok((run_tool('pg_dump', '-Fc', '-f', $file, $db))[0], "$label: pg_dump -Fc succeeds");
		$node->safe_psql('postgres', "CREATE DATABASE $copy");
		$node->safe_psql($copy, "CREATE EXTENSION regen_queue VERSION '$target'");
		ok((run_tool('pg_restore', '--exit-on-error', '-d', $copy, $file))[0],
			"$label: the dump restores into a database at $target");
		is(extension_state($copy), extension_state($db),
			"$label: the copy is at $target with the same dumped tables");
		is(jobs_text($copy), jobs_text($db), "$label: the dump has every job");
		is(handlers_text($copy), handlers_text($db), "$label: and every handler");
		next if $target eq $default_version;

		# Restored as is, the dump of $target gets the newest version and keeps its rows.
		my $newest = "${db}_newest";
		$node->safe_psql('postgres', "CREATE DATABASE $newest");
		ok((run_tool('pg_restore', '--exit-on-error', '-d', $newest, $file))[0],
			"$label: the dump restores where the extension is not created yet");
		is(extension_state($newest), extension_state("fresh_" . ($default_version =~ s/\./_/gr)),
			"$label: that restore creates the newest version");
		is(jobs_text($newest), jobs_text($db), "$label: with every job");
		is( rows_text(
				$newest,
				'(SELECT job_type, handler, registered_at, registered_by'
				  . ' FROM regen_queue.handler)',
				'job_type'),
			$handlers_before,
			"$label: and every handler");
	}
}

$node->stop;
done_testing();
