# hotlined: build, run and test.
#   make            build the daemon (build/hotlined) and the clients
#   make run        install what is missing, set up var/ and run the daemon
#                   (PGPORT=, HOTLINED_PORT= choose its ports)
#   make test       install what is missing and run every test
#                   (HOTLINED_SUITES= chooses suites: see tests/run.sh)
#   make test-asan  the test suite against an AddressSanitizer+UBSan build
#   make unit       the unit tests (build/tests/)
#   make bench      throughput, latency, CPU and memory figures beside a
#                   floor measured in the same run (BENCH_QUICK=1: short)
#   make fuzz       fuzz the request-body parser and validator
#   make mutate     check that the tests catch the bugs in tests/mutants/
#
# Every source is compiled once per flavour into build/obj/ (the daemon and
# the clients), build/asan/obj/ (the sanitizer build, which the unit tests
# link too) or build/fuzz/obj/; -MMD -MP records each object's headers.

CC	?= cc
WERROR	?= -Werror
PKGS	 = libevent libevent_openssl json-c libpq openssl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS	?= -O2 -g
CFLAGS	+= -std=c17 -Wall -Wextra $(WERROR) -D_GNU_SOURCE \
	   -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes \
	   $(PKG_CFLAGS)
DEPFLAGS = -MMD -MP
LDLIBS	+= $(PKG_LIBS)
SANFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	   -fno-sanitize-recover=undefined
FUZZCC	 = clang
FUZZFLAGS = -std=c17 -g -O1 -D_GNU_SOURCE -Idaemon \
	   $(shell pkg-config --cflags json-c libpq 2>/dev/null)

# The daemon; main() is in hotlined.c.
SRCS	 = daemon/hotlined.c daemon/api.c daemon/caseload.c daemon/check.c \
	   daemon/config.c daemon/crypto.c daemon/db.c daemon/dbbatch.c \
	   daemon/dbconn.c \
	   daemon/dbhost.c daemon/error.c \
	   daemon/escalate.c daemon/format.c daemon/idem.c daemon/ident.c \
	   daemon/json.c daemon/keyfile.c daemon/log.c daemon/metrics.c \
	   daemon/mutate.c \
	   daemon/normalise.c daemon/protect.c \
	   daemon/queue.c daemon/request.c daemon/route.c daemon/server.c \
	   daemon/static.c daemon/stats.c daemon/stmt.c daemon/tls.c \
	   daemon/validate.c
# What the unit tests link: everything but main().
LIBSRCS	 = $(filter-out daemon/hotlined.c,$(SRCS))
UNITS	 = test_json test_validate test_config test_examples test_crypto test_keyfile \
	   test_hotlinectl test_protect test_metrics
# The administrator's tool (its own files, built in build/obj/ctl, and the
# daemon's files it shares).
CTLSRCS	 = clients/hotlinectl/main.c clients/hotlinectl/audit.c \
	   clients/hotlinectl/clients.c clients/hotlinectl/db.c \
	   clients/hotlinectl/keys.c clients/hotlinectl/purge.c \
	   clients/hotlinectl/stats.c clients/hotlinectl/table.c
CTLLIBSRCS = daemon/crypto.c daemon/config.c daemon/keyfile.c daemon/log.c
# The command-line client (its own files only, built in build/obj/cli; a
# sanitizer build in build/asan/obj/cli for the asan suite).
CLISRCS	 = clients/hotline/main.c clients/hotline/config.c \
	   clients/hotline/http.c clients/hotline/api.c clients/hotline/show.c \
	   clients/hotline/work.c clients/hotline/supervise.c \
	   clients/hotline/operator.c clients/hotline/view.c \
	   clients/hotline/access.c clients/hotline/stats.c \
	   clients/hotline/submit.c
CLILIBS	:= $(shell pkg-config --libs libevent_openssl libevent json-c openssl \
	   2>/dev/null) -lm
# The daemon sources the fuzz targets link (tests/fuzz/fuzz_<name>.c).
FUZZSRCS = daemon/check.c daemon/config.c daemon/crypto.c daemon/error.c \
	   daemon/format.c daemon/json.c daemon/keyfile.c daemon/log.c \
	   daemon/normalise.c daemon/validate.c

# $(call objs,dir,sources): the objects of sources in dir.
objs	 = $(addprefix $(1)/,$(notdir $(2:.c=.o)))

VAR	?= var
PGPORT	?= 55432
HOTLINED_PORT ?= 12355

# What make test builds: the ASan daemon and the unit tests unless
# HOTLINED_SUITES leaves out the suite that runs them.
suite_wanted = $(if $(HOTLINED_SUITES),$(filter $(1),$(HOTLINED_SUITES)),$(1))
TESTBUILD = all $(if $(call suite_wanted,asan),build/asan/hotlined build/asan/hotline) \
	   $(if $(call suite_wanted,unit),unit)

FUZZ_SECONDS ?= 60

