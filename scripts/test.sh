#!/usr/bin/env bash
# Every test of regen_queue, from a fresh Debian 12 machine, as root: bash scripts/test.sh
#
# Installs what is missing (Debian packages), builds and installs the extension, then runs:
#   unit        GoogleTest over the pure C++ core (CMake, CTest), no server
#   regress     pg_regress: behaviour and errors (sql/, expected/)
#   isolation   isolation specs: drains, enqueues, completions and lease reclaims racing each
#               other (test/isolation/)
#   tap         TAP cluster tests: worker, reloads, leases, crashes and process faults, many
#               drainers with pg_cron, dropped databases, standby, dump/upgrade, retention (test/tap/)
#   pgtap       pgTAP suites with pg_prove: schema, privileges, roles without grants,
#               search_path hijacking, API contract (test/pgtap/)
#   shim        the HTTP shim's integration tests: its binary, a cluster, curl (test/shim/)
#   http        HTTP handlers against a generation service of the tests' own: results,
#               statuses, signatures, concurrency, crashes, reloads (test/http/)
#   fuzz        the shim's request parsing under libFuzzer for 60 s (test/fuzz/)
#   load        the shim under wrk for a few seconds per route: no errors, no job lost or run
#               twice (bench/http_load.sh --check)
# Every suite runs even when an earlier one failed; the last line is "N passed, N failed".
# Logs of each suite are kept in /tmp/regen_queue-test-logs/.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
pg_config=/usr/lib/postgresql/15/bin/pg_config
logs=/tmp/regen_queue-test-logs

if [[ "$(id -u)" -ne 0 ]]; then
    echo "test: run as root: it installs packages and the extension" >&2
    exit 1
fi

rm -rf "$logs"
mkdir -p "$logs"
total_passed=0
total_failed=0
summary=()

# Add a suite's counts: record NAME PASSED FAILED.
record() {
    total_passed=$((total_passed + $2))
    total_failed=$((total_failed + $3))
    summary+=("$(printf '%-10s %5d passed, %d failed' "$1" "$2" "$3")")
}

# Counts of pg_regress and pg_isolation_regress output: one line per test file.
count_regress() {
    local log=$1 passed failed
    passed=$(grep -cE '^(test | +)[^ ]+ +\.\.\. ok' "$log")
    failed=$(grep -cE '^(test | +)[^ ]+ +\.\.\. (FAILED|failed)' "$log")
    if ((passed + failed == 0)); then failed=1; fi # a suite that ran nothing failed
    echo "$passed $failed"
}

# Counts of prove or pg_prove output: one per assertion, a file that died counts as one failure.
count_prove() {
    local log=$1 tests failed died
    tests=$(sed -nE 's/^Files=[0-9]+, Tests=([0-9]+),.*/\1/p' "$log" | tail -n 1)
    failed=$(sed -nE 's/.*Failed ([0-9]+)\/[0-9]+ subtests.*/\1/p' "$log" |
        awk '{ s += $1 } END { print s + 0 }')
    died=$(grep -cE 'Wstat: [1-9]|Parse errors:|No subtests run' "$log")
    tests=${tests:-0}
    if ((failed == 0 && died > 0)); then failed=$died; fi
    if ((tests == 0 && failed == 0)); then failed=1; fi # a suite that ran nothing failed
    echo "$((tests - failed < 0 ? 0 : tests - failed)) $failed"
}

# Run a stage, its output on the terminal and in $logs/NAME.log: stage NAME COMMAND...
stage() {
    local name=$1
    shift
    printf '\n== %s\n' "$name"
    "$@" 2>&1 | tee "$logs/$name.log"
    return "${PIPESTATUS[0]}"
}

stage deps bash "$here/install-deps.sh" || { echo "test: dependencies missing" >&2; exit 1; }

if ! stage build bash -c "make -C '$repo' PG_CONFIG='$pg_config' -j2 >/dev/null &&
                          make -C '$repo' PG_CONFIG='$pg_config' install >/dev/null &&
                          echo 'built and installed regen_queue'"; then
    record build 0 1
    printf '%s\n' "${summary[@]}"
    echo "$total_passed passed, $total_failed failed"
    exit 1
fi

# Unit tests: warnings are errors here.
build=$(mktemp -d /tmp/regen_queue-build.XXXXXX)
chmod 755 "$build" # the shim suites run its binary as postgres
if stage unit bash -c "cmake -S '$repo' -B '$build' -DREGEN_WARNINGS_AS_ERRORS=ON >/dev/null &&
                       cmake --build '$build' -j2 >/dev/null &&
                       cd '$build' && ctest --output-on-failure"; then :; fi
shim_bin=$build/regen-queue-http
unit_total=$(sed -nE 's/.* tests passed, ([0-9]+) tests failed out of ([0-9]+).*/\2/p' \
    "$logs/unit.log")
unit_failed=$(sed -nE 's/.* tests passed, ([0-9]+) tests failed out of ([0-9]+).*/\1/p' \
    "$logs/unit.log")
if [[ -z "$unit_total" ]]; then record unit 0 1; else
    record unit $((unit_total - unit_failed)) "$unit_failed"; fi

stage regress bash "$here/installcheck.sh" ISOLATION= TAP_TESTS=
read -r p f < <(count_regress "$logs/regress.log")
record regress "$p" "$f"

stage isolation bash "$here/installcheck.sh" REGRESS= TAP_TESTS=
read -r p f < <(count_regress "$logs/isolation.log")
record isolation "$p" "$f"

stage tap bash "$here/installcheck.sh" REGRESS= ISOLATION=
read -r p f < <(count_prove "$logs/tap.log")
record tap "$p" "$f"

stage pgtap bash "$here/pgtap.sh"
read -r p f < <(count_prove "$logs/pgtap.log")
record pgtap "$p" "$f"

# The shim suites use the binary the unit stage built with warnings as errors.
stage shim env REGEN_SHIM_BIN="$shim_bin" bash "$repo/test/shim/run.sh"
read -r p f < <(count_prove "$logs/shim.log")
record shim "$p" "$f"

# HTTP handlers' suites use the generation service the unit stage built.
stage http env REGEN_GENSERVICE_BIN="$build/regen-test-genservice" bash "$repo/test/http/run.sh"
read -r p f < <(count_prove "$logs/http.log")
record http "$p" "$f"

# One finding fails the stage; the run itself counts as one test.
if stage fuzz bash "$repo/test/fuzz/run.sh" 60; then record fuzz 1 0; else record fuzz 0 1; fi

load_status=0
stage load env REGEN_SHIM_BIN="$shim_bin" bash "$repo/bench/http_load.sh" --check || load_status=$?
p=$(grep -cE '^ *ok ' "$logs/load.log")
f=$(grep -cE '^ *not ok ' "$logs/load.log")
if ((f == 0 && (load_status != 0 || p == 0))); then f=1; fi
record load "$p" "$f"
rm -rf "$build"

printf '\n== summary (logs in %s)\n' "$logs"
printf '%s\n' "${summary[@]}"
echo "$total_passed passed, $total_failed failed"
((total_failed == 0))
