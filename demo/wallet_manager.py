"""Wallet Manager from Python: get_address with a message-signed request, and
the response's signature checked against the Wallet Manager's address.

The merchant key (merchant_private_key_hex of the mock's startup line) is
never printed; its Ethereum address is public."""
import os

import walletsign as ws
from demo_util import fail, mock_info, note, ok

info = mock_info()
wm_address = info["wallet_manager_address"]
params = {"chain_type": "ETH", "chain_id": "1", "user_id": "demo-user-42"}
step = "load the merchant key"
try:
    merchant = ws.MessageAuth(ws.Key.from_hex(info["merchant_private_key_hex"]))
    note(f"the merchant signs as {merchant.address} (secp256k1, X-Message-* headers)")
    trusting_wm = ws.MessageVerifier([wm_address])
    with ws.Client(os.environ["WALLETSIGN_BASE_URL"], merchant, timeout=10.0,
                   response_verifier=trusting_wm) as client:
        step = "call POST /access/get_address"
        result = client.call("POST", "/access/get_address", params)
        ok(f"POST /access/get_address ETH/1 user {params['user_id']} → deposit address {result['address']}")
        ok(f"the answer's signature verified: signed by the Wallet Manager {wm_address}")

    # The same call, trusting someone else: the signed answer is refused.
    step = "call with a verifier that trusts another address"
    with ws.Client(os.environ["WALLETSIGN_BASE_URL"], merchant, timeout=10.0,
                   response_verifier=ws.MessageVerifier([merchant.address])) as client:
        try:
            client.call("POST", "/access/get_address", params)
        except ws.SignatureError as err:
            ok(f"a verifier that does not trust {wm_address[:10]}… refuses the answer: "
               f"ws.SignatureError reason={err.reason}")
        else:
            fail("an answer from an untrusted signer was accepted")
except ws.Error as err:
    fail(f"Wallet Manager: {step}: ws.{type(err).__name__}: {err}")
except (KeyError, TypeError) as err:
    fail(f"Wallet Manager: {step}: unexpected answer ({type(err).__name__}: {err})")
