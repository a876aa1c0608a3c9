# walletsign — `make` builds the library, `make test` runs every suite,
# `make check` adds sanitizers and valgrind, `make bench` the benchmarks.
CC      ?= cc
PKGS    := openssl libcurl libcjson libsecp256k1 hiredis
BUILD   ?= build
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
OPT     ?= -O2 -g
CFLAGS_ALL = -std=gnu11 $(OPT) $(WARN) -fPIC -fvisibility=hidden -pthread \
             -Icsrc/include $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(EXTRA_CFLAGS)
LIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread

CORE_SRC := $(wildcard csrc/*.c)
CORE_OBJ := $(CORE_SRC:csrc/%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(wildcard tests/c/*.c)

# The suites run by scripts/test-NAME.sh, in the order `make test` runs them
# (after the C suite, the README examples and the mock server's own tests).
SCRIPT_SUITES := cli demo docs fuzz install lua python rock

.PHONY: all deps lib test test-c $(SCRIPT_SUITES:%=test-%) check bench demo clean

all: lib

deps:
	@scripts/ensure-deps.sh

lib: $(BUILD)/libwalletsign.a $(BUILD)/libwalletsign.so

$(BUILD)/obj/%.o: csrc/%.c csrc/include/walletsign.h $(wildcard csrc/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/libwalletsign.a: $(CORE_OBJ)
	@rm -f $@ # anew: a renamed source must not leave its old object inside
	ar rcs $@ $^

$(BUILD)/libwalletsign.so: $(CORE_OBJ)
	$(CC) -shared -o $@ $^ $(LIBS) $(EXTRA_LDFLAGS)

# The tests keep the short {name, value} form of wsig_header_ref (its lengths
# 0 mean strlen), which -Wextra would flag.
$(BUILD)/test_c: $(TEST_SRC) $(BUILD)/libwalletsign.a $(wildcard tests/c/*.h)
	$(CC) $(CFLAGS_ALL) -Wno-missing-field-initializers -Itests/c -o $@ $(TEST_SRC) $(BUILD)/libwalletsign.a $(LIBS) $(EXTRA_LDFLAGS) \
	    -Wl,--wrap=free # test_secrets.c scans freed memory for secrets

test: deps
	@$(MAKE) --no-print-directory lib
	@scripts/run-tests.sh $(SCRIPT_SUITES)

# The redis groups need a redis-server: with-redis.sh starts a private one.
test-c: $(BUILD)/test_c
	scripts/with-redis.sh $(BUILD)/test_c

# One suite alone: make test-python, make test-lua, ...
$(SCRIPT_SUITES:%=test-%): lib
	@scripts/$@.sh

# The source rock build/rock/walletsign-0.1.0-1.src.rock (docs/openresty.md).
.PHONY: rock
rock:
	@scripts/make-rock.sh

# Sanitizer and valgrind runs of the suites (see scripts/check.sh).
check: deps
	@scripts/check.sh

bench: lib
	@scripts/ensure-deps.sh --bench
	@scripts/bench.sh

demo: deps
	@scripts/demo.sh

clean:
	rm -rf $(BUILD)

# The C examples of the README and docs, extracted, compiled and run by the tests and the demo.
DOC_EXAMPLES := README.md docs/c-api.md
$(BUILD)/readme_examples: $(DOC_EXAMPLES) $(BUILD)/libwalletsign.a scripts/extract-examples.sh
	@rm -rf $@ $(BUILD)/readme_src
	@for md in $(DOC_EXAMPLES); do scripts/extract-examples.sh $$md $(BUILD)/readme_src; done
	@mkdir -p $@
	@for src in $(BUILD)/readme_src/*.c; do \
	  $(CC) $(CFLAGS_ALL) -o $@/$$(basename $$src .c) $$src $(BUILD)/libwalletsign.a $(LIBS) || exit 1; \
	done

# Component fragments (CLI, fuzzing, ...) add their own rules here.
-include $(wildcard mk/*.mk)
