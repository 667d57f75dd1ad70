#!/usr/bin/env bash
# Run the pgTAP suites (test/pgtap/*.sql) with pg_prove in a throwaway cluster on
# 127.0.0.1:5492 that preloads regen_queue. Each suite creates the extensions it needs inside
# its own transaction and rolls back, so suites do not see each other's objects.
#
#   bash scripts/pgtap.sh [test/pgtap/FILE.sql ...]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/cluster.sh
source "$here/lib/cluster.sh"

readonly DB=regen_pgtap PORT=${RQ_PGTAP_PORT:-5492}

suites=("$@")
if ((${#suites[@]} == 0)); then
    mapfile -t suites < <(ls "$repo"/test/pgtap/*.sql)
fi

rq_cluster_start pgtap "$PORT" "regen_queue.databases = ''" >/dev/null
rq_psql -d postgres -c "CREATE DATABASE $DB"
# pg_prove connects as postgres; the suites read from the repository.
chmod -R o+rX "$repo/test/pgtap"
rq_as_postgres pg_prove --ext .sql -h "$PGHOST" -p "$PORT" -U postgres -d "$DB" "${suites[@]}"
