#!/usr/bin/env bash
# The HTTP shim's integration tests (test/shim/*.pl), as root:
#
#   bash test/shim/run.sh                        # build regen-queue-http, run every test
#   REGEN_SHIM_BIN=/path/regen-queue-http bash test/shim/run.sh   # test that binary instead
#   bash test/shim/run.sh 020_auth.pl            # only these files (names in test/shim/)
#   PROVE_FLAGS=-v bash test/shim/run.sh          # extra prove flags
#
# Each test starts its own PostgreSQL 15 node (PostgreSQL::Test::Cluster, with the installed
# regen_queue preloaded) and its own shims on 127.0.0.1 ports 18100-18149, and uses curl as the
# client. PostgreSQL refuses to run as root, so prove runs as the postgres user in a copy of
# test/shim; the copy (with tmp_check/log: server and shim logs) is removed when every test
# passes and kept, its path printed, when one fails. Prints prove's output, "Files=.., Tests=.."
# included; the exit status is prove's.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pgbin=/usr/lib/postgresql/15/bin
pgxs=/usr/lib/postgresql/15/lib/pgxs

if [[ "$(id -u)" -ne 0 ]]; then
    echo "run.sh: run as root (the tests run as the postgres user)" >&2
    exit 1
fi

work=$(mktemp -d /tmp/regen-shim-tests.XXXXXX)
chmod 755 "$work"

if [[ -n "${REGEN_SHIM_BIN:-}" ]]; then
    bin=$(realpath "$REGEN_SHIM_BIN")
else
    echo "building regen-queue-http in $work/build"
    cmake -S "$repo" -B "$work/build" -DREGEN_BUILD_TESTS=OFF >"$work/build.log" 2>&1 &&
        cmake --build "$work/build" -j2 >>"$work/build.log" 2>&1 ||
        { cat "$work/build.log" >&2; echo "run.sh: build failed" >&2; exit 1; }
    bin=$work/build/regen-queue-http
fi
if ! runuser -u postgres -- test -x "$bin"; then
    echo "run.sh: $bin is not executable by the postgres user" >&2
    exit 1
fi

cp -r "$repo/test/shim" "$work/shim"
chown -R postgres: "$work"

tests=()
for name in "$@"; do tests+=("shim/$(basename "$name")"); done
if ((${#tests[@]} == 0)); then
    for file in "$work"/shim/*.pl; do tests+=("shim/$(basename "$file")"); done
fi

status=0
(cd "$work" && runuser -u postgres -- env \
    PATH="$pgbin:$PATH" \
    PERL5LIB="$pgxs/src/test/perl:$work/shim${PERL5LIB:+:$PERL5LIB}" \
    PG_REGRESS="$pgxs/src/test/regress/pg_regress" \
    TESTDIR="$work" \
    REGEN_SHIM_BIN="$bin" \
    prove ${PROVE_FLAGS:-} "${tests[@]}") || status=$?

if ((status == 0)); then
    rm -rf "$work"
else
    echo "run.sh: a test failed; logs are kept in $work/tmp_check/log" >&2
fi
exit "$status"
