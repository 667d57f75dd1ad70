# Shared helpers of the HTTP handlers' integration tests: a PostgreSQL 15 node with regen_queue
# preloaded and its background worker draining the database "postgres", the generation service
# (REGEN_GENSERVICE_BIN, test/http/gen_service.cpp) started and stopped as a child process, its
# GET /stats read with a raw socket to 127.0.0.1, polls with deadlines, job helpers, and an
# independent check of a request signature (Digest::SHA, not the extension's code).
package HttpTest;

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256_hex sha256_hex);
use Encode qw(encode_utf8);
use Exporter 'import';
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use PostgreSQL::Test::Cluster;
use RegenSettings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

our @EXPORT = qw(http_node set_system gs_start gs_stop gs_stats gs_reset gs_url
  free_port register_http enqueue enqueue_many job_row jobs_where wait_jobs poll_until
  sql_until log_until worker_pid signature_check slurp_log);

my $json = JSON::PP->new->utf8->canonical;
my @services;    # generation services still running, killed at END if a test died early

$SIG{PIPE} = 'IGNORE';

# A node with regen_queue preloaded, its worker draining "postgres" every 200 ms, and the
# extension created there. Options: lease_timeout (default '300s'), log_statement (default
# 'all', as PostgreSQL::Test::Cluster sets it), conf (more postgresql.conf lines).
sub http_node
{
	my ($name, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);

	$node->init;
	$node->append_conf(
		'postgresql.conf',
		"shared_preload_libraries = 'regen_queue'\n"
		  . "max_worker_processes = 16\n"
		  . "regen_queue.databases = 'postgres'\n"
		  . "regen_queue.drain_interval = 200ms\n"
		  . "regen_queue.lease_timeout = '"
		  . ($opt{lease_timeout} // '300s') . "'\n"
		  . "log_statement = '"
		  . ($opt{log_statement} // 'all') . "'\n"
		  . ($opt{conf} // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION regen_queue');
	ok( sql_until($node, "SELECT count(*) FROM pg_stat_activity"
			  . " WHERE backend_type = 'regen_queue worker' AND datname = 'postgres'",
			'1', 60),
		'the background worker of "postgres" runs');
	return $node;
}

# --- generation service ---------------------------------------------------------------------

# Start regen-test-genservice on 127.0.0.1:$port with extra flags @args; returns a handle once
# it printed its "listening" line.
sub gs_start
{
	my ($port, @args) = @_;
	my $bin = $ENV{REGEN_GENSERVICE_BIN};

	BAIL_OUT('REGEN_GENSERVICE_BIN is not set') unless defined $bin && -x $bin;
	BAIL_OUT("port $port is outside 18500-18549") unless $port >= 18500 && $port <= 18549;
	my $log =
	  "$PostgreSQL::Test::Utils::tmp_check/genservice_${port}_" . int(time() * 1000) . '.log';
	my $pid = fork();
	BAIL_OUT("fork: $!") unless defined $pid;
	if ($pid == 0)
	{
		# The child never returns into the test (whose END blocks would stop its nodes).
		open(STDIN, '<', '/dev/null') or POSIX::_exit(127);
		open(STDOUT, '>>', $log) or POSIX::_exit(127);
		open(STDERR, '>>', $log) or POSIX::_exit(127);
		{ exec($bin, '--port', $port, @args) };
		print STDERR "exec $bin: $!\n";
		POSIX::_exit(127);
	}
	my $service = { pid => $pid, port => $port, log => $log, args => [@args] };
	push @services, $service;

	my $deadline = time() + 30;
	while (time() < $deadline)
	{
		return $service if slurp_log($log) =~ /^listening on 127\.0\.0\.1:$port$/m;
		if (waitpid($pid, WNOHANG) == $pid)
		{
			@services = grep { $_ != $service } @services;
			BAIL_OUT("regen-test-genservice exited at start:\n" . slurp_log($log));
		}
		usleep(20_000);
	}
	BAIL_OUT("regen-test-genservice does not listen on $port after 30 s:\n" . slurp_log($log));
}

# SIGTERM, then wait for the exit (SIGKILL after 30 s); returns the wait status.
sub gs_stop
{
	my ($service) = @_;
	return $service->{status} if defined $service->{status};

	kill('TERM', $service->{pid});
	my $deadline = time() + 30;
	while (waitpid($service->{pid}, WNOHANG) == 0)
	{
		if (time() > $deadline)
		{
			kill('KILL', $service->{pid});
			waitpid($service->{pid}, 0);
			last;
		}
		usleep(20_000);
	}
	$service->{status} = $?;
	@services = grep { $_ != $service } @services;
	return $service->{status};
}

# One request to the service with a raw socket; returns (status, body) or () when none came.
sub _request
{
	my ($service, $method, $path) = @_;
	my $socket = IO::Socket::INET->new(
		PeerAddr => '127.0.0.1',
		PeerPort => $service->{port},
		Proto => 'tcp',
		Timeout => 5) or return ();
	my $length = $method eq 'POST' ? "Content-Length: 0\r\n" : '';
	print $socket "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\n${length}Connection: close\r\n\r\n";

	my $select = IO::Select->new($socket);
	my $buffer = '';
	my $deadline = time() + 10;
	while (time() < $deadline)
	{
		next unless $select->can_read(0.1);
		my $read = sysread($socket, $buffer, 65536, length $buffer);
		last if !$read;
	}
	close($socket);
	return () unless $buffer =~ m{^HTTP/1\.\d (\d{3})[^\r]*\r\n.*?\r\n\r\n(.*)$}s;
	return ($1, $2);
}

# GET /stats, decoded; dies when the service does not answer.
sub gs_stats
{
	my ($service) = @_;
	my ($status, $body) = _request($service, 'GET', '/stats');
	die "GET /stats on port $service->{port} got no answer\n" unless defined $status;
	die "GET /stats answered $status: $body\n" unless $status == 200;
	return $json->decode($body);
}

sub gs_reset
{
	my ($service) = @_;
	my ($status) = _request($service, 'POST', '/reset');
	die "POST /reset did not answer 200\n" unless ($status // 0) == 200;
	return;
}

# The URL of a call on the service: gs_url($service, '/generate', status => 503, ...).
sub gs_url
{
	my ($service, $path, @query) = @_;
	my @pairs;
	while (my ($name, $value) = splice(@query, 0, 2))
	{
		push @pairs, "$name=$value";
	}
	return "http://127.0.0.1:$service->{port}$path" . (@pairs ? '?' . join('&', @pairs) : '');
}

# A port in 18500-18549 where nothing listens: bound and closed again here, then checked.
sub free_port
{
	my ($port) = @_;
	my $listener = IO::Socket::INET->new(
		LocalAddr => '127.0.0.1',
		LocalPort => $port,
		Proto => 'tcp',
		ReuseAddr => 1,
		Listen => 1) or BAIL_OUT("port $port is taken: $!");
	close($listener);
	my $probe = IO::Socket::INET->new(
		PeerAddr => '127.0.0.1',
		PeerPort => $port,
		Proto => 'tcp',
		Timeout => 2);
	BAIL_OUT("something listens on $port") if $probe;
	return $port;
}

# --- jobs -----------------------------------------------------------------------------------

sub _quote
{
	my ($value) = @_;
	return 'NULL' unless defined $value;
	$value =~ s/'/''/g;
	return "'$value'";
}

# Register $type's HTTP handler; %opt: endpoint, timeout, max_concurrency (undef: NULL).
sub register_http
{
	my ($node, $type, %opt) = @_;
	$node->safe_psql('postgres',
		    "SELECT regen_register_http_handler("
		  . _quote($type) . ', '
		  . _quote($opt{endpoint}) . ', '
		  . _quote($opt{timeout})
		  . '::interval, '
		  . ($opt{max_concurrency} // 'NULL') . ')');
	return;
}

# Enqueue one job of $type; %opt: overrides (JSON text), user_id, max_attempts. Returns its id.
sub enqueue
{
	my ($node, $type, %opt) = @_;
	return (enqueue_many($node, $type, 1, %opt))[0];
}

# Enqueue $n jobs of $type in one statement; returns their ids.
sub enqueue_many
{
	my ($node, $type, $n, %opt) = @_;
	my $ids = $node->safe_psql(
		'postgres',
		"SELECT (regen_enqueue(gen_random_uuid(), "
		  . _quote($opt{overrides} // '{}')
		  . "::jsonb, user_id => "
		  . _quote($opt{user_id})
		  . "::uuid, max_attempts => "
		  . ($opt{max_attempts} // 3)
		  . ", job_type => "
		  . _quote($type)
		  . ")).id FROM generate_series(1, $n)");
	return split /\n/, $ids;
}

# One job as a hash of its columns, plus due_in_s (scheduled_for - now(), seconds).
sub job_row
{
	my ($node, $id) = @_;
	my $text = $node->safe_psql('postgres',
		    "SELECT row_to_json(j)::text FROM (SELECT *,"
		  . " extract(epoch FROM scheduled_for - now())::float8 AS due_in_s"
		  . " FROM regen_queue.job_queue WHERE id = '$id') j");
	return $text eq '' ? undef : $json->decode(encode_utf8($text));
}

# Jobs matching a WHERE clause, counted.
sub jobs_where
{
	my ($node, $where) = @_;
	return $node->safe_psql('postgres', "SELECT count(*) FROM regen_queue.job_queue WHERE $where");
}

# Wait until every job of @$ids satisfies $condition (SQL over regen_queue.job_queue columns,
# default: status IN ('completed', 'failed')); true when they did within $timeout_s.
sub wait_jobs
{
	my ($node, $ids, $condition, $timeout_s) = @_;
	$condition //= "status IN ('completed', 'failed')";
	my $list = join(',', map { "'$_'" } @$ids);
	return sql_until($node,
		"SELECT count(*) FROM regen_queue.job_queue WHERE id IN ($list) AND ($condition)",
		scalar(@$ids), $timeout_s // 60);
}

# Call $check until it returns true or $timeout_s passes; true when it did.
sub poll_until
{
	my ($check, $timeout_s, $what) = @_;
	my $deadline = time() + $timeout_s;
	while (1)
	{
		my $done = eval { $check->() };
		return 1 if $done;
		if (time() > $deadline)
		{
			diag "poll_until gave up after $timeout_s s" . (defined $what ? ": $what" : '')
			  . ($@ ? " (last error: $@)" : '');
			return 0;
		}
		usleep(100_000);
	}
}

# Run $sql until it prints $expected, at most $timeout_s; true when it did.
sub sql_until
{
	my ($node, $sql, $expected, $timeout_s) = @_;
	my $last = '';
	my $done = poll_until(
		sub {
			my ($stdout, $stderr) = ('', '');
			$node->psql('postgres', $sql, stdout => \$stdout, stderr => \$stderr);
			$last = "$stdout$stderr";
			return $stdout eq $expected && $stderr eq '';
		},
		$timeout_s);
	diag "sql_until: $sql\nexpected: $expected\nlast output: $last" unless $done;
	return $done;
}

# Wait until the node's server log matches $regex (read from byte $offset on, default 0), at
# most $timeout_s; true when it did. A log line is a record that a state that lasts only until
# the next attempt did happen.
sub log_until
{
	my ($node, $regex, $timeout_s, $offset) = @_;
	return poll_until(
		sub { substr(slurp_log($node->logfile), $offset // 0) =~ $regex },
		$timeout_s, "server log line $regex");
}

# PID of the background worker of "postgres" ('' when none runs).
sub worker_pid
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		    "SELECT coalesce(string_agg(pid::text, ','), '') FROM pg_stat_activity"
		  . " WHERE backend_type = 'regen_queue worker' AND datname = 'postgres'");
}

# Check the signature of a call as /stats records it ({target, timestamp, signature, body})
# with $secret, the way README.md's "Request signatures" says a service should: returns
# (whether it matches, the expected header value).
sub signature_check
{
	my ($last, $secret) = @_;
	return (0, undef) unless defined $last->{timestamp} && defined $last->{signature};
	my $body = encode_utf8($last->{body});
	my $base = join("\n", $last->{timestamp}, 'POST', $last->{target}, sha256_hex($body));
	my $expected = 'v1=' . hmac_sha256_hex($base, $secret);
	return ($last->{signature} eq $expected, $expected);
}

sub slurp_log
{
	my ($path) = @_;
	return -e $path ? PostgreSQL::Test::Utils::slurp_file($path) : '';
}

END
{
	# A test that died early leaves no service running; the test's exit status stays.
	local $?;
	for my $service (@services)
	{
		kill('KILL', $service->{pid});
		waitpid($service->{pid}, 0);
	}
}

1;
