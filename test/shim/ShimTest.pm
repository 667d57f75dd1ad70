# Shared helpers of the shim's integration tests: a PostgreSQL 15 node with regen_queue preloaded
# and a role for the shim, the real regen-queue-http binary (REGEN_SHIM_BIN) started and stopped
# as a child process with its standard error kept in a file, the real curl as the HTTP client,
# and a raw socket client for what curl cannot do (a body that never comes, a trickle).
#
# The test handler public.h(job) looks at the job's overrides.topic:
#   "sleep N"  sleeps N seconds, then completes;
#   "fail now" fails at once for good (RQ001);
#   anything else completes with {"ok": true, "topic": <topic>}.
package ShimTest;

use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempfile);
use IO::Select;
use IO::Socket::INET;
use IPC::Run;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use PostgreSQL::Test::Cluster;
use RegenSettings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

our @EXPORT = qw(shim_node set_system new_plan_id job_count shim_start shim_stop shim_wait shim_alive
  shim_log http http_until raw_connect raw_read_response wait_closed metric_value
  is_uuid slurp_log);

my $json = JSON::PP->new->canonical;
my @started;    # shims still running, killed at the end if a test died early

$SIG{PIPE} = 'IGNORE';    # a write to a socket the shim closed must not end the test

# A node with regen_queue preloaded, the extension, the test handler and the role "shim" with
# the grants the shim needs (the ones of the shim's documentation, no more). The statement log
# is off, PostgreSQL's default, so that setting the token does not write it to the log.
# %params go to PostgreSQL::Test::Cluster->new (port => N for a fixed port).
sub shim_node
{
	my ($name, $extra_conf, %params) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name, %params);

	$node->init;
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'regen_queue'\n"
		  . "max_worker_processes = 16\n"
		  . "log_statement = 'none'\n"
		  . ($extra_conf // ''));
	$node->start;
	$node->safe_psql(
		'postgres', q{
CREATE EXTENSION regen_queue;
CREATE FUNCTION public.h(j regen_queue.job_queue) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    topic text := j.payload->'overrides'->>'topic';
BEGIN
    IF topic LIKE 'sleep %' THEN
        PERFORM pg_sleep(substr(topic, 7)::float8);
    ELSIF topic = 'fail now' THEN
        RAISE EXCEPTION 'told to fail' USING ERRCODE = 'RQ001';
    END IF;
    RETURN jsonb_build_object('ok', true, 'topic', topic);
END $$;
SELECT regen_register_handler('plan_regeneration', 'public.h(regen_queue.job_queue)');
CREATE ROLE shim LOGIN;
GRANT EXECUTE ON FUNCTION regen_enqueue(uuid, jsonb, uuid, integer, timestamptz, integer, text)
    TO shim;
GRANT USAGE ON SCHEMA regen_queue TO shim;
GRANT EXECUTE ON FUNCTION regen_drain(integer), regen_stats(),
    regen_queue.http_check_token(bytea), regen_queue.http_request_overrides(text) TO shim;
GRANT SELECT ON regen_queue.job_queue, regen_queue.handler TO shim;
GRANT UPDATE (status, attempts, result, last_error, scheduled_for, started_at, completed_at,
              updated_at, lease_owner, lease_expires_at, lease_drain, lease_size, run_alone)
    ON regen_queue.job_queue TO shim;
REVOKE EXECUTE ON FUNCTION public.h(regen_queue.job_queue) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.h(regen_queue.job_queue) TO shim;
});
	return $node;
}

sub new_plan_id
{
	my ($node) = @_;
	return $node->safe_psql('postgres', 'SELECT gen_random_uuid()');
}

# Rows of regen_queue.job_queue, optionally filtered by a WHERE clause.
sub job_count
{
	my ($node, $where) = @_;
	return $node->safe_psql('postgres',
		'SELECT count(*) FROM regen_queue.job_queue' . (defined $where ? " WHERE $where" : ''));
}

sub is_uuid
{
	my ($text) = @_;
	return defined $text
	  && $text =~ /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
}

