"""JSON answers reach Python through json's C scanner straight (#14: the
per-query CPU), with json.loads as the fallback: the values must be exactly
json.loads' in every case, the fallback cases included."""

import json
import math

import pytest

import walletsign as ws
from walletsign import _types
from walletsign._walletsign import _json_loads

DOCS = [
    b"{}", b"[]", b"0", b"-0", b"null", b"true", b'""',
    b'{"a":[1,2.5,"x",null,false],"b":{"c":{}}}',
    b'{"big":123456789012345678901234567890123456789}',
    b'{"f":1e308,"g":-2.5E-3,"h":0.1}',
    b'{"u":"caf\xc3\xa9 \xf0\x9f\x92\xb0","e":"\\u00e9\\ud83d\\udcb0\\n\\"\\\\"}',
    b'[' + b",".join(b"%d" % i for i in range(200)) + b']',
    b'{"deep":' + b"[" * 50 + b"]" * 50 + b"}",
    # not taken whole by the scanner: json.loads' own path must answer
    b'  {"ws":1}', b'{"ws":1}\n', b'\t[ 1 , 2 ]\r\n',
]


def _same(a, b):
    """Equal values of equal types, all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


@pytest.mark.parametrize("doc", DOCS)
def test_json_answers_equal_json_loads(doc):
    assert _same(_json_loads(doc), json.loads(doc))


@pytest.mark.parametrize("value", [{}, {"a": [1, 2.5, "x"]}, "caf\u00e9", 2 ** 90, None, [[]]])
def test_core_compacted_answers_equal_json_loads(value):
    # rpc_parse hands the shim the core's compacted text, as Client.query does.
    body = ws.rpc_result(value)
    assert _same(ws.rpc_parse(body), json.loads(body)["result"])


def test_scanner_is_jsons_own():
    # The fast path is only right while it is json.loads' own scanner.
    assert _types.scan_once("[1]", 0) == ([1], 3)
    with pytest.raises(StopIteration):
        _types.scan_once(" [1]", 0)


def test_bad_documents_still_raise_typed_errors():
    for bad in (b"{", b'{"a":1}x', b"\xff", b'{"a":1,"a":2}', b""):
        with pytest.raises(ws.ProtocolError):
            _json_loads(bad)


def test_a_number_python_refuses_raises_like_json_loads():
    # Longer than sys.get_int_max_str_digits(): the scanner fails, and the
    # fallback raises what json.loads raises.
    doc = b"[" + b"9" * 5000 + b"]"
    with pytest.raises(ValueError) as want:
        json.loads(doc)
    with pytest.raises(type(want.value)):
        _json_loads(doc)
