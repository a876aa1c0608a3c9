"""The public surface: names, docstrings, the .pyi stub against the real
signatures, the exception hierarchy and its fields."""

import ast
import inspect
import pickle
from pathlib import Path

import pytest

import walletsign as ws

PKG = Path(ws.__file__).resolve().parent
STUB = PKG / "__init__.pyi"


def test_package_files():
    assert (PKG / "py.typed").is_file()
    assert STUB.is_file()
    assert ws.__version__ == "0.1.0"
    assert ws._walletsign.WSIG_VERSION == ws.__version__


def test_all_names_exist_and_are_documented():
    for name in ws.__all__:
        obj = getattr(ws, name)
        if inspect.isclass(obj) or callable(obj):
            assert obj.__doc__ and obj.__doc__.strip(), name
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for attr, value in vars(obj).items():
                if attr.startswith("__") or attr in ("_fields", "_field_defaults"):
                    continue
                if callable(value) or isinstance(value, (property, classmethod)) or \
                        type(value).__name__ in ("getset_descriptor", "method_descriptor",
                                                 "classmethod_descriptor"):
                    assert getattr(obj, attr).__doc__, "%s.%s" % (name, attr)


def _stub_tree():
    return ast.parse(STUB.read_text())


def _params(args: ast.arguments):
    out = [(a.arg, "positional_only") for a in args.posonlyargs]
    out += [(a.arg, "positional_or_keyword") for a in args.args]
    if args.vararg:
        out.append((args.vararg.arg, "var_positional"))
    out += [(a.arg, "keyword_only") for a in args.kwonlyargs]
    if args.kwarg:
        out.append((args.kwarg.arg, "var_keyword"))
    return out


def _runtime_params(obj):
    params = list(inspect.signature(obj).parameters.values())
    if params and params[0].name == "self":     # unbound native method
        params = params[1:]
    out = []
    for p in params:
        kind = p.kind.name.lower()
        out.append((p.name, kind if kind != "positional_only" else "positional_or_keyword"))
    return out


def _normalise(params, drop_self):
    if drop_self and params and params[0][0] in ("self", "cls"):
        params = params[1:]
    return [(n, "positional_or_keyword" if k == "positional_only" else k) for n, k in params]


NATIVE_CLASSES = {"Key", "Auth", "JwtAuth", "HmacAuth", "MessageAuth", "HmacVerifier",
                  "MessageVerifier", "Client", "RedisReplayStore"}


def test_stub_matches_runtime_signatures():
    checked = 0
    for node in _stub_tree().body:
        if isinstance(node, ast.FunctionDef):
            runtime = getattr(ws, node.name)
            assert _normalise(_params(node.args), False) == _runtime_params(runtime), node.name
            checked += 1
        elif isinstance(node, ast.ClassDef) and node.name in NATIVE_CLASSES:
            cls = getattr(ws, node.name)
            for item in node.body:
                if not isinstance(item, ast.FunctionDef) or item.name in ("__enter__",
                                                                          "__exit__"):
                    continue
                decorators = {getattr(d, "id", None) for d in item.decorator_list}
                if "property" in decorators:
                    assert isinstance(inspect.getattr_static(cls, item.name),
                                      type(ws.Key.kind)), "%s.%s" % (node.name, item.name)
                    continue
                stub = _normalise(_params(item.args), True)
                if item.name == "__new__":
                    runtime = _runtime_params(cls)
                else:
                    runtime = _runtime_params(getattr(cls, item.name))
                assert stub == runtime, "%s.%s: %s != %s" % (node.name, item.name, stub, runtime)
                checked += 1
    assert checked >= 25


def test_stub_names_match_all():
    names = set()
    for node in _stub_tree().body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):  # an alias: ReplayStoreError = StoreError
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    public = {n for n in names if not n.startswith("_")}
    assert public - {"TypeVar"} == set(ws.__all__) - {"__version__"}


def test_store_error_is_one_class_under_two_names():
    assert ws.ReplayStoreError is ws.StoreError and issubclass(ws.StoreError, ws.Error)
    assert ws.StoreError.__module__ == "walletsign" and ws.StoreError.__doc__


def test_exception_hierarchy():
    assert issubclass(ws.KeyFormatError, ws.Error) and issubclass(ws.KeyFormatError, ValueError)
    assert issubclass(ws.PasswordError, ws.KeyFormatError)
    assert issubclass(ws.Timeout, ws.TransportError)
    assert issubclass(ws.FileError, OSError)
    for cls, status in [(ws.BadRequest, 400), (ws.Unauthorized, 401), (ws.Forbidden, 403),
                        (ws.NotFound, 404), (ws.Gone, 410), (ws.PreconditionFailed, 412),
                        (ws.RateLimited, 429), (ws.ServerError, 503)]:
        assert issubclass(cls, ws.ApiError) and issubclass(cls, ws.Error)
    for cls in (ws.SignatureError, ws.TransportError, ws.ProtocolError, ws.ApiError,
                ws.RpcError, ws.CryptoError):
        assert issubclass(cls, ws.Error)
    assert issubclass(ws.WeakKeyWarning, UserWarning)
    assert ws.SignatureError.__module__ == "walletsign"


