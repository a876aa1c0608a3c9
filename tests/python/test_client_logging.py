"""Client options the core has (max_429_attempts, max_retry_after, backoff,
max_response), the core's events logged to logging.getLogger("walletsign"),
and the context (method, path, attempts, time) in a failed call's message."""

import logging
import re
import time

import pytest

import walletsign as ws

QUERY_NAME = "list_client_accounts"
RETRY_LINE = re.compile(r"^retrying POST /query \(attempt 2\) in [0-9.e-]+ s after HTTP 503$")


@pytest.fixture
def jwt_auth(p256_key, halogen_kid):
    return ws.JwtAuth(p256_key, halogen_kid)


def walletsign_records(caplog):
    return [r for r in caplog.records if r.name == "walletsign"]


def attempts(server, path):
    return [e for e in server.log() if e["path"] == path]


# ---------------------------------------------------------------- options

def test_max_429_attempts_one_fails_fast(server, jwt_auth):
    server.queue_faults("/query", ["status:429:retry_after=1"] * 2)
    started = time.monotonic()
    with ws.Client(server.url, jwt_auth, max_429_attempts=1) as client:
        with pytest.raises(ws.RateLimited) as info:
            client.query(QUERY_NAME)
    assert time.monotonic() - started < 0.9          # the Retry-After of 1 s was not waited
    assert len(attempts(server, "/query")) == 1
    assert info.value.http_status == 429 and info.value.retry_after == 1.0


def test_max_retry_after_caps_the_wait(server, jwt_auth):
    server.queue_faults("/query", ["status:429:retry_after=1"])
    with ws.Client(server.url, jwt_auth, max_retry_after=0.5) as client:
        with pytest.raises(ws.RateLimited):
            client.query(QUERY_NAME)
    assert len(attempts(server, "/query")) == 1


def test_backoff_sets_the_retry_wait(server, jwt_auth, caplog):
    caplog.set_level(logging.INFO, logger="walletsign")
    server.queue_faults("/query", ["status:503"])
    with ws.Client(server.url, jwt_auth, backoff=2) as client:
        assert client.query(QUERY_NAME)
    (record,) = walletsign_records(caplog)
    delay = record.args[3]                           # backoff 2 s, jitter 0.5..1.5
    assert 1 <= delay <= 3, record.getMessage()


def test_max_response_refuses_a_larger_answer(server, jwt_auth):
    server.queue_faults("/command", ["huge:2000"])
    with ws.Client(server.url, jwt_auth, max_response=1000) as client:
        with pytest.raises(ws.ProtocolError) as info:
            client.command("update_display_currency", {"displayCurrency": "USD"})
    assert "larger than 1000 bytes" in info.value.message


@pytest.mark.parametrize("kw", [{"max_response": -1}, {"max_429_attempts": -1},
                                {"max_retry_after": -1}, {"backoff": -0.5}])
def test_negative_options_are_refused_by_the_core(kw):
    with pytest.raises(ValueError) as info:
        ws.Client("http://127.0.0.1:1", ws.HmacAuth("k", "s"), **kw)
    assert next(iter(kw)) in str(info.value)


def test_integer_options_must_be_ints():
    with pytest.raises(TypeError, match="^max_429_attempts must be an int"):
        ws.Client("http://127.0.0.1:1", ws.HmacAuth("k", "s"), max_429_attempts=1.5)
    with pytest.raises(TypeError, match="^max_response must be an int"):
        ws.Client("http://127.0.0.1:1", ws.HmacAuth("k", "s"), max_response="1000")


# ---------------------------------------------------------------- logging

def test_a_retry_is_logged_once_at_warning(server, jwt_auth, caplog):
    caplog.set_level(logging.INFO, logger="walletsign")
    server.queue_faults("/query", ["status:503"])
    with ws.Client(server.url, jwt_auth, backoff=0.01) as client:
        assert client.query(QUERY_NAME)
    records = walletsign_records(caplog)
    assert [r.levelno for r in records] == [logging.WARNING]
    assert RETRY_LINE.match(records[0].getMessage()), records[0].getMessage()


