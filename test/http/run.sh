#!/usr/bin/env bash
# The integration tests of HTTP handlers (test/http/*.pl), as root:
#
#   bash test/http/run.sh                        # build regen-test-genservice, run every test
#   REGEN_GENSERVICE_BIN=/path/regen-test-genservice bash test/http/run.sh   # use that binary
#   bash test/http/run.sh 020_statuses.pl        # only these files (names in test/http/)
#   PROVE_FLAGS=-v bash test/http/run.sh          # extra prove flags
#
# Each test starts its own PostgreSQL 15 node (PostgreSQL::Test::Cluster, with the installed
# regen_queue preloaded and its background worker draining the test database) and its own
# generation services (gen_service.cpp) on 127.0.0.1 ports 18500-18549. prove runs as the
# postgres user in a copy of test/http (scripts/lib/prove_as_postgres.sh says where, and when the
# logs are kept). The exit status is prove's.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../../scripts/lib/prove_as_postgres.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/prove_as_postgres.sh"

rq_prove_suite http REGEN_GENSERVICE_BIN regen-test-genservice -DREGEN_BUILD_SHIM=OFF -- "$@"
