"""The Wallet Manager's JSON-RPC-like envelope: build and parse."""

import json

import pytest

import walletsign as ws


def test_rpc_result_and_error_bodies():
    assert ws.rpc_result({"ok": True}) == b'{"result":{"ok":true}}'
    assert json.loads(ws.rpc_result([1, "two", None])) == {"result": [1, "two", None]}
    assert json.loads(ws.rpc_result(None)) == {"result": None}
    big = 2 ** 80 + 1
    assert json.loads(ws.rpc_result({"n": big}))["result"]["n"] == big
    assert json.loads(ws.rpc_error(24, "Not found")) == {"error": {"code": 24,
                                                                   "message": "Not found"}}
    assert json.loads(ws.rpc_error(21, "Invalid request", {"field": "x"})) == \
        {"error": {"code": 21, "message": "Invalid request", "data": {"field": "x"}}}
    assert json.loads(ws.rpc_error(-32000, "caf\u00e9 \"quoted\"")) == \
        {"error": {"code": -32000, "message": "caf\u00e9 \"quoted\""}}


def test_rpc_parse_round_trips():
    for value in ({"a": [1, 2.5, "x"]}, [], "text", 0, None, 2 ** 70):
        assert ws.rpc_parse(ws.rpc_result(value)) == value
    assert ws.rpc_parse(b'{"error":null,"result":{"x":1}}') == {"x": 1}
    assert ws.rpc_parse('{"result":"str body"}') == "str body"


def test_rpc_parse_errors():
    with pytest.raises(ws.RpcError) as info:
        ws.rpc_parse(ws.rpc_error(31, "Insufficient balance", {"total": "2000000"}))
    err = info.value
    assert (err.kind, err.rpc_code, err.code, err.message, err.data) == \
        ("rpc_error", 31, "31", "Insufficient balance", {"total": "2000000"})
    assert "31" in str(err) and "Insufficient balance" in str(err)
    with pytest.raises(ws.RpcError) as info:
        ws.rpc_parse(b'{"error":{"code":22,"message":"Method not found"}}')
    assert info.value.data is None
    for bad in (b"", b"not json", b"[]", b'{"neither":1}', b'{"error":{"message":"no code"}}'):
        with pytest.raises(ws.ProtocolError):
            ws.rpc_parse(bad)


def test_rpc_argument_errors():
    with pytest.raises(TypeError):
        ws.rpc_result(object())
    with pytest.raises(ValueError):
        ws.rpc_result(float("inf"))
    with pytest.raises(TypeError):
        ws.rpc_error("24", "x")
    with pytest.raises(TypeError):
        ws.rpc_error(24, None)
    with pytest.raises(TypeError):
        ws.rpc_parse(None)
    with pytest.raises(TypeError):
        ws.rpc_parse(12)
