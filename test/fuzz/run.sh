#!/usr/bin/env bash
# Build the libFuzzer target regen_request_fuzz with clang and run it for a bounded time.
#
#   test/fuzz/run.sh [SECONDS]        (or FUZZ_SECONDS=SECONDS; default 60)
#
# Everything happens in a temporary directory: the build, a copy of the seed corpus (which the
# run grows) and any crash input. The repository is not modified. Exits non-zero when the build
# fails or libFuzzer found a crash, a leak, a timeout or an out-of-memory; the crash inputs are
# then kept and their directory printed.
set -euo pipefail

seconds="${1:-${FUZZ_SECONDS:-60}}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "fuzz: the time must be a whole number of seconds, not \"$seconds\"" >&2
    exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/regen-fuzz.XXXXXX")"
keep_work=0
cleanup() {
    if [ "$keep_work" -eq 0 ]; then
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# CMake instruments the target and the libraries it calls (REGEN_BUILD_FUZZ); undefined
# behaviour stops the run instead of printing a warning and going on.
echo "fuzz: building in $work/build"
if ! cmake -S "$repo" -B "$work/build" -DCMAKE_CXX_COMPILER=clang++ -DREGEN_BUILD_FUZZ=ON \
        -DREGEN_BUILD_TESTS=OFF -DREGEN_BUILD_SHIM=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        >"$work/build.log" 2>&1 ||
    ! cmake --build "$work/build" --target regen_request_fuzz -j2 >>"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    echo "fuzz: build failed" >&2
    exit 2
fi

cp -R "$here/corpus" "$work/corpus"
mkdir "$work/artifacts"

echo "fuzz: running regen_request_fuzz for $seconds s"
start=$(date +%s)
set +e
"$work/build/regen_request_fuzz" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
    -dict="$here/request.dict" -artifact_prefix="$work/artifacts/" -print_final_stats=1 \
    "$work/corpus" 2>&1 | tee "$work/fuzz.log"
status=${PIPESTATUS[0]}
set -e
elapsed=$(($(date +%s) - start))

runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$work/fuzz.log" | tail -1)
if [ -z "$runs" ]; then
    # No final statistics (the run stopped at a crash): take the last progress line.
    runs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$work/fuzz.log" | tail -1)
fi
crashes=$(find "$work/artifacts" -type f | wc -l)
rate=$((${runs:-0} / (elapsed > 0 ? elapsed : 1)))

if [ "$crashes" -gt 0 ] || [ "$status" -ne 0 ]; then
    keep_work=1
    echo "fuzz: crash inputs kept in $work/artifacts (replay one with" \
        "$work/build/regen_request_fuzz FILE)" >&2
fi
echo "fuzz: ${runs:-0} runs in $elapsed s (${rate}/s), $crashes crashes"
if [ "$crashes" -gt 0 ] || [ "$status" -ne 0 ]; then
    exit 1
fi
