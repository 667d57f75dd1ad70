#!/usr/bin/env bash
# Install the Debian packages that regen_queue needs to build, test and run its demo.
#
# Idempotent: packages already installed are left alone, and a machine that has them all
# makes no network call at all (apt-get update runs only when something is missing).
#
#   bash scripts/install-deps.sh
set -euo pipefail

packages=(
    build-essential                         # g++, make
    cmake                                   # the shim and the unit tests
    clang                                   # second compiler for the CMake builds
    postgresql-15                           # server and client binaries
    postgresql-server-dev-15                # headers and PGXS
    postgresql-15-cron                      # pg_cron
    postgresql-15-pgtap                     # pgTAP
    libtap-parser-sourcehandler-pgtap-perl  # pg_prove
    libipc-run-perl                         # PostgreSQL's TAP cluster tests
    libcurl4-openssl-dev                    # HTTP handlers
    libmicrohttpd-dev                       # the HTTP shim
    libpq-dev                               # the HTTP shim's database connections
    libssl-dev                              # the HTTP shim's SHA-256 of presented tokens
    pkg-config                              # CMake finds libmicrohttpd and libpq with it
    wrk                                     # the HTTP shim's load benchmark
    libgtest-dev                            # unit tests
    googletest
    curl                                    # exercising the shim by hand and in tests
)

is_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

missing=()
for pkg in "${packages[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    echo "install-deps: all ${#packages[@]} packages are already installed"
    exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
    echo "install-deps: refusing to run as $(id -un): installing packages needs root" >&2
    echo "install-deps: missing: ${missing[*]}" >&2
    echo "install-deps: run it again as root, e.g. su -c 'bash $0'" >&2
    exit 1
fi

echo "install-deps: installing ${missing[*]}"

# Installing postgresql-15 would start Debian's main cluster on port 5432. Nothing here uses
# it (every script starts its own throwaway cluster), so keep package scripts from starting
# services, unless the machine already has its own policy.
policy=/usr/sbin/policy-rc.d
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"

for pkg in "${missing[@]}"; do
    is_installed "$pkg" || { echo "install-deps: $pkg did not install" >&2; exit 1; }
done
echo "install-deps: done"
