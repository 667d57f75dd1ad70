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
# client. prove runs as the postgres user in a copy of test/shim (scripts/lib/prove_as_postgres.sh
# says where, and when the logs are kept). The exit status is prove's.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../../scripts/lib/prove_as_postgres.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/prove_as_postgres.sh"

rq_prove_suite shim REGEN_SHIM_BIN regen-queue-http -DREGEN_BUILD_TESTS=OFF -- "$@"