.PHONY: all deps test-deps run test test-asan unit bench fuzz mutate clean
.SECONDARY:

all: build/hotlined build/hotline-bench build/hotlinectl build/hotline

build/hotlined: $(call objs,build/obj,$(SRCS))
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/asan/hotlined: $(call objs,build/asan/obj,$(SRCS))
	$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $^ $(LDLIBS)

build/tests/%: build/asan/obj/%.o $(call objs,build/asan/obj,$(LIBSRCS))
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $^ $(LDLIBS)

build/hotline-bench: build/obj/hotline-bench.o
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/hotlinectl: $(call objs,build/obj/ctl,$(CTLSRCS)) \
	    $(call objs,build/obj,$(CTLLIBSRCS))
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/hotline: $(call objs,build/obj/cli,$(CLISRCS))
	$(CC) $(CFLAGS) -o $@ $^ $(CLILIBS)

build/asan/hotline: $(call objs,build/asan/obj/cli,$(CLISRCS))
	$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $^ $(CLILIBS)

build/fuzz/fuzz_%: build/fuzz/obj/fuzz_%.o $(call objs,build/fuzz/obj,$(FUZZSRCS))
	$(FUZZCC) $(FUZZFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $^ \
	    $(shell pkg-config --libs json-c libcrypto)

# Runs build/hotlinectl itself.
build/tests/test_hotlinectl: | build/hotlinectl

build/obj/%.o: daemon/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEPFLAGS) -c -o $@ $<

build/obj/%.o: clients/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Idaemon $(DEPFLAGS) -c -o $@ $<

build/obj/ctl/%.o: clients/hotlinectl/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Idaemon $(DEPFLAGS) -c -o $@ $<

build/obj/cli/%.o: clients/hotline/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEPFLAGS) -c -o $@ $<

build/asan/obj/cli/%.o: clients/hotline/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SANFLAGS) $(DEPFLAGS) -c -o $@ $<

build/asan/obj/%.o: daemon/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SANFLAGS) $(DEPFLAGS) -c -o $@ $<

build/asan/obj/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SANFLAGS) -Idaemon $(DEPFLAGS) -c -o $@ $<

build/fuzz/obj/%.o: daemon/%.c
	@mkdir -p $(@D)
	$(FUZZCC) $(FUZZFLAGS) -fsanitize=fuzzer-no-link,address,undefined \
	    $(DEPFLAGS) -c -o $@ $<

build/fuzz/obj/%.o: tests/fuzz/%.c
	@mkdir -p $(@D)
	$(FUZZCC) $(FUZZFLAGS) -fsanitize=fuzzer-no-link,address,undefined \
	    $(DEPFLAGS) -c -o $@ $<

-include $(wildcard build/obj/*.d build/obj/ctl/*.d build/obj/cli/*.d \
	   build/asan/obj/*.d build/asan/obj/cli/*.d build/fuzz/obj/*.d)

deps:
	@bash daemon/dev/deps.sh

test-deps:
	@bash daemon/dev/deps.sh test

run: deps
	@$(MAKE) --no-print-directory all
	@HOTLINED_PORT=$(HOTLINED_PORT) bash daemon/dev/setup.sh $(abspath $(VAR)) $(PGPORT)
	@exec bash daemon/dev/run.sh $(abspath $(VAR))

unit: $(addprefix build/tests/,$(UNITS))

test: test-deps
	@$(MAKE) --no-print-directory $(TESTBUILD)
	@bash tests/run.sh

test-asan: test-deps
	@$(MAKE) --no-print-directory build/hotline build/asan/hotlined build/asan/hotline unit
	@HOTLINED_SUITES=asan bash tests/run.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@python3 tests/bench/bench.py

# libFuzzer harnesses, one per parser (tests/fuzz/fuzz_<name>.c), each run
# FUZZ_SECONDS over its seeds (tests/fuzz/seeds/<name>/, and the protocol
# examples for bodies); what they find stays in build/fuzz-corpus/<name>,
# a crashing input in build/fuzz/<name>-crash-*.
FUZZERS	 = body config keyfile fields
SEEDS_body = proto/examples

fuzz: $(FUZZERS:%=fuzz-%)

fuzz-%: build/fuzz/fuzz_%
	@mkdir -p build/fuzz-corpus/$*
	build/fuzz/fuzz_$* -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    -artifact_prefix=build/fuzz/$*- build/fuzz-corpus/$* \
	    tests/fuzz/seeds/$* $(SEEDS_$*)

# Each mutant of tests/mutants/ (a one-line bug) applied alone to a scratch
# copy of the tree, which is rebuilt and tested by the suites the mutant
# names: every one must be killed.  MUTANTS=substring runs some of them.
mutate: deps
	@$(MAKE) --no-print-directory all build/asan/hotlined unit
	@python3 tests/mutants/run.py $(if $(MUTANTS),-k $(MUTANTS))

clean:
	rm -rf build
