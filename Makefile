# bootstrap - build, test and install.
#
#   make            build ./bootstrap
# Tests at three speeds:
#   make test       the inner loop, under 3 minutes: the layer check, unit
#                   tests (CMocka, no network) and the end-to-end CLI suite
#   make integration  against real parts, plain build: a real dockerd,
#                   registries and git daemon (tests/lab/lab.sh), a
#                   throwaway sshd (tests/lab/sshd.sh), systemd node
#                   containers that install Docker with apt; root
#   make check      README's test command: all of the above, then the
#                   sanitizer and valgrind stages and fuzzing, at most 60
#                   minutes here; ends with each suite's wall time
# and the stages of check on their own:
#   make asan       unit, end-to-end and ASAN_SUITES under ASan+UBSan
#   make valgrind   validate on every recipe, and VALGRIND_SUITES, under
#                   valgrind
#   make fuzz       every libFuzzer target (tests/fuzz/*_fuzz.c) for FUZZ_SECONDS
#                   (15) each, FUZZ_JOBS (2) at a time
#   make format / format-check    clang-format with the committed .clang-format
#   make install PREFIX=/usr/local DESTDIR=
#   make deps       install the Debian packages for the build and the test lab
#   make node-image build the test lab's node image (scripts/node-image.sh; root; RELEASE=11|12|13)
#   make quickstart deps, build, dockerd, images, then bootstrap recipes/local.yaml
#
# WERROR=1 turns warnings into errors (CI sets it).

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
CC      ?= cc
PKG_CONFIG ?= pkg-config
FUZZ_SECONDS ?= 15
VERSION := 0.1.0

PKGS := libssh2 libcurl libcjson yaml-0.1 libcrypto
WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
        -Wpointer-arith -Wcast-qual -Wundef -Wvla
ifneq ($(CI),)
WERROR ?= 1
endif
ifeq ($(WERROR),1)
WARN += -Werror
endif

CFLAGS  ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -DBS_VERSION='"$(VERSION)"' -I. $(WARN) \
              $(shell $(PKG_CONFIG) --cflags $(PKGS)) $(CFLAGS) $(EXTRA_CFLAGS)
LIBS    := $(shell $(PKG_CONFIG) --libs $(PKGS)) -lpthread
TEST_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka)