# Start regen-queue-http on 127.0.0.1:$port against $node as the role "shim"; @args are extra
# flags. Returns a handle once the port accepts connections.
sub shim_start
{
	my ($node, $port, @args) = @_;
	my $bin = $ENV{REGEN_SHIM_BIN};

	BAIL_OUT('REGEN_SHIM_BIN is not set') unless defined $bin && -x $bin;
	my $log = "$PostgreSQL::Test::Utils::tmp_check/shim_${port}_" . scalar(@started) . '.log';
	my $conninfo = sprintf('host=%s port=%d dbname=postgres user=shim', $node->host, $node->port);
	my @command = ($bin, '--listen', "127.0.0.1:$port", '--database-url', $conninfo, @args);

	my $pid = fork();
	BAIL_OUT("fork: $!") unless defined $pid;
	if ($pid == 0)
	{
		# The child never returns into the test (whose END blocks would stop its nodes).
		open(STDIN, '<', '/dev/null') or POSIX::_exit(127);
		open(STDOUT, '>>', $log) or POSIX::_exit(127);
		open(STDERR, '>>', $log) or POSIX::_exit(127);
		# The shim must not inherit the test's libpq environment: all of it is in $conninfo.
		delete @ENV{qw(PGHOST PGPORT PGDATABASE PGUSER PGSERVICE)};
		{ exec(@command) };
		print STDERR "exec $bin: $!\n";
		POSIX::_exit(127);
	}
	my $shim = { pid => $pid, port => $port, log => $log, url => "http://127.0.0.1:$port" };
	push @started, $shim;

	my $deadline = time() + 30;
	while (time() < $deadline)
	{
		my $socket = IO::Socket::INET->new(
			PeerAddr => '127.0.0.1',
			PeerPort => $port,
			Proto => 'tcp');
		if ($socket)
		{
			close($socket);
			note "started regen-queue-http (pid $pid) on port $port: @args";
			return $shim;
		}
		BAIL_OUT("regen-queue-http exited at start:\n" . slurp_log($log))
		  unless shim_alive($shim);
		usleep(50_000);
	}
	BAIL_OUT("regen-queue-http does not listen on $port after 30 s:\n" . slurp_log($log));
}

# Whether the shim's process is still running (reaps it, keeping its wait status, when not).
sub shim_alive
{
	my ($shim) = @_;
	return 0 if defined $shim->{status};
	my $done = waitpid($shim->{pid}, WNOHANG);
	return 1 if $done == 0;
	$shim->{status} = $?;
	@started = grep { $_ != $shim } @started;
	return 0;
}

# Wait at most $timeout_s for the shim to exit; its wait status ($? form), or undef when it is
# still running.
sub shim_wait
{
	my ($shim, $timeout_s) = @_;
	my $deadline = time() + $timeout_s;

	while (1)
	{
		return $shim->{status} unless shim_alive($shim);
		return undef if time() > $deadline;
		usleep(50_000);
	}
}

