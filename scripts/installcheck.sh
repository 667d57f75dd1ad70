#!/usr/bin/env bash
# Run `make installcheck` (pg_regress, isolation specs, TAP cluster tests) against the installed
# extension. PostgreSQL refuses to run as root, so the suites run as the postgres user in a
# copy of the tree; extra arguments go to make:
#
#   bash scripts/installcheck.sh                     # every suite
#   bash scripts/installcheck.sh ISOLATION= TAP_TESTS=     # pg_regress only
#   bash scripts/installcheck.sh REGRESS= ISOLATION= PROVE_TESTS=test/tap/010_lease.pl
#
# The copy is removed when every suite passes, and kept (its path printed) when one fails, with
# regression.diffs, output_iso/ and tmp_check/log/ inside.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}

work=$(mktemp -d /tmp/rq-installcheck.XXXXXX)
tar -C "$repo" --exclude=./.git --exclude=./build --exclude='./tmp_check*' \
    --exclude=./results --exclude=./output_iso -cf - . | tar -C "$work" -xf -
chown -R postgres: "$work"

status=0
runuser -u postgres -- make -C "$work" --no-print-directory PG_CONFIG="$pg_config" \
    installcheck "$@" || status=$?

if ((status == 0)); then
    rm -rf "$work"
else
    echo "installcheck: failed; diffs and logs are kept in $work" >&2
fi
exit "$status"