LIB_SRC  := $(sort $(wildcard util/*.c deploy/*.c provision/*.c container/*.c))
CLI_SRC  := $(sort $(wildcard cli/*.c))
TEST_SRC := $(sort $(wildcard tests/unit/*/*.c))
INTEG_SRC := $(sort $(wildcard tests/integration/*.c))
HEADERS  := $(sort $(wildcard */*.h tests/*/*.h))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
INTEG_BIN := $(INTEG_SRC:tests/integration/%.c=$(BUILD)/integration/%)
LIBBS    := $(BUILD)/libbootstrap.a

.PHONY: all test unit layers e2e integration fakes-selftest check check-start asan valgrind fuzz \
        format format-check install \
        uninstall clean deps
.DELETE_ON_ERROR:

all: bootstrap

bootstrap: $(BUILD)/bootstrap
	cp $< $@.tmp && mv -f $@.tmp $@  # a running ./bootstrap stays intact

$(BUILD)/bootstrap: $(CLI_OBJ) $(LIBBS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIBBS) $(LIBS)

$(LIBBS): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIBBS) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBBS) $(LIBS) $(TEST_LIBS)

$(BUILD)/integration/%: tests/integration/%.c $(LIBBS) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBBS) $(LIBS) $(TEST_LIBS)

# Wall time of every suite, stage by stage: tests/timed.sh appends a line
# to SUITE_TIMES; `make check` starts it afresh and prints it at the end.
SUITE_TIMES ?= $(CURDIR)/build/suite-times
export SUITE_TIMES
timed = bash tests/timed.sh

# make test: the includes point one way (tests/layers.sh), the unit tests
# (run from the repository root: fixtures are found by path), then e2e.
test: unit e2e

layers:
	@$(timed) test tests/layers.sh bash tests/layers.sh

unit: layers $(TEST_BIN)
	@$(timed) test "tests/unit ($(notdir $(BUILD)))" sh -c \
	    'set -e; for t in $(TEST_BIN); do echo "== $$t"; $$t; done'

e2e: bootstrap
	@$(timed) test tests/e2e/run.sh env BOOTSTRAP=./bootstrap bash tests/e2e/run.sh

# Every tests/integration/*.sh suite, in name order, runs in the plain
# stage. Each gets the program under test (BOOTSTRAP), the directory of the
# integration test programs (INTEG_BIN) and BS_WRAP (valgrind, or empty) in
# its environment.
#
# Which suites also run under the checkers is chosen here, by what each
# adds (a suite's time under valgrind is about twice its plain time):
# - ASAN_SUITES: all but releases.sh, which proves what happens on the
#   nodes (Debian releases, systemd), and compose.sh, whose time goes to
#   node containers (boots, image copies and builds, health waits); every
#   code path either uses runs in the other suites (the compose loader in the
#   unit and e2e tests under ASan, local files in local.sh, build contexts
#   in container.sh and engine.sh, start order in engine.sh).
# - VALGRIND_SUITES: the suites whose time is spent in our code rather than
#   in waits on nodes: the SSH layer, the tunnel, jump hosts, the node lock, host keys,
#   the container driver and registry client, TLS, the cloud drivers and
#   fakes, and pipeline.sh for the whole run on nodes (uninitialised reads
#   are what valgrind finds and ASan does not). Left to ASan: releases,
#   swarm, domains, interrupts (timing), local, prepare, dockerhost and
#   secrets, which wait on node containers (apt, dockerd, health) most of
#   their time and whose code paths the chosen suites also take.
INTEG_SUITES := $(sort $(wildcard tests/integration/*.sh))
ASAN_SUITES := $(filter-out tests/integration/releases.sh tests/integration/compose.sh,$(INTEG_SUITES))
VALGRIND_SUITES := $(addprefix tests/integration/,cloud.sh container.sh engine.sh hostkeys.sh \
                   jump.sh nodelock.sh pipeline.sh registry_tls.sh ssh.sh tls_certs.sh tunnel.sh)
run_integration = set -e; for s in $(3); do \
	echo "== $$s"; \
	$(timed) $(2) $$s env BOOTSTRAP=$(1)/bootstrap INTEG_BIN=$(1)/integration \
	DRIVER_TEST=$(1)/integration/driver SSH_TEST=$(1)/integration/ssh bash $$s; done

# Names of checks skipped on purpose on this machine (tests/lab/skip.sh):
# in CI any other skip fails its suite. Each entry must come with the reason
# it is expected here, e.g. `make BS_EXPECTED_SKIPS=swarm-esp-refusal` on a
# host whose kernel has IPsec ESP (then no node can lack it).
BS_EXPECTED_SKIPS ?=
export BS_EXPECTED_SKIPS

# the fake clouds (tests/fakes/) checked before the suites that use them
fakes-selftest:
	@$(timed) integration tests/fakes/fakes_selftest.sh bash tests/fakes/fakes_selftest.sh

integration: bootstrap $(INTEG_BIN) fakes-selftest
	@$(call run_integration,$(BUILD),integration,$(INTEG_SUITES))

# A sanitizer report exits 98 (ASan, UBSan and LeakSanitizer alike), a
# code bootstrap never uses (README, exit codes), as valgrind's 99: a check
# that expects a failure's exit code cannot pass on a sanitizer's abort.
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=all
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:exitcode=98:abort_on_error=0 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=98 \
           LSAN_OPTIONS=exitcode=98:suppressions=$(CURDIR)/tests/sanitizers/lsan.supp
asan:
	$(MAKE) BUILD=$(BUILD)/asan CFLAGS="$(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" \
	    $(BUILD)/asan/bootstrap $(INTEG_BIN:$(BUILD)/%=$(BUILD)/asan/%) \
	    $(TEST_BIN:$(BUILD)/%=$(BUILD)/asan/%)
	@export $(SAN_ENV); \
	    $(timed) asan "tests/unit (asan)" sh -c \
	    'set -e; for t in $(TEST_BIN:$(BUILD)/%=$(BUILD)/asan/%); do echo "== $$t"; $$t; done'
	@export $(SAN_ENV); $(timed) asan tests/e2e/run.sh \
	    env BOOTSTRAP=$(BUILD)/asan/bootstrap bash tests/e2e/run.sh
	@export $(SAN_ENV) ASAN_OPTIONS=detect_leaks=1:exitcode=98:abort_on_error=0:fast_unwind_on_malloc=0; \
	    $(call run_integration,$(BUILD)/asan,asan,$(ASAN_SUITES))

VALGRIND := valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --error-exitcode=99 --suppressions=$(CURDIR)/tests/sanitizers/valgrind.supp
valgrind: bootstrap $(INTEG_BIN)
	@$(timed) valgrind tests/e2e/valgrind.sh env BOOTSTRAP=./bootstrap bash tests/e2e/valgrind.sh
	@export BS_WRAP="$(VALGRIND)"; $(call run_integration,$(BUILD),valgrind,$(VALGRIND_SUITES))

# Every tests/fuzz/NAME_fuzz.c is a libFuzzer target (ASan, UBSan,
# LeakSanitizer), linked against the library built once with the fuzzer's
# coverage; tests/fuzz/run.sh runs each for FUZZ_SECONDS on the seeds in
# tests/fuzz/corpus/NAME/, FUZZ_JOBS at a time (tests/fuzz/README.md).
FUZZ_CC ?= clang
FUZZ_JOBS ?= 2
FUZZ_SRC := $(sort $(wildcard tests/fuzz/*_fuzz.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -DBS_VERSION='"$(VERSION)"' -I. $(WARN) -Werror -g -O1 \
               $(FUZZ_SAN) $(shell $(PKG_CONFIG) --cflags $(PKGS))
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/fuzz/obj/%.o)
FUZZ_LIB := $(BUILD)/fuzz/libbootstrap-fuzz.a

$(BUILD)/fuzz/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz/%_fuzz: tests/fuzz/%_fuzz.c $(FUZZ_LIB) $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) $(LIBS)

fuzz: $(FUZZ_BIN)
	@$(timed) fuzz tests/fuzz/run.sh bash tests/fuzz/run.sh -j $(FUZZ_JOBS) $(FUZZ_SECONDS) $(FUZZ_BIN)

check-start:
	@mkdir -p $(dir $(SUITE_TIMES)); : >$(SUITE_TIMES)
	@$(timed) setup tests/lab/prewarm.sh bash tests/lab/prewarm.sh

check: check-start format-check test integration asan valgrind fuzz
	@echo "make check: all suites passed"; echo "suite times (wall clock):"; \
	    cat $(SUITE_TIMES); awk '{ s += $$(NF-1) } END { printf "total %d s\n", s }' $(SUITE_TIMES)

format:
	clang-format -i $(CLI_SRC) $(LIB_SRC) $(TEST_SRC) $(INTEG_SRC) $(HEADERS) tests/fuzz/*.c

format-check:
	clang-format --dry-run --Werror $(CLI_SRC) $(LIB_SRC) $(TEST_SRC) $(INTEG_SRC) $(HEADERS) tests/fuzz/*.c

install: bootstrap
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/doc/bootstrap/recipes
	install -m 0755 bootstrap $(DESTDIR)$(PREFIX)/bin/bootstrap
	install -m 0644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/bootstrap/
	install -m 0644 recipes/*.yaml $(DESTDIR)$(PREFIX)/share/doc/bootstrap/recipes/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/bootstrap
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/bootstrap

deps:
	bash scripts/deps.sh

# README's first command: deps, the build, a Docker engine, the images and
# `bootstrap recipes/local.yaml` (scripts/quickstart.sh).
.PHONY: quickstart
quickstart: deps
	$(MAKE) bootstrap
	bash scripts/quickstart.sh

# The Debian image of tests/lab/node.sh and provider local (debootstrap +
# docker import, systemd inside); quick when it is up to date. RELEASE picks
# Debian's release: bullseye, bookworm (the default) or trixie, or 11, 12, 13.
RELEASE ?= bookworm
.PHONY: node-image
node-image:
	bash scripts/node-image.sh $(RELEASE)

# Side-by-side benchmarks (bench/README.md): installs the peers from
# Debian's packages, runs every workload for bootstrap and each peer, prints
# the table and writes bench/results/latest.json. BENCH_ARGS passes options
# (e.g. BENCH_ARGS="--repeat 5 --tools floor,bootstrap").
.PHONY: bench bench-smoke
bench: bootstrap
	bash bench/run.sh $(BENCH_ARGS)

# The same harness, small and quick (5 containers, one repetition, no W6):
# proves it still runs.
bench-smoke: bootstrap
	bash bench/run.sh --quick $(BENCH_ARGS)

clean:
	rm -rf $(BUILD) bootstrap