# Send $signal (default TERM) and wait at most $timeout_s (60) for the exit; returns the wait
# status ($? form), or undef when it was still running (it is then killed).
sub shim_stop
{
	my ($shim, $signal, $timeout_s) = @_;
	return $shim->{status} unless shim_alive($shim);

	kill($signal // 'TERM', $shim->{pid});
	my $status = shim_wait($shim, $timeout_s // 60);
	return $status if defined $status;

	diag "regen-queue-http (pid $shim->{pid}) still runs after " . ($timeout_s // 60) . ' s';
	kill('KILL', $shim->{pid});
	waitpid($shim->{pid}, 0);
	@started = grep { $_ != $shim } @started;
	$shim->{status} = $?;
	return undef;
}

sub slurp_log
{
	my ($path) = @_;
	return -e $path ? PostgreSQL::Test::Utils::slurp_file($path) : '';
}

sub shim_log
{
	my ($shim) = @_;
	return slurp_log($shim->{log});
}

# One request with curl. Options: headers => [curl -H values], body => bytes (sent with
# --data-binary from a file, so NUL bytes survive), head => 1 (HEAD), timeout => seconds.
# Returns { status, headers => {lower-case name => [values]}, body, json, sent => [request
# header lines curl sent], exit, stderr }. status is 0 when curl got no answer.
sub http
{
	my ($shim, $method, $path, %opt) = @_;
	my ($body_fh, $body_file) = tempfile(DIR => $PostgreSQL::Test::Utils::tmp_check, UNLINK => 1);
	my ($head_fh, $head_file) = tempfile(DIR => $PostgreSQL::Test::Utils::tmp_check, UNLINK => 1);
	my @command = (
		'curl', '-q', '-sS', '-v', '--noproxy', '*',
		'--max-time', $opt{timeout} // 30,
		'-o', $body_file, '-D', $head_file, '-w', '%{http_code}');

	if ($opt{head})
	{
		push @command, '--head';
	}
	else
	{
		push @command, '-X', $method;
	}
	push @command, '-H', $_ for @{ $opt{headers} // [] };
	if (defined $opt{body})
	{
		my ($in_fh, $in_file) =
		  tempfile(DIR => $PostgreSQL::Test::Utils::tmp_check, UNLINK => 1);
		binmode $in_fh;
		print $in_fh $opt{body};
		close $in_fh;
		push @command, '-H', 'Content-Type: application/json', '--data-binary', "\@$in_file";
	}
	push @command, $shim->{url} . $path;

	my ($stdout, $stderr) = ('', '');
	$shim->{requests}++;
	IPC::Run::run(\@command, '<', \undef, '>', \$stdout, '2>', \$stderr);
	my %result = (exit => $? >> 8, stderr => $stderr, status => 0 + ($stdout || 0));

	$result{body} = PostgreSQL::Test::Utils::slurp_file($body_file);
	# With --head curl writes the header block to the output too: what follows it is a body.
	$result{body} =~ s/^.*?\r\n\r\n//s if $opt{head};
	my %headers;
	for my $line (split /\r?\n/, PostgreSQL::Test::Utils::slurp_file($head_file))
	{
		push @{ $headers{ lc $1 } }, $2 if $line =~ /^([^:\s]+):\s*(.*?)\s*$/;
	}
	$result{headers} = \%headers;
	$result{sent} = [ map { /^> (.*?)\r?$/ ? $1 : () } split /\n/, $stderr ];
	$result{json} = eval { $json->decode($result{body}) }
	  if ($headers{'content-type'}[0] // '') =~ m{^application/json};
	return \%result;
}

# Repeat a request until $done->($result) holds or $timeout_s passes; returns the last result
# and every status seen, in order.
sub http_until
{
	my ($shim, $method, $path, $done, $timeout_s, %opt) = @_;
	my $deadline = time() + $timeout_s;
	my ($result, @seen);

	while (1)
	{
		$result = http($shim, $method, $path, %opt, timeout => 10);
		my $error = $result->{json} ? $result->{json}{error} : undef;
		push @seen, $result->{status} . (defined $error ? " $error" : '');
		last if $done->($result) || time() > $deadline;
		usleep(200_000);
	}
	return ($result, @seen);
}

sub raw_connect
{
	my ($shim) = @_;
	my $socket = IO::Socket::INET->new(
		PeerAddr => '127.0.0.1',
		PeerPort => $shim->{port},
		Proto => 'tcp') or die "cannot connect to the shim: $!";
	$socket->autoflush(1);
	return $socket;
}

# Read one HTTP response from a raw socket within $timeout_s: { status, headers, body } or
# undef when none came; the body is read by Content-Length (or up to the end of the stream).
sub raw_read_response
{
	my ($socket, $timeout_s) = @_;
	my $deadline = time() + $timeout_s;
	my $select = IO::Select->new($socket);
	my $buffer = '';
	my ($head, $length);

	while (time() < $deadline)
	{
		if ($select->can_read(0.1))
		{
			my $read = sysread($socket, $buffer, 65536, length $buffer);
			last if !$read;
		}
		if (!defined $head && $buffer =~ /\r\n\r\n/)
		{
			($head) = $buffer =~ /^(.*?)\r\n\r\n/s;
			$length = $head =~ /^content-length:\s*(\d+)/im ? $1 : undef;
		}
		last if defined $head && defined $length && length($buffer) >= length($head) + 4 + $length;
	}
	($head) = $buffer =~ /^(.*?)\r\n\r\n/s unless defined $head;
	return undef unless defined $head && $head =~ m{^HTTP/1\.\d (\d{3})};

	my %result = (status => $1);
	for my $line (split /\r\n/, $head)
	{
		push @{ $result{headers}{ lc $1 } }, $2 if $line =~ /^([^:\s]+):\s*(.*?)\s*$/;
	}
	$result{body} = substr($buffer, length($head) + 4);
	$result{json} = eval { $json->decode($result{body}) };
	return \%result;
}

# Wait at most $timeout_s for the peer to close $socket (end of stream or a reset); returns the
# seconds it took, or undef when it stayed open. $trickle, when given, is sent one byte a
# second meanwhile (a client that keeps a request alive as slowly as it can).
sub wait_closed
{
	my ($socket, $timeout_s, $trickle) = @_;
	my $start = time();
	my $select = IO::Select->new($socket);
	my $next_byte = $start + 1;
	my $sent = 0;

	while (time() - $start < $timeout_s)
	{
		if ($select->can_read(0.05))
		{
			my $buffer;
			my $read = sysread($socket, $buffer, 65536);
			return time() - $start if !$read;    # 0: end of stream; undef: reset
		}
		if (defined $trickle && time() >= $next_byte)
		{
			my $byte = substr($trickle, $sent % length($trickle), 1);
			my $written = syswrite($socket, $byte);
			return time() - $start unless defined $written;    # EPIPE: closed
			$sent++;
			$next_byte += 1;
		}
	}
	return undef;
}

# The value of one Prometheus sample line (name with labels, exactly), or undef.
sub metric_value
{
	my ($text, $sample) = @_;
	return $text =~ /^\Q$sample\E (\S+)$/m ? $1 : undef;
}

END
{
	# A test that died early leaves no shim running.
	for my $shim (@started)
	{
		kill('KILL', $shim->{pid});
		waitpid($shim->{pid}, 0);
	}
}

1;
