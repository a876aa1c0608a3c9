# Benchmarks (scripts/bench.sh runs them; `make bench` is the entry point).
# Each bench/NAME.c is one program, build/bench/NAME, linked to the static
# library like the tests are.
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: bench-bin
bench-bin: $(BENCH_BIN)

$(BENCH_BIN): $(BUILD)/bench/%: bench/%.c $(BUILD)/libwalletsign.a csrc/include/walletsign.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libwalletsign.a $(LIBS) $(EXTRA_LDFLAGS)
