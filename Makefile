# PGXS build of the regen_queue extension: make, make install, make installcheck.
# The HTTP shim and the unit tests of src/core are built by CMake (CMakeLists.txt).

EXTENSION = regen_queue
EXTVERSION = 1.2
MODULE_big = regen_queue

CORE_OBJS = $(patsubst %.cpp,%.o,$(wildcard src/core/*.cpp))
EXTENSION_OBJS = $(patsubst %.cpp,%.o,$(wildcard src/extension/*.cpp))
# The HTTP client of HTTP handlers: libcurl's multi interface and libcrypto's HMAC.
HTTP_CLIENT_OBJS = $(patsubst %.cpp,%.o,$(wildcard src/http_client/*.cpp))
OBJS = $(EXTENSION_OBJS) $(HTTP_CLIENT_OBJS) $(CORE_OBJS)

DATA = src/sql/regen_queue--1.0.sql src/sql/regen_queue--1.0--1.1.sql \
	src/sql/regen_queue--1.1--1.2.sql

# `make installcheck` runs three suites, each in instances it starts itself (so it must run as
# a non-root user; scripts/installcheck.sh does that from root):
#   pg_regress (sql/, expected/): behaviour and errors, library preloaded by test/regress.conf;
#   isolation specs (test/isolation/specs/, test/isolation/expected/): interleavings;
#   TAP cluster tests (test/tap/*.pl): restarts, crashes, reloads, replicas, pg_cron.
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --temp-instance=./tmp_check --temp-config=./test/regress.conf --encoding=UTF8 \
	--load-extension=regen_queue

ISOLATION = $(patsubst test/isolation/specs/%.spec,%,\
	$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --temp-instance=./tmp_check_iso --temp-config=./test/regress.conf --encoding=UTF8 \
	--inputdir=test/isolation --outputdir=output_iso --load-extension=regen_queue

TAP_TESTS = 1
PROVE_TESTS = $(sort $(wildcard test/tap/*.pl))

PG_CONFIG ?= pg_config
# -MMD -MP: each object also gets a .d file listing the headers it includes, so that changing a
# header (queue_sql.hpp holds every statement) rebuilds what uses it; PGXS alone would not.
PG_CXXFLAGS = -std=c++17 -Wextra -MMD -MP
EXTRA_CLEAN = $(OBJS:.o=.d)
SHLIB_LINK = -lstdc++ $(shell pkg-config --libs libcurl libcrypto)

# JIT inlining would need LLVM bitcode of C++ code that only drives SPI and fmgr calls,
# where inlining gains nothing; build none.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PostgreSQL's headers are not ours to warn about.
override CPPFLAGS := -isystem $(includedir_server) $(CPPFLAGS)

-include $(OBJS:.o=.d)
