"""Optional cross-check: walletref's RFC 6979 + low-S + recid against libsecp256k1.

walletref signs with python-ecdsa; walletsign's C core will sign with
libsecp256k1's default nonce function.  This script (ctypes, no walletsign)
confirms both produce the same (r, s, recid) so the exact-match message
vectors are reproducible by the C library.  Run from the repository root:

    /usr/bin/python3 -m tests.reference.crosscheck_secp256k1 [N]
"""

import ctypes
import ctypes.util
import hashlib
import sys

from tests.reference import walletref

SECP256K1_CONTEXT_SIGN = (1 << 0) | (1 << 9)


def main(n: int = 300) -> None:
    lib = ctypes.CDLL(ctypes.util.find_library("secp256k1") or "libsecp256k1.so.1")
    lib.secp256k1_context_create.restype = ctypes.c_void_p
    lib.secp256k1_context_create.argtypes = [ctypes.c_uint]
    lib.secp256k1_ecdsa_sign_recoverable.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
        ctypes.c_void_p, ctypes.c_void_p]
    lib.secp256k1_ecdsa_recoverable_signature_serialize_compact.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_char_p]
    ctx = lib.secp256k1_context_create(SECP256K1_CONTEXT_SIGN)
    for i in range(n):
        priv = hashlib.sha256(b"crosscheck key %d" % i).digest()
        digest = hashlib.sha256(b"crosscheck msg %d" % i).digest()
        sig = ctypes.create_string_buffer(65)
        assert lib.secp256k1_ecdsa_sign_recoverable(ctx, sig, digest, priv, None, None) == 1
        out = ctypes.create_string_buffer(64)
        recid = ctypes.c_int()
        lib.secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, out, ctypes.byref(recid), sig)
        r = int.from_bytes(out.raw[:32], "big")
        s = int.from_bytes(out.raw[32:], "big")
        got = walletref.message_sign_digest(priv.hex(), digest)
        assert got == (r, s, recid.value), (i, got, (r, s, recid.value))
    print(f"libsecp256k1 cross-check OK ({n} signatures)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
