"""Halogen Wallet API from Python: a query, a command and a typed error.

Reads WALLETSIGN_BASE_URL, HALOGEN_WALLET_KEY_ID and
HALOGEN_WALLET_PRIVATE_KEY_PATH (the key made by `walletsign keygen p256`)."""
import os

import walletsign as ws
from demo_util import fail, note, ok

step = "load the key"
try:
    key = ws.Key.load(os.environ["HALOGEN_WALLET_PRIVATE_KEY_PATH"])
    auth = ws.JwtAuth(key, os.environ["HALOGEN_WALLET_KEY_ID"])   # ES256, fresh token per attempt
    with ws.Client(os.environ["WALLETSIGN_BASE_URL"], auth, timeout=10.0) as client:
        step = "query list_client_accounts"
        accounts = client.query("list_client_accounts")
        ids = [a["id"] for a in accounts["accounts"]]
        ok(f"query list_client_accounts → {len(ids)} accounts ({', '.join(ids)}), "
           f"total {accounts['amount']:,} {accounts['asset']}")

        step = "command create_investment_request"
        order = client.command("create_investment_request",
                               {"accountId": "account_123", "fundId": "fund_abc", "amount": 1000.0},
                               idempotency_key="demo-python-invest-1")
        ok(f"command create_investment_request (account_123, fund_abc, 1,000.00) → "
           f"requestId {order['requestId']}")

        step = "typed error"
        try:
            client.command("create_investment_request",
                           {"accountId": "account_123", "fundId": "fund_abc", "amount": 5_000_000.0})
        except ws.BadRequest as err:
            ok(f"5,000,000 into account_123 → raises ws.{type(err).__name__}: "
               f"HTTP {err.status} {err.code} ({err.message})")
        else:
            fail("an investment above the cash balance was accepted")
except ws.Error as err:
    fail(f"Python: {step}: ws.{type(err).__name__}: {err}")
except (KeyError, TypeError) as err:
    fail(f"Python: {step}: unexpected answer ({type(err).__name__}: {err})")
