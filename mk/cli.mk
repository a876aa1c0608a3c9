# The walletsign command-line tool (csrc/cli/): a user of the public API only,
# linked against the static library. Built by `make` / `make lib`.
# One file per concern: main.c dispatches; args.c parses options; report.c
# exit codes, errors and output; io.c files and secrets; creds.c keys and auths;
# keys.c, sign.c, verify.c, http.c the commands.
CLI_SRC := csrc/cli/main.c csrc/cli/args.c csrc/cli/report.c csrc/cli/io.c csrc/cli/creds.c \
           csrc/cli/keys.c csrc/cli/sign.c csrc/cli/verify.c csrc/cli/http.c

lib: $(BUILD)/walletsign

$(BUILD)/walletsign: $(CLI_SRC) csrc/cli/cli.h csrc/include/walletsign.h $(BUILD)/libwalletsign.a
	$(CC) $(CFLAGS_ALL) -o $@ $(CLI_SRC) $(BUILD)/libwalletsign.a $(LIBS) $(EXTRA_LDFLAGS)

# make test-cli: the Makefile's test-SUITE rule (scripts/test-cli.sh builds the tool).
