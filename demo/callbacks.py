"""Ask the mock Wallet Manager to POST signed deposit_status callbacks to the
merchant (demo/merchant.py, at DEMO_MERCHANT_URL): a genuine one is accepted,
the same delivered again is refused as a replay, and one with a byte changed
after signing is refused as bad_signature."""
import json
import os
import urllib.error
import urllib.request

from demo_util import fail, note, ok

MOCK = os.environ["WALLETSIGN_BASE_URL"]
MERCHANT = os.environ["DEMO_MERCHANT_URL"]
DEPOSIT = {"chain_type": "ETH", "chain_id": "1", "tx_hash": "0x" + "ab" * 32,
           "to": "0x00deE0507d7160246f752486019874A71397165a", "amount": "1.5",
           "status": "confirmed", "confirmations": 12}


def deliver(**options):
    """POST /_mock/wm/callback; the answer says what the merchant replied."""
    req = urllib.request.Request(
        MOCK + "/_mock/wm/callback", method="POST",
        data=json.dumps(dict({"url": MERCHANT, "type": "deposit_status", "data": DEPOSIT},
                             **options)).encode(),
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            answer = json.load(resp)
    except urllib.error.HTTPError as err:
        fail(f"the mock could not deliver the callback: HTTP {err.code} {err.read()[:200]!r}")
    except OSError as err:
        fail(f"the mock could not be reached: {err}")
    try:
        reply = json.loads(answer["body"])
    except ValueError:
        fail(f"the merchant's reply is not JSON (HTTP {answer['status']})")
    return answer["status"], reply, answer["sent"]


def rejected(label, status, reply, reason):
    got = ((reply.get("error") or {}).get("data") or {}).get("reason")
    if status != 401 or got != reason:
        fail(f"{label}: expected 401 {reason}, the merchant answered {status} {json.dumps(reply)}")
    ok(f"{label} → merchant answered {status} rpc_error {reply['error']['code']} "
       f"\"{reply['error']['message']}\", reason {got}")


status, reply, sent = deliver()
note(f"callback body {sent['body'][:70]}…")
note("signed by " + sent["headers"].get("X-Message-Address", "?") + ", sequence "
     + sent["headers"].get("X-Message-Sequence", "?"))
if status != 200 or reply.get("error") is not None or not reply.get("result", {}).get("received"):
    fail(f"genuine callback: expected 200 with a result, the merchant answered {status} {json.dumps(reply)}")
ok(f"genuine deposit_status callback → merchant answered {status} rpc_result {json.dumps(reply['result'])}")

status, reply, _ = deliver(replay_last=True)
rejected("the same callback delivered again (replay_last)", status, reply, "replay")

status, reply, sent = deliver(tamper=True)
changed = {k: v for k, v in json.loads(sent["body"]).get("data", {}).items() if DEPOSIT.get(k) != v}
what = ", ".join(f"{k} {DEPOSIT.get(k)} → {v}" for k, v in changed.items()) or "one byte"
rejected(f"a new callback changed after signing ({what})", status, reply, "bad_signature")
