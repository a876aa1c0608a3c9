#!/usr/bin/env python3
"""Check that no test secret appears in the suites' combined output.

The secrets are those of the shared vectors: HMAC secrets, private key hex,
key passwords, plus the PEM bodies of the private key files. Prints
"N passed, M failed" (one check per secret)."""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
VEC = ROOT / "tests" / "vectors"


def secrets():
    out = set()
    keys = json.loads((VEC / "keys" / "keys.json").read_text())
    out.add(keys["password"])
    for k in keys["keys"]:
        if k.get("private_key_hex"):
            out.add(k["private_key_hex"])
        if k.get("private") and (VEC / "keys" / k["file"]).suffix == ".pem":
            lines = (VEC / "keys" / k["file"]).read_text().splitlines()
            out.update(l for l in lines[1:-1] if len(l) >= 40)
    for c in json.loads((VEC / "hmac.json").read_text())["cases"]:
        out.add(c["secret"])
    for c in json.loads((VEC / "message.json").read_text())["cases"]:
        out.add(c["private_key_hex"])
    # Short or repetitive strings would match by accident.
    return sorted(s for s in out if len(s) >= 12 and len(set(s)) > 4)


def main(log_path):
    text = pathlib.Path(log_path).read_text(errors="replace")
    passed = failed = 0
    for s in secrets():
        if s in text:
            failed += 1
            print(f"secret leaked into test output: {s[:6]}... (len {len(s)})")
        else:
            passed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
