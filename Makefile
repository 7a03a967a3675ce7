# hotlined: build, run and test.
#   make            build the daemon (build/hotlined)
#   make run        install what is missing, set up var/ and run the daemon
#                   (PGPORT=, HOTLINED_PORT= choose its ports)
#   make test       install what is missing and run every test
#                   (HOTLINED_SUITES= chooses suites: see tests/run.sh)
#   make test-asan  the test suite against an AddressSanitizer+UBSan build
#   make bench      throughput and latency figures

CC	?= cc
WERROR	?= -Werror
PKGS	 = libevent libevent_openssl json-c libpq openssl
CFLAGS	?= -O2 -g
CFLAGS	+= -std=c17 -Wall -Wextra $(WERROR) -D_GNU_SOURCE \
	   -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes \
	   $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS	+= $(shell pkg-config --libs $(PKGS) 2>/dev/null)
SANFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	   -fno-sanitize-recover=undefined

SRCS	 = daemon/hotlined.c daemon/api.c daemon/config.c daemon/db.c \
	   daemon/crypto.c daemon/error.c daemon/escalate.c daemon/ident.c daemon/json.c \
	   daemon/keyfile.c daemon/log.c daemon/protect.c daemon/server.c daemon/tls.c daemon/validate.c
HDRS	 = daemon/hotlined.h
UNITS	 = test_json test_validate test_config test_examples test_crypto test_keyfile \
	   test_hotlinectl test_protect
# Objects the unit tests link against (everything but main).
LIBSRCS	 = $(filter-out daemon/hotlined.c,$(SRCS))

VAR	?= var
PGPORT	?= 55432
HOTLINED_PORT ?= 12355

# What make test builds: the ASan daemon and the unit tests unless
# HOTLINED_SUITES leaves out the suite that runs them.
suite_wanted = $(if $(HOTLINED_SUITES),$(filter $(1),$(HOTLINED_SUITES)),$(1))
TESTBUILD = all $(if $(call suite_wanted,asan),build/asan/hotlined) \
	   $(if $(call suite_wanted,unit),unit)

FUZZ_SECONDS ?= 60

.PHONY: all deps run test test-asan unit bench fuzz clean

all: build/hotlined build/hotline-bench build/hotlinectl

build/hotlined: $(SRCS) $(HDRS)
	@mkdir -p build
	$(CC) $(CFLAGS) -o $@ $(SRCS) $(LDLIBS)

build/asan/hotlined: $(SRCS) $(HDRS)
	@mkdir -p build/asan
	$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $(SRCS) $(LDLIBS)

build/tests/%: tests/unit/%.c $(LIBSRCS) $(HDRS) tests/unit/unit.h
	@mkdir -p build/tests
	$(CC) $(CFLAGS) $(SANFLAGS) -Idaemon -o $@ $< $(LIBSRCS) $(LDLIBS)

# Runs build/hotlinectl itself.
build/tests/test_hotlinectl: build/hotlinectl

build/hotline-bench: clients/hotline-bench.c
	@mkdir -p build
	$(CC) $(CFLAGS) -o $@ clients/hotline-bench.c $(LDLIBS)

# The administrator's tool: audit, keys, retention, access log, clients.
CTLSRCS	 = clients/hotlinectl/main.c clients/hotlinectl/audit.c \
	   clients/hotlinectl/clients.c clients/hotlinectl/db.c \
	   clients/hotlinectl/keys.c clients/hotlinectl/purge.c \
	   clients/hotlinectl/table.c \
	   daemon/crypto.c daemon/config.c daemon/keyfile.c daemon/log.c
build/hotlinectl: $(CTLSRCS) $(HDRS) clients/hotlinectl/hotlinectl.h
	@mkdir -p build
	$(CC) $(CFLAGS) -Idaemon -o $@ $(CTLSRCS) $(LDLIBS)

deps:
	@bash daemon/dev/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@HOTLINED_PORT=$(HOTLINED_PORT) bash daemon/dev/setup.sh $(abspath $(VAR)) $(PGPORT)
	@exec bash daemon/dev/run.sh $(abspath $(VAR))

unit: $(addprefix build/tests/,$(UNITS))

test: deps
	@$(MAKE) --no-print-directory $(TESTBUILD)
	@bash tests/run.sh

test-asan: deps
	@$(MAKE) --no-print-directory build/asan/hotlined unit
	@HOTLINED_SUITES=asan bash tests/run.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@bash tests/bench/run.sh

# libFuzzer harnesses, one per parser (tests/fuzz/fuzz_<name>.c), each run
# FUZZ_SECONDS over its seeds (tests/fuzz/seeds/<name>/, and the protocol
# examples for bodies); what they find stays in build/fuzz-corpus/<name>,
# a crashing input in build/fuzz/<name>-crash-*.
FUZZERS	 = body config keyfile fields
FUZZSRCS = daemon/config.c daemon/crypto.c daemon/error.c daemon/json.c \
	   daemon/keyfile.c daemon/validate.c
SEEDS_body = proto/examples

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZSRCS) $(HDRS)
	@mkdir -p build/fuzz
	clang -std=c17 -g -O1 -Wall -Wextra $(WERROR) -D_GNU_SOURCE -Idaemon \
	    -fsanitize=fuzzer,address,undefined \
	    $(shell pkg-config --cflags json-c libpq openssl) -o $@ $< \
	    $(FUZZSRCS) $(shell pkg-config --libs json-c libcrypto)

fuzz: $(FUZZERS:%=fuzz-%)

fuzz-%: build/fuzz/fuzz_%
	@mkdir -p build/fuzz-corpus/$*
	build/fuzz/fuzz_$* -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    -artifact_prefix=build/fuzz/$*- build/fuzz-corpus/$* \
	    tests/fuzz/seeds/$* $(SEEDS_$*)

clean:
	rm -rf build
