#!/usr/bin/env bash
# Run the pgTAP suites (test/pgtap/*.sql) with pg_prove in a throwaway cluster on
# 127.0.0.1:$RQ_PGTAP_PORT (default 5492) that preloads regen_queue, with no background drains.
#
#   bash scripts/pgtap.sh [test/pgtap/FILE.sql ...]
#   RQ_PGTAP_VERBOSE=1 bash scripts/pgtap.sh      # print every test, not only the failures
#
# Setup, committed once in the fresh database before pg_prove runs:
#   1. test/pgtap/fixtures.psql: the pgtap and regen_queue extensions, the roles app_role,
#      worker_role, ops_role (and pgtap_worker_login), the handler functions and their job types;
#   2. the SQL block of README.md's "Privileges" section, as written there, so the privileges
#      suite proves exactly the GRANTs the README shows.
# It is committed because regen_drain() runs jobs in a separate worker process, which cannot see
# the uncommitted rows, handlers or grants of the caller's transaction.
#
# Suites that never drain run inside BEGIN ... ROLLBACK. Suites that drain commit their jobs,
# so they start by emptying regen_queue.job_queue and empty it again when they finish; pg_prove
# runs the suites one after the other, so each one has the queue to itself and can be re-run.
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

# The ```sql block of README.md's "## Privileges" section.
readme_grants() {
    awk '/^## / { in_section = ($0 == "## Privileges") }
         in_section && in_block && /^```/ { exit }
         in_block { print }
         in_section && $0 == "```sql" { in_block = 1 }' "$repo/README.md"
}

grants=$(readme_grants)
if [[ -z "$grants" ]]; then
    rq_log "pgtap.sh: README.md has no \`\`\`sql block in its \"Privileges\" section"
    exit 1
fi

rq_cluster_start pgtap "$PORT" "regen_queue.databases = ''" >/dev/null
rq_psql -d postgres -c "CREATE DATABASE $DB"
rq_psql -d "$DB" <"$repo/test/pgtap/fixtures.psql" >/dev/null
rq_psql -d "$DB" <<<"$grants" >/dev/null

# pg_prove connects as postgres; the suites read from the repository.
chmod -R o+rX "$repo/test/pgtap"
verbose=()
[[ "${RQ_PGTAP_VERBOSE:-}" != 1 ]] || verbose=(--verbose)
rq_as_postgres pg_prove "${verbose[@]}" --ext .sql -h "$PGHOST" -p "$PORT" -U postgres -d "$DB" "${suites[@]}"
