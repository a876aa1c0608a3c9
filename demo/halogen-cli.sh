#!/usr/bin/env bash
# Halogen Wallet API from the command line: `walletsign query` and
# `walletsign command`, credentials from the environment
# (HALOGEN_WALLET_KEY_ID, HALOGEN_WALLET_PRIVATE_KEY_PATH, WALLETSIGN_BASE_URL).
#   demo/halogen-cli.sh PATH/TO/walletsign
# JSON goes to stdout, errors to stderr as one JSON object with a distinct exit code.
set -uo pipefail
WALLETSIGN=${1:?usage: halogen-cli.sh PATH/TO/walletsign}
out=$(mktemp); err=$(mktemp); trap 'rm -f "$out" "$err"' EXIT

ok() { printf '✔ %s\n' "$*"; }
fail() { printf '✘ CLI: %s\n' "$*"; exit 1; }
# field FILE EXPR: evaluate a Python expression over the JSON document `d`.
field() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

"$WALLETSIGN" query list_client_accounts >"$out" 2>"$err" ||
  fail "walletsign query list_client_accounts exited $?: $(head -c 300 "$err")"
ok "walletsign query list_client_accounts → $(field "$out" 'len(d["accounts"])') accounts ($(field "$out" '", ".join(a["id"] for a in d["accounts"])'))"

"$WALLETSIGN" command create_investment_request \
    '{"accountId":"account_123","fundId":"fund_abc","amount":500}' \
    --idempotency-key demo-cli-invest-1 >"$out" 2>"$err" ||
  fail "walletsign command create_investment_request exited $?: $(head -c 300 "$err")"
ok "walletsign command create_investment_request (account_123, fund_abc, 500.00, --idempotency-key) → requestId $(field "$out" 'd["requestId"]')"

"$WALLETSIGN" command create_investment_request \
    '{"accountId":"account_123","fundId":"fund_abc","amount":5000000}' >"$out" 2>"$err"
rc=$?
[ "$rc" -eq 5 ] || fail "an investment above the cash balance: expected exit 5 (http), got $rc: $(head -c 300 "$err")"
ok "5,000,000 into account_123 → exit $rc (kind $(field "$err" 'd["error"]["kind"]'), HTTP $(field "$err" 'd["error"]["http_status"]') $(field "$err" 'd["error"]["code"]')), the error as JSON on stderr"
