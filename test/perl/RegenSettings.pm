# Settings of a test node changed the way an operator changes them, for the Perl TAP suites of
# test/shim and test/http (scripts/lib/prove_as_postgres.sh puts this folder on PERL5LIB).
package RegenSettings;

use strict;
use warnings;

use Exporter 'import';
use Test::More;
use Time::HiRes qw(usleep time);

our @EXPORT = qw(set_system);

# ALTER SYSTEM SET (or RESET, for undef) regen_queue.<name> for each pair, reload, and wait
# until a new session sees every value. The statements are not logged (a secret may be one).
sub set_system
{
	my ($node, %settings) = @_;
	my $sql = "SET log_statement = 'none';\n";

	for my $name (sort keys %settings)
	{
		my $value = $settings{$name};
		$sql .=
		  defined $value
		  ? "ALTER SYSTEM SET regen_queue.$name = '$value';\n"
		  : "ALTER SYSTEM RESET regen_queue.$name;\n";
	}
	$node->safe_psql('postgres', $sql . 'SELECT pg_reload_conf();');

	my $deadline = time() + 30;
	for my $name (sort keys %settings)
	{
		my $want = $settings{$name};
		while (1)
		{
			my $got = $node->safe_psql('postgres',
				"SET log_statement = 'none'; SHOW regen_queue.$name");
			last if !defined $want || $got eq $want || _same_setting($got, $want);
			BAIL_OUT("regen_queue.$name did not become the value set") if time() > $deadline;
			usleep(100_000);
		}
	}
	# The postmaster signals its children after new sessions see the value; background processes
	# apply it at their next wait. A short grace keeps what the test does next really later.
	usleep(500_000);
	return;
}

# SHOW normalises units ('5s' may read '5s', '64kB' may read '64kB'); compare loosely.
sub _same_setting
{
	my ($got, $want) = @_;
	(my $g = lc $got) =~ s/\s+//g;
	(my $w = lc $want) =~ s/\s+//g;
	return $g eq $w;
}

1;
