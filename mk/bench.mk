# Benchmarks (scripts/bench.sh runs them; `make bench` is the entry point).
# Each bench/NAME.c is one program, build/bench/NAME, linked to the static
# library like the tests are. bench/python_bench.py and bench/lua_bench.lua
# run against the modules scripts/bench.sh builds (build/venv, build/lua54,
# build/luajit) and call build/bench/c_sign --floor for their C floor.
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: bench-bin bench-c bench-redis bench-python bench-lua
bench-bin: $(BENCH_BIN)

$(BENCH_BIN): $(BUILD)/bench/%: bench/%.c bench/stats.h $(BUILD)/libwalletsign.a csrc/include/walletsign.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libwalletsign.a $(LIBS) $(EXTRA_LDFLAGS)

# One part of `make bench` alone (BENCH_ONLY in scripts/bench.sh):
# bench-c (c_sign, no callgrind), bench-redis (redis_store), bench-python, bench-lua.
bench-c bench-redis bench-python bench-lua: lib
	@scripts/ensure-deps.sh --bench
	@BENCH_ONLY=$(@:bench-%=%) scripts/bench.sh