def test_exception_fields_and_pickling():
    errors = [
        ws.SignatureError("replayed", reason="replay"),
        ws.Timeout("too slow", curl_code=28),
        ws.RateLimited("HTTP 429", status=429, code="ErrRateLimitExceeded", body=b"{}",
                       retry_after=1.5),
        ws.RpcError("Not found", code="24", rpc_code=24, data={"tx": "0x00"}, status=200),
        ws.KeyFormatError("bad key"),
        ws.FileError("cannot open x"),
    ]
    for err in errors:
        again = pickle.loads(pickle.dumps(err))
        assert type(again) is type(err) and str(again) == str(err)
        assert again.__dict__ == err.__dict__
    assert errors[0].reason == "replay" and "replay" in str(errors[0])
    assert errors[1].curl_code == 28 and errors[1].message == "too slow"
    assert errors[2].retry_after == 1.5 and errors[2].status == 429
    assert "ErrRateLimitExceeded" in str(errors[2])
    assert errors[3].rpc_code == 24 and errors[3].data == {"tx": "0x00"}
    assert errors[3].http_status == errors[3].status == 200
    with pytest.raises(TypeError):
        ws.Error("x", no_such_field=1)
    assert ws.Error().status is None and ws.Error().data is None


def test_native_types_are_final_where_they_should_be():
    with pytest.raises(TypeError):
        ws.Auth()
    with pytest.raises(TypeError):
        type("MyKey", (ws.Key,), {})

    class MyClient(ws.Client):
        pass
    client = MyClient("http://127.0.0.1:1", ws.HmacAuth("k", "s"))
    assert isinstance(client, ws.Client)
    client.close()
    assert isinstance(MyClient.from_env({"HALOGEN_WALLET_KEY_ID": "k",
                                         "HALOGEN_WALLET_PRIVATE_KEY_PEM":
                                             ws.Key.generate("P-256").private_pem()}), MyClient)


def test_response_type():
    r = ws.Response(201, {"content-type": "application/json", "set-cookie": "a=1, b=2"},
                    b'{"x":1}', 2)
    assert r.status == 201 and r.ok and r.attempts == 2
    assert r.headers == {"content-type": "application/json", "set-cookie": "a=1, b=2"}
    assert r.json() == {"x": 1}
    assert repr(r) == "<walletsign.Response 201, application/json, 7 bytes, 2 attempts>"


def test_message_type():
    m = ws.Message("0xabc", "1", "2", 3)
    assert m.address == "0xabc" and m.timestamp == 3 and tuple(m) == ("0xabc", "1", "2", 3)


def test_secrets_never_in_errors_or_reprs():
    from conftest import KEYS, load_vectors
    seen = []

    def record(fn):
        try:
            result = fn()
        except Exception as exc:   # every failure's text is collected
            seen.extend([str(exc), repr(exc)])
        else:
            seen.append(repr(result))

    hmac_case = load_vectors("hmac")["cases"][0]
    secret = hmac_case["secret"]
    record(lambda: ws.HmacAuth("api-key", secret))
    verifier = ws.HmacVerifier({"api-key": secret})
    seen.append(repr(verifier))
    record(lambda: verifier.verify("GET", "/", {"x-api-key": "api-key", "x-timestamp": "1",
                                                "x-signature": "bad"}, now=1))
    hexkey = load_vectors("message")["cases"][0]["private_key_hex"]
    record(lambda: ws.Key.from_hex(hexkey))
    record(lambda: ws.MessageAuth(ws.Key.from_hex(hexkey)))
    record(lambda: ws.Key.from_hex(hexkey[:-1] + "g"))
    record(lambda: ws.Key.from_hex(hexkey + "00"))
    password = load_vectors("jwt")["password"]
    record(lambda: ws.Key.load(KEYS / "p256_pkcs8_encrypted.pem", password=password + "!"))
    record(lambda: ws.Key.load(KEYS / "p256_pkcs8_encrypted.pem", password=password))
    pem = (KEYS / "p256_sec1.pem").read_bytes()
    record(lambda: ws.Key.load(pem[:150]))
    record(lambda: ws.Key.load(pem.replace(b"BEGIN EC", b"BEGIN RSA")))
    record(lambda: ws.Key.load(pem))
    text = "\n".join(seen)
    assert len(seen) >= 12
    for value in [secret, hexkey, password, password + "!"] + \
            [line for line in pem.decode().splitlines()[1:-1] if len(line) > 20]:
        assert value not in text
