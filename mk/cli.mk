# The walletsign command-line tool (csrc/cli/): a user of the public API only,
# linked against the static library. Built by `make` / `make lib`.
CLI_SRC := $(wildcard csrc/cli/*.c)

lib: $(BUILD)/walletsign

$(BUILD)/walletsign: $(CLI_SRC) $(wildcard csrc/cli/*.h) csrc/include/walletsign.h $(BUILD)/libwalletsign.a
	$(CC) $(CFLAGS_ALL) -o $@ $(CLI_SRC) $(BUILD)/libwalletsign.a $(LIBS) $(EXTRA_LDFLAGS)

# make test-cli: the Makefile's test-SUITE rule (scripts/test-cli.sh builds the tool).
