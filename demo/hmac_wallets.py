"""The API-key + HMAC wallet API from Python: list the latest wallets.

The api key and secret are the mock's defaults, from its startup line
(DEMO_MOCK_INFO); the secret is never printed."""
import os

import walletsign as ws
from demo_util import fail, mock_info, note, ok, short

info = mock_info()
path = "/v1/wallet/list?skip=0&take=5&orderBy=desc"
auth = ws.HmacAuth(info["hmac_api_key"], info["hmac_secret"])
try:
    signed = auth.sign("GET", path)
    note(f"signs GET {path} with {', '.join(signed)} (api key {signed['x-api-key']}, HMAC-SHA256)")
    with ws.Client(os.environ["WALLETSIGN_BASE_URL"], auth, timeout=10.0) as client:
        resp = client.request("GET", path)      # signed again, fresh timestamp
        page = resp.json()
        if resp.status != 200 or len(page["data"]) != 5:
            fail(f"HMAC: unexpected answer HTTP {resp.status}")
        ok(f"HTTP {resp.status}: {len(page['data'])} of {page['total']} wallets, newest first")
        for w in page["data"]:
            print(f"    {w['name']:<10} {w['chain']:<9} {short(w['address'], 20)}  id {short(w['id'], 14)}")
except ws.Error as err:
    fail(f"HMAC wallet list: ws.{type(err).__name__}: {err}")
except (KeyError, TypeError, ValueError) as err:
    fail(f"HMAC wallet list: unexpected answer ({type(err).__name__}: {err})")
