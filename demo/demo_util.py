"""Shared bits of the demo scripts: the mock's startup line, and the
"✔ " / "✘ " step lines that scripts/demo.sh and scripts/test-demo.sh count.

Never print the mock's info dict: it holds the HMAC secret and the merchant's
private key."""
import json
import os
import sys


def mock_info():
    """The mock server's JSON startup line, saved by demo.sh (DEMO_MOCK_INFO)."""
    with open(os.environ["DEMO_MOCK_INFO"], encoding="utf-8") as fh:
        return json.load(fh)


def ok(text):
    print("✔ " + text, flush=True)


def fail(text):
    print("✘ " + text, flush=True)
    sys.exit(1)


def note(text):
    print("  " + text, flush=True)


def short(value, n=18):
    """An id or address shortened for display."""
    value = str(value)
    return value if len(value) <= n else value[: n - 6] + "…" + value[-5:]
