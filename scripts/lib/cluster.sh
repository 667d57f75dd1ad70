# shellcheck shell=bash
# Helpers for scripts that build regen_queue and run it in a throwaway PostgreSQL 15 cluster.
# Source it from bash, as root (PostgreSQL itself runs as the postgres user):
#
#   source scripts/lib/cluster.sh
#   rq_build_install
#   rq_cluster_start demo 5491 "regen_queue.databases = 'demo'"
#   rq_psql -d postgres -c 'SELECT 1'
#   rq_poll "SELECT count(*) = 0 FROM regen_queue.job_queue WHERE status = 'pending'" 30 demo
#   rq_cluster_stop
#
# A cluster lives in a fresh temporary directory (data, unix socket and server log) that is
# removed when it stops. rq_cluster_start installs an exit trap, so a script that fails or is
# interrupted never leaves a server running. Servers listen on 127.0.0.1 and the socket only.

RQ_PGBIN=${RQ_PGBIN:-/usr/lib/postgresql/15/bin}
RQ_REPO_ROOT=${RQ_REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
RQ_CLUSTER_DIRS=()
RQ_CHILD_PIDS=()

rq_log() {
    printf '%s\n' "$*" >&2
}

rq_as_postgres() {
    runuser -u postgres -- "$@"
}

# Build the extension with PGXS and install it into PostgreSQL 15 (needs root).
rq_build_install() {
    local pg_config="$RQ_PGBIN/pg_config"
    make -C "$RQ_REPO_ROOT" PG_CONFIG="$pg_config" &&
        make -C "$RQ_REPO_ROOT" PG_CONFIG="$pg_config" install
}

# Start a cluster: rq_cluster_start NAME PORT [extra postgresql.conf lines...].
# Exports PGHOST (the socket directory), PGPORT and PGUSER, and RQ_CLUSTER_DIR and RQ_SERVER_LOG.
rq_cluster_start() {
    local name=$1 port=$2
    shift 2

    local dir
    dir=$(mktemp -d "/tmp/rq-$name.XXXXXX") || return 1
    chown postgres: "$dir"
    RQ_CLUSTER_DIRS+=("$dir")
    rq_install_cleanup_trap

    rq_as_postgres "$RQ_PGBIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 \
        --no-instructions >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; return 1; }

    # Later lines win, so the caller's extra lines override these defaults.
    {
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $port"
        echo "unix_socket_directories = '$dir'"
        echo "cluster_name = 'rq-$name'"
        echo "shared_preload_libraries = 'regen_queue,pg_cron'"
        echo "cron.database_name = 'postgres'"
        echo "cron.use_background_workers = on"
        echo "max_worker_processes = 32"
        echo "log_line_prefix = '%m [%p] %b %q%u@%d '"
        printf '%s\n' "$@"
    } >>"$dir/data/postgresql.conf"

    export RQ_CLUSTER_DIR=$dir RQ_SERVER_LOG=$dir/server.log
    export PGHOST=$dir PGPORT=$port PGUSER=postgres

    if ! rq_as_postgres "$RQ_PGBIN/pg_ctl" -D "$dir/data" -l "$RQ_SERVER_LOG" -w -t 60 \
        start >/dev/null; then
        rq_log "rq_cluster_start: the server did not start; end of $RQ_SERVER_LOG:"
        tail -n 20 "$RQ_SERVER_LOG" >&2
        return 1
    fi

    local tries
    for ((tries = 0; tries < 60; tries++)); do
        "$RQ_PGBIN/pg_isready" -q -h "$dir" -p "$port" && return 0
        sleep 0.5
    done
    rq_log "rq_cluster_start: the server is not accepting connections after 30 s"
    return 1
}

# Run psql as postgres against the current cluster, stopping at the first error.
rq_psql() {
    rq_as_postgres "$RQ_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"
}

# Poll until a boolean query answers true: rq_poll SQL TIMEOUT_S [DATABASE].
rq_poll() {
    local sql=$1 timeout_s=$2 db=${3:-${PGDATABASE:-postgres}}
    local deadline=$((SECONDS + timeout_s)) answer=""
    while ((SECONDS < deadline)); do
        answer=$(rq_psql -d "$db" -tAc "$sql" 2>&1) && [[ "$answer" == t ]] && return 0
        sleep 0.2
    done
    rq_log "rq_poll: not true after ${timeout_s} s: $sql"
    rq_log "rq_poll: last answer: $answer"
    return 1
}

# Copy a cluster's server log to /tmp before its directory goes away.
rq_save_log() {
    local dir=$1 saved
    saved="/tmp/$(basename "$dir")-server.log"
    [[ -f "$dir/server.log" ]] && cp "$dir/server.log" "$saved" && rq_log "server log kept at $saved"
}

# Stop a cluster and remove its directory: rq_cluster_stop [DIR] (default: the latest one).
# With RQ_KEEP_LOG=1 the server log is kept.
rq_cluster_stop() {
    local dir=${1:-${RQ_CLUSTER_DIR:-}}
    [[ -n "$dir" && -d "$dir" ]] || return 0

    if [[ -f "$dir/data/postmaster.pid" ]]; then
        rq_as_postgres "$RQ_PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null ||
            rq_log "rq_cluster_stop: pg_ctl stop failed for $dir"
    fi
    [[ "${RQ_KEEP_LOG:-}" != 1 ]] || rq_save_log "$dir"
    rm -rf "$dir"

    local kept=() d
    for d in "${RQ_CLUSTER_DIRS[@]}"; do
        [[ "$d" == "$dir" ]] || kept+=("$d")
    done
    RQ_CLUSTER_DIRS=("${kept[@]}")
    [[ "${RQ_CLUSTER_DIR:-}" != "$dir" ]] || unset RQ_CLUSTER_DIR RQ_SERVER_LOG
}

# Have a background process (a shim, say) stopped with the clusters: rq_track_pid PID.
rq_track_pid() {
    RQ_CHILD_PIDS+=("$1")
    rq_install_cleanup_trap
}

# Stop every process and cluster this shell started, keeping the server logs when it failed.
rq_cleanup() {
    local status=$? dir pid
    for pid in "${RQ_CHILD_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    RQ_CHILD_PIDS=()
    for dir in "${RQ_CLUSTER_DIRS[@]}"; do
        ((status == 0)) || [[ "${RQ_KEEP_LOG:-}" == 1 ]] || rq_save_log "$dir"
        rq_cluster_stop "$dir"
    done
    return "$status"
}

# Make sure the clusters stop however the script ends (normal exit, error, Ctrl-C, kill).
rq_install_cleanup_trap() {
    trap rq_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}
