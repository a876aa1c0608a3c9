"""The public header stays regular (issue #12): every exported function has a
libsecp256k1-style doc comment with Returns:, fixed buffers are sized by named
WSIG_*_SIZE constants rather than bare numbers, and the entry points that fix
a nonce or a sequence sit in the last, marked section."""

import pathlib
import re

import pytest

HEADER = pathlib.Path(__file__).resolve().parents[2] / "csrc" / "include" / "walletsign.h"
TEST_ONLY = {"wsig_jwt_token_fixed", "wsig_message_sign_fixed"}
TEST_ONLY_MARK = "For known answers and tests only"


def declarations(text):
    """(name, offset, doc comment right before it or None) for every WSIG_API
    function declaration."""
    found = []
    for m in re.finditer(r"^WSIG_API\b[^;]*?\b(wsig_\w+)\s*\(", text, re.M | re.S):
        before = text[:m.start()].rstrip()
        doc = None
        if before.endswith("*/"):
            start = before.rfind("/**")
            if start >= 0 and "*/" not in before[start:-2]:
                doc = before[start:]
        found.append((m.group(1), m.start(), doc))
    return found


TEXT = HEADER.read_text()
DECLS = declarations(TEXT)


def test_the_header_declares_functions():
    assert len(DECLS) > 60, [d[0] for d in DECLS]


@pytest.mark.parametrize("name", [d[0] for d in DECLS])
def test_every_function_has_a_doc_comment_with_returns(name):
    doc = dict((d[0], d[2]) for d in DECLS)[name]
    assert doc is not None, f"{name} has no /** */ doc comment right above it"
    assert "Returns:" in doc, f"{name}'s doc comment has no Returns:"


def test_no_bare_array_sizes():
    code = re.sub(r"/\*.*?\*/", "", TEXT, flags=re.S)
    assert re.findall(r"\w+\[\d+\]", code) == [
        "out[32]",  # wsig_keccak256's digest: 32 bytes by definition, no string
    ]


def test_test_only_entry_points_are_last_in_their_section():
    mark = TEXT.index(TEST_ONLY_MARK)
    for name, offset, _ in DECLS:
        assert (offset > mark) == (name in TEST_ONLY), name


def test_the_secret_pem_says_how_it_is_freed():
    doc = dict((d[0], d[2]) for d in DECLS)["wsig_key_private_pem"]
    assert "wsig_free_secret(*out, *out_len)" in doc
