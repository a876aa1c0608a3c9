# libFuzzer targets (tests/fuzz/fuzz_*.c), built with clang against the core
# sources compiled here with the same sanitizers (not the gcc-built library).
#
#   make fuzz [FUZZ_SECONDS=30] [FUZZ_TARGETS="fuzz_rpc ..."]
#       each target for FUZZ_SECONDS with its seed corpus; fails on a crash,
#       leaving the input in $(BUILD)/fuzz/artifacts/<target>/
#   make fuzz-regress
#       every target once over tests/fuzz/regressions/<target>-* and its seed
#       corpus, no fuzzing (CI; scripts/test-fuzz.sh)
#   make fuzz-build        the binaries only
#
# Seeds are generated from tests/vectors by tests/fuzz/make_corpus.py into
# $(BUILD)/fuzz/corpus/<target>/; new inputs found by `make fuzz` accumulate
# in $(BUILD)/fuzz/work/<target>/ (neither is committed).

FUZZ_CC       ?= clang
FUZZ_SECONDS  ?= 30
FUZZ_TIMEOUT  ?= 25
FUZZ_RSS_MB   ?= 2048
FUZZ_FLAGS    ?=
FUZZ_PYTHON   ?= /usr/bin/python3
FUZZ_DIR      := $(BUILD)/fuzz
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all
# -O1 and frame pointers for readable stacks; -Icsrc for internal.h.
# -Wno-missing-field-initializers: the harnesses keep the short {name, value}
# form of wsig_header_ref (its lengths 0 mean strlen).
FUZZ_CFLAGS    = $(CFLAGS_ALL) -Icsrc -O1 -g -fno-omit-frame-pointer -Wno-missing-field-initializers
FUZZ_ALL      := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS  ?= $(FUZZ_ALL)
FUZZ_BINS     := $(FUZZ_ALL:%=$(FUZZ_DIR)/%)
FUZZ_CORE_OBJ := $(CORE_SRC:csrc/%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_STAMP    := $(FUZZ_DIR)/corpus/.stamp

.PHONY: fuzz fuzz-build fuzz-corpus fuzz-regress

$(FUZZ_DIR)/obj/%.o: csrc/%.c csrc/include/walletsign.h $(wildcard csrc/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_COV) $(FUZZ_SAN) -c $< -o $@

# Coverage feedback for the core; none inside Keccak-f, whose fixed loops
# only slow every signature check down (ASan and UBSan stay on there).
FUZZ_COV := -fsanitize=fuzzer-no-link
$(FUZZ_DIR)/obj/keccak.o: FUZZ_COV :=

$(FUZZ_BINS): $(FUZZ_DIR)/%: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) $(FUZZ_CORE_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< $(FUZZ_CORE_OBJ) $(LIBS)

fuzz-build: $(FUZZ_BINS)

$(FUZZ_STAMP): tests/fuzz/make_corpus.py $(wildcard tests/vectors/*.json tests/vectors/keys/*)
	@rm -rf $(FUZZ_DIR)/corpus
	$(FUZZ_PYTHON) tests/fuzz/make_corpus.py $(FUZZ_DIR)/corpus
	@touch $@

fuzz-corpus: $(FUZZ_STAMP)

fuzz: $(FUZZ_BINS) $(FUZZ_STAMP)
	@fail=""; \
	for t in $(FUZZ_TARGETS); do \
	  work=$(FUZZ_DIR)/work/$$t; art=$(FUZZ_DIR)/artifacts/$$t; log=$(FUZZ_DIR)/logs/$$t.log; \
	  mkdir -p $$work $$art $(FUZZ_DIR)/logs $(FUZZ_DIR)/corpus/$$t; \
	  dict=""; [ -f tests/fuzz/$$t.dict ] && dict="-dict=tests/fuzz/$$t.dict"; \
	  printf '%-18s %ss ... ' $$t $(FUZZ_SECONDS); \
	  if $(FUZZ_DIR)/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=$(FUZZ_TIMEOUT) \
	       -rss_limit_mb=$(FUZZ_RSS_MB) -print_final_stats=1 -artifact_prefix=$$art/ $$dict \
	       $(FUZZ_FLAGS) $$work $(FUZZ_DIR)/corpus/$$t >$$log 2>&1; then \
	    runs=$$(grep -ao 'stat::number_of_executed_units: *[0-9]*' $$log | grep -o '[0-9]*$$'); \
	    cov=$$(grep -aoE '#[0-9]+[[:space:]]+(DONE|INITED).*cov: [0-9]+ ft: [0-9]+' $$log | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+'); \
	    echo "ok ($${runs:-?} runs, $${cov:-no stats})"; \
	  else \
	    echo "CRASH (log $$log, input in $$art/)"; \
	    grep -a -m1 -E 'ERROR: |FUZZ CHECK FAILED|runtime error|ALARM|out-of-memory' $$log || tail -5 $$log; \
	    fail="$$fail $$t"; \
	  fi; \
	done; \
	if [ -n "$$fail" ]; then echo "fuzz: crashes in$$fail"; exit 1; fi

fuzz-regress: $(FUZZ_BINS) $(FUZZ_STAMP)
	@BUILD=$(BUILD) tests/fuzz/regress.sh $(FUZZ_TARGETS)
