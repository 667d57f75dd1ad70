# PGXS build of the regen_queue extension: make, make install, make installcheck.
# The HTTP shim and the unit tests of src/core are built by CMake (CMakeLists.txt).

EXTENSION = regen_queue
EXTVERSION = 1.0
MODULE_big = regen_queue

CORE_OBJS = $(patsubst %.cpp,%.o,$(wildcard src/core/*.cpp))
EXTENSION_OBJS = $(patsubst %.cpp,%.o,$(wildcard src/extension/*.cpp))
OBJS = $(EXTENSION_OBJS) $(CORE_OBJS)

DATA = src/sql/regen_queue--$(EXTVERSION).sql

# pg_regress starts its own instance with the library preloaded (test/regress.conf).
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --temp-instance=./tmp_check --temp-config=./test/regress.conf \
	--load-extension=regen_queue

PG_CONFIG ?= pg_config
PG_CXXFLAGS = -std=c++17 -Wextra
SHLIB_LINK = -lstdc++

# JIT inlining would need LLVM bitcode of C++ code that only drives SPI and fmgr calls,
# where inlining gains nothing; build none.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PostgreSQL's headers are not ours to warn about.
override CPPFLAGS := -isystem $(includedir_server) $(CPPFLAGS)
