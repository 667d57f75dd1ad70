# shellcheck shell=bash
# Runs one of the project's Perl TAP suites (test/<suite>/*.pl) as the postgres user, for the
# suites' run.sh scripts (test/shim/run.sh, test/http/run.sh). Source it from bash, as root:
#
#   source scripts/lib/prove_as_postgres.sh
#   rq_prove_suite shim REGEN_SHIM_BIN regen-queue-http -DREGEN_BUILD_TESTS=OFF -- "$@"
#
# rq_prove_suite SUITE BIN_VAR TARGET [CMAKE_OPTION...] -- [TEST_FILE...]
#   SUITE        the folder under test/ (its *.pl files and its helper modules)
#   BIN_VAR      the environment variable naming the binary the tests need; when it is set,
#                that binary is used, otherwise TARGET is built with cmake in the work folder
#   TARGET       the CMake target, configured with the CMAKE_OPTIONs
#   TEST_FILE    names of test files in test/SUITE (default: all of them)
# PROVE_FLAGS in the environment adds prove flags (say -v).
#
# PostgreSQL refuses to run as root, so prove runs as postgres in a copy of test/SUITE made in a
# fresh folder under /tmp; that folder (with tmp_check/log: server and service logs) is removed
# when every test passes and kept, its path printed, when one fails. Prints prove's output,
# "Files=.., Tests=.." included; returns prove's exit status.

RQ_PROVE_REPO=${RQ_PROVE_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
RQ_PROVE_PGBIN=/usr/lib/postgresql/15/bin
RQ_PROVE_PGXS=/usr/lib/postgresql/15/lib/pgxs

# Build TARGET in WORK/build: rq_prove_build WORK TARGET [CMAKE_OPTION...]; prints the binary.
rq_prove_build() {
    local work=$1 target=$2
    shift 2

    echo "building $target in $work/build" >&2
    if ! { cmake -S "$RQ_PROVE_REPO" -B "$work/build" "$@" >"$work/build.log" 2>&1 &&
        cmake --build "$work/build" --target "$target" -j2 >>"$work/build.log" 2>&1; }; then
        cat "$work/build.log" >&2
        echo "run.sh: build failed" >&2
        return 1
    fi
    echo "$work/build/$target"
}

rq_prove_suite() {
    local suite=$1 bin_var=$2 target=$3
    shift 3
    local cmake_options=()
    while (($# > 0)) && [[ "$1" != -- ]]; do
        cmake_options+=("$1")
        shift
    done
    [[ "${1:-}" != -- ]] || shift

    if [[ "$(id -u)" -ne 0 ]]; then
        echo "run.sh: run as root (the tests run as the postgres user)" >&2
        return 1
    fi

    local work bin
    work=$(mktemp -d "/tmp/regen-$suite-tests.XXXXXX")
    chmod 755 "$work"

    if [[ -n "${!bin_var:-}" ]]; then
        bin=$(realpath "${!bin_var}")
    else
        bin=$(rq_prove_build "$work" "$target" "${cmake_options[@]}") || return 1
    fi
    if ! runuser -u postgres -- test -x "$bin"; then
        echo "run.sh: $bin is not executable by the postgres user" >&2
        return 1
    fi

    cp -r "$RQ_PROVE_REPO/test/$suite" "$work/$suite"
    cp -r "$RQ_PROVE_REPO/test/perl" "$work/perl" # helpers the suites share
    chown -R postgres: "$work"

    local tests=() name file
    for name in "$@"; do tests+=("$suite/$(basename "$name")"); done
    if ((${#tests[@]} == 0)); then
        for file in "$work/$suite"/*.pl; do tests+=("$suite/$(basename "$file")"); done
    fi

    local status=0
    # shellcheck disable=SC2086 # PROVE_FLAGS holds several words on purpose
    (cd "$work" && runuser -u postgres -- env \
        PATH="$RQ_PROVE_PGBIN:$PATH" \
        PERL5LIB="$RQ_PROVE_PGXS/src/test/perl:$work/$suite:$work/perl${PERL5LIB:+:$PERL5LIB}" \
        PG_REGRESS="$RQ_PROVE_PGXS/src/test/regress/pg_regress" \
        TESTDIR="$work" \
        "$bin_var=$bin" \
        prove ${PROVE_FLAGS:-} "${tests[@]}") || status=$?

    if ((status == 0)); then
        rm -rf "$work"
    else
        echo "run.sh: a test failed; logs are kept in $work/tmp_check/log" >&2
    fi
    return "$status"
}
