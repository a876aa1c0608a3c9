"""Mock Halogen / HMAC / Wallet Manager server: the independent judge of
walletsign's wire behaviour. It never imports walletsign; signatures are
checked with `cryptography` (Halogen JWTs) and tests/reference/walletref.py
(HMAC and secp256k1 messages). See README.md in this directory."""

from .server import MockApp, MockServer

__all__ = ["MockServer", "MockApp"]