def test_a_429_wait_is_logged_at_info(server, jwt_auth, caplog):
    caplog.set_level(logging.INFO, logger="walletsign")
    server.queue_faults("/query", ["status:429:retry_after=1"])
    with ws.Client(server.url, jwt_auth) as client:
        assert client.query(QUERY_NAME)
    records = walletsign_records(caplog)
    assert [(r.levelno, r.getMessage()) for r in records] == \
        [(logging.INFO, "waiting 1 s before POST /query (attempt 2) after HTTP 429")]


def test_a_rate_limiter_wait_is_logged_at_info(server, jwt_auth, caplog):
    caplog.set_level(logging.INFO, logger="walletsign")
    with ws.Client(server.url, jwt_auth, rate_limit=(20, 1)) as client:
        client.query(QUERY_NAME)
        client.query(QUERY_NAME)
    records = walletsign_records(caplog)
    assert len(records) == 1 and records[0].levelno == logging.INFO
    assert re.match(r"^waiting [0-9.e-]+ s before POST /query \(attempt 1\) for the rate limit$",
                    records[0].getMessage()), records[0].getMessage()


def test_no_line_holds_a_secret_a_signature_or_the_query(server, jwt_auth, caplog):
    caplog.set_level(logging.DEBUG, logger="walletsign")
    info = server.info
    secret = info["hmac_secret"]
    with ws.Client(server.url, ws.HmacAuth(info["hmac_api_key"], secret), backoff=0.01,
                   retries=2) as client:
        resp = client.request("GET", "/v1/wallet/list?skip=0&take=5&orderBy=acct-77",
                              headers={"X-Mock-Fault": "status:503"})
    assert resp.status == 503
    hmac_log = attempts(server, "/v1/wallet/list")
    server.queue_faults("/query", ["status:503", "status:429:retry_after=0"])
    with ws.Client(server.url, jwt_auth, backoff=0.01) as client:
        client.query(QUERY_NAME)
    jwt_log = attempts(server, "/query")
    lines = [r.getMessage() for r in walletsign_records(caplog)]
    assert len(lines) == 4, lines                    # 2 HMAC retries, a JWT retry and 429 wait
    assert any(l.startswith("retrying GET /v1/wallet/list (attempt 2)") for l in lines), lines
    sent = [secret, "acct-77", "orderBy"]
    for entry in hmac_log:
        sent += [v for k, v in entry["headers"].items() if k.lower().startswith("x-")
                 and k.lower() != "x-mock-fault"]
    for entry in jwt_log:
        token = entry["headers"]["Authorization"]
        sent += [token, token.split(" ", 1)[1], token.rsplit(".", 1)[1]]
    assert len(sent) > 3
    for line in lines:
        for value in sent:
            assert value not in line, (value, line)


class Refuse(logging.Filter):
    def filter(self, record):
        raise RuntimeError("a filter that fails")


def test_a_failing_log_setup_never_breaks_a_call(server, jwt_auth, caplog):
    caplog.set_level(logging.INFO, logger="walletsign")
    logger = logging.getLogger("walletsign")
    refuse = Refuse()
    logger.addFilter(refuse)
    try:
        server.queue_faults("/query", ["status:503"])
        with ws.Client(server.url, jwt_auth, backoff=0.01) as client:
            assert client.query(QUERY_NAME)["asset"] == "MYR"
    finally:
        logger.removeFilter(refuse)
    assert [e["status"] for e in attempts(server, "/query")] == [503, 200]


# ---------------------------------------------------------------- error context

def test_a_failure_says_where_it_went_and_what_it_cost(server, jwt_auth):
    server.queue_faults("/query", ["status:502"] * 3)
    with ws.Client(server.url, jwt_auth, retries=2, backoff=0.01) as client:
        with pytest.raises(ws.ServerError) as info:
            client.query(QUERY_NAME)
        assert re.search(r"^HTTP 502.* \(POST /query, 3 attempts, [0-9.e-]+ s\)$",
                         info.value.message), info.value.message
        with pytest.raises(ws.TransportError) as info:
            client.request("POST", "/command?token=t0k3n", headers={"X-Mock-Fault": "drop"})
    assert "(POST /command, 1 attempt, " in str(info.value)
    assert "t0k3n" not in str(info.value)
