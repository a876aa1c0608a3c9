"""docs/protocols.md quotes known answers: they must match the shared vectors,
which independent libraries produced."""
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "protocols.md").read_text()
VEC = ROOT / "tests" / "vectors"


def known(name):
    cases = json.loads((VEC / f"{name}.json").read_text())["cases"]
    return [c for c in cases if c["name"] == "protocols_md_known_answer"]


def test_hmac_known_answer_is_quoted():
    (case,) = [c for c in known("hmac") if c["encoding"] == "base64"] or known("hmac")[:1]
    assert case["signature"] in DOC
    assert case["secret"] in DOC
    assert str(case["timestamp_ms"]) in DOC
    assert case["path"] in DOC


def test_hmac_hex_known_answer_is_quoted():
    import hmac, hashlib
    case = known("hmac")[0]
    prehash = bytes.fromhex(case["prehash_hex"])
    digest = hmac.new(case["secret"].encode(), prehash, hashlib.sha256).hexdigest()
    assert digest in DOC


def test_message_known_answer_is_quoted():
    (case,) = known("message")
    for value in (case["private_key_hex"], case["address"], case["session"], case["signature"],
                  bytes.fromhex(case["body_hex"]).decode()):
        assert value in DOC, value
