# Overrides and handler errors in databases whose encoding does not map one character to one
# UTF-8 code point, where converting text to UTF-8 for the checks of src/core can go wrong:
#   - MULE_INTERNAL, a server encoding PostgreSQL has no conversion to or from UTF8 for: an
#     enqueue of a plain ASCII topic must work, and a handler's error must be stored as the job's
#     last_error without failing the rest of the drain;
#   - EUC_JIS_2004, where one character (such as KA with a semi-voiced mark, 0xA4F7) is two
#     Unicode code points: the README counts the lengths of topic and notes in code points, so
#     such a character counts twice (length() counts it once).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RegenQueueTest;
use Test::More;

my $node = rq_node('encodings_review', "regen_queue.databases = ''\n");

for my $encoding (qw(MULE_INTERNAL EUC_JIS_2004))
{
	my $db = 'rq_' . lc $encoding;
	$node->safe_psql('postgres',
		    "CREATE DATABASE $db ENCODING '$encoding' LC_COLLATE 'C' LC_CTYPE 'C'"
		  . " TEMPLATE template0");
	$node->safe_psql(
		$db, q{
CREATE EXTENSION regen_queue;
-- Fails for good when the topic is "fail", with an ASCII message; returns the topic otherwise.
CREATE FUNCTION public.h(j regen_queue.job_queue) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF j.payload #>> '{overrides,topic}' = 'fail' THEN
        RAISE EXCEPTION 'plain failure' USING ERRCODE = 'RQ001', DETAIL = 'ascii detail';
    END IF;
    RETURN jsonb_build_object('topic', j.payload #>> '{overrides,topic}');
END $$;
SELECT regen_register_handler('plan_regeneration', 'public.h(regen_queue.job_queue)');
});
}

# --- MULE_INTERNAL ---------------------------------------------------------------------------

is(rq_sqlstate($node, 'rq_mule_internal',
		q{SELECT regen_enqueue(gen_random_uuid(), '{"topic": "Cafe basics"}')}),
	'', 'MULE_INTERNAL: an ASCII topic is accepted');
is(rq_sqlstate($node, 'rq_mule_internal',
		q{SELECT regen_enqueue(gen_random_uuid(), '{"topic": "ab"}')}),
	'22023', 'MULE_INTERNAL: a topic of two characters is refused with 22023');
is(rq_sqlstate($node, 'rq_mule_internal',
		q{SELECT regen_enqueue(gen_random_uuid(), '{"colour": "red"}')}),
	'22023', 'MULE_INTERNAL: an unknown key is refused with 22023');

# Jobs queued directly, whatever regen_enqueue makes of their text.
$node->safe_psql(
	'rq_mule_internal', q{
TRUNCATE regen_queue.job_queue;
INSERT INTO regen_queue.job_queue (plan_id, payload, max_attempts)
SELECT gen_random_uuid(), jsonb_build_object('overrides', jsonb_build_object('topic', t)), 1
  FROM (VALUES ('fail'), ('fine one'), ('fine two')) AS c(t);
});
is(rq_sqlstate($node, 'rq_mule_internal', 'SELECT regen_drain()'),
	'', 'MULE_INTERNAL: a drain with a failing handler succeeds');
is( $node->safe_psql(
		'rq_mule_internal',
		"SELECT string_agg(payload #>> '{overrides,topic}' || '=' || status || '/'"
		  . " || coalesce(last_error, '-'), ', ' ORDER BY payload #>> '{overrides,topic}')"
		  . " FROM regen_queue.job_queue"),
	'fail=failed/RQ001: plain failure (ascii detail), fine one=completed/-, '
	  . 'fine two=completed/-',
	'MULE_INTERNAL: the failing job is failed with its error, the others completed');

# --- EUC_JIS_2004 ----------------------------------------------------------------------------

# KA with a semi-voiced mark: U+304B U+309A in Unicode, one character in EUC_JIS_2004.
my $ka = q{convert_from('\xe3818be3829a'::bytea, 'UTF8')};
is($node->safe_psql('rq_euc_jis_2004', "SELECT length($ka) || '/' || octet_length($ka)"),
	'1/2', 'EUC_JIS_2004: KA with a semi-voiced mark is one character of two bytes');

# Lengths count Unicode code points (README, Overrides): such a character counts twice.
is(rq_sqlstate($node, 'rq_euc_jis_2004',
		"SELECT regen_enqueue(gen_random_uuid(), jsonb_build_object('topic', repeat($ka, 2)))"),
	'', 'EUC_JIS_2004: a topic of two such characters (four code points) is accepted');
is(rq_sqlstate($node, 'rq_euc_jis_2004',
		"SELECT regen_enqueue(gen_random_uuid(), jsonb_build_object('topic', $ka))"),
	'22023', 'EUC_JIS_2004: a topic of one such character (two code points) is too short');
is( rq_sqlstate(
		$node,
		'rq_euc_jis_2004',
		"SELECT regen_enqueue(gen_random_uuid(), jsonb_build_object('topic', 'Kana notes',"
		  . " 'notes', repeat($ka, 1001)))"),
	'22023',
	'EUC_JIS_2004: notes of 1,001 such characters (2,002 code points) are refused');
is( rq_sqlstate(
		$node,
		'rq_euc_jis_2004',
		"SELECT regen_enqueue(gen_random_uuid(), jsonb_build_object('topic', 'Kana notes',"
		  . " 'notes', repeat($ka, 1000)))"),
	'',
	'EUC_JIS_2004: notes of 1,000 such characters (2,000 code points) are accepted');
is( $node->safe_psql(
		'rq_euc_jis_2004',
		"SELECT length(payload #>> '{overrides,notes}') FROM regen_queue.job_queue"
		  . " WHERE payload #>> '{overrides,topic}' = 'Kana notes'"),
	'1000',
	'EUC_JIS_2004: the notes are stored whole');

$node->stop;
done_testing();
