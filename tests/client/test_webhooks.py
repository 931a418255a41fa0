"""Webhooks in the client: management answers and signed deliveries recorded from a real Papra
(``tests/fixtures/papra-samples/webhooks``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from papra_pipeline.client import (
    WEBHOOK_EVENTS,
    InvalidDeliveryError,
    PapraNotFoundError,
    PapraServerError,
    PapraSessionRequiredError,
    PapraUnsafeWebhookUrlError,
    PapraValidationError,
    parse_delivery,
    signature,
)
from papra_pipeline.client._errormap import error_from_response

from .conftest import (
    EMAIL,
    PASSWORD,
    SAMPLES_DIR,
    SESSION_TOKEN,
    load_sample,
    no_request,
    sample_response,
)

WEBHOOK_SAMPLES = SAMPLES_DIR / "webhooks"
ORG = "org_rixlbkxrrk06v5kyg2f1muda"
WEBHOOK = "wbh_wywfrnlds0c8d1kyv3xk98ww"
DELIVERIES = sorted(p.name for p in WEBHOOK_SAMPLES.glob("1*_delivery_*.json"))


def webhook_sample(name: str) -> dict:
    return load_sample(f"webhooks/{name}")


def login_response() -> httpx.Response:
    return httpx.Response(
        200,
        json=load_sample("002")["body"],
        headers={"set-cookie": f"better-auth.session_token={SESSION_TOKEN}; Path=/; HttpOnly"},
    )


class SessionReplay:
    """Answer the login, then each webhook request with the named sample, checking that the
    request is the recorded one (method, path, JSON body) and carries the session cookie."""

    def __init__(self, *names: str) -> None:
        self.samples = [webhook_sample(n) for n in names]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if request.url.path == "/api/auth/sign-in/email":
            return login_response()
        sample = self.samples.pop(0)
        recorded = sample["request"]
        assert (request.method, request.url.path) == (recorded["method"], recorded["path"])
        assert request.headers["cookie"] == f"better-auth.session_token={SESSION_TOKEN}"
        assert "authorization" not in request.headers
        if "json" in recorded:
            sent = json.loads(request.content)
            if "enabled" not in recorded["json"]:
                sent.pop("enabled")  # create always says it; the recording left the default
            assert sent == recorded["json"]
        return sample_response(sample)


@pytest.fixture
def session_client(make_client):
    def build(*names: str):
        replay = SessionReplay(*names)
        return make_client(replay, email=EMAIL, password=PASSWORD), replay

    return build


def test_create_sends_the_recorded_body_and_reads_the_answer(session_client):
    client, replay = session_client("001_webhooks_create_session")
    hook = client.create_webhook(
        ORG,
        name="papra-pipeline sample 2",
        url="http://127.0.0.1:18099/hook2",
        secret="another-secret",
    )
    assert hook.id == WEBHOOK and hook.enabled and hook.organization_id == ORG
    assert hook.events is None  # the create answer omits them
    assert "secret" not in hook.raw
    assert json.loads(replay.requests[-1].content)["events"] == list(WEBHOOK_EVENTS)


def test_list_reads_event_rows_and_get_reads_event_names(session_client):
    client, _ = session_client("006_webhooks_list_session", "008_webhooks_get_session")
    hooks = client.list_webhooks(ORG)
    assert [h.name for h in hooks] == ["papra-pipeline sample", "papra-pipeline sample 2"]
    assert all(set(h.events) == set(WEBHOOK_EVENTS) for h in hooks)
    assert hooks[0].last_triggered_at == datetime(2026, 11, 30, 9, 14, 24, 356000, tzinfo=UTC)
    assert hooks[1].last_triggered_at is None
    single = client.get_webhook(ORG, WEBHOOK)
    assert single.events == tuple(sorted(WEBHOOK_EVENTS))
    assert single.url == "http://127.0.0.1:18099/hook2"


def test_update_and_delete(session_client):
    client, replay = session_client(
        "010_webhooks_update_disable_session", "012_webhooks_delete_session"
    )
    assert client.update_webhook(ORG, WEBHOOK, enabled=False).enabled is False
    assert json.loads(replay.requests[1].content) == {"enabled": False}
    assert client.delete_webhook(ORG, WEBHOOK) is None


@pytest.mark.parametrize(
    ("name", "error", "call"),
    [
        # No events at all is refused with the field named.
        ("003_webhooks_create_no_events_400", PapraValidationError, "create"),
        ("009_webhooks_get_unknown_404", PapraNotFoundError, "get"),
        # Papra 26.6.1 crashes on an update that carries events.
        ("011_webhooks_update_events_session", PapraServerError, "update"),
        ("013_webhooks_delete_again_404", PapraNotFoundError, "delete"),
    ],
)
def test_recorded_refusals_map_to_errors(name, error, call, make_client):
    sample = webhook_sample(name)
    client = make_client(
        lambda request: (
            login_response()
            if request.url.path.startswith("/api/auth")
            else sample_response(sample)
        ),
        email=EMAIL,
        password=PASSWORD,
        max_retries=0,
    )
    with pytest.raises(error) as caught:
        {
            "create": lambda: client.create_webhook(ORG, name="x", url="http://127.0.0.1:18099/x"),
            "get": lambda: client.get_webhook(ORG, "wbh_aaaaaaaaaaaaaaaaaaaaaaaa"),
            "update": lambda: client.update_webhook(ORG, WEBHOOK, name="renamed"),
            "delete": lambda: client.delete_webhook(ORG, WEBHOOK),
        }[call]()
    assert caught.value.code == sample["body"]["error"]["code"]


def test_a_private_url_refusal_explains_the_allowlist(make_client):
    sample = webhook_sample("004_webhooks_create_private_ip_not_allowlisted")
    client = make_client(
        lambda request: (
            login_response()
            if request.url.path.startswith("/api/auth")
            else sample_response(sample)
        ),
        email=EMAIL,
        password=PASSWORD,
    )
    with pytest.raises(PapraUnsafeWebhookUrlError, match="WEBHOOK_URL_ALLOWED_HOSTNAMES"):
        client.create_webhook(ORG, name="x", url="http://10.1.2.3/x")


@pytest.mark.parametrize(
    "name", ["002_webhooks_create_api_key_401", "007_webhooks_list_api_key_401"]
)
def test_an_api_key_gets_401_which_says_a_login_is_needed(name):
    sample = webhook_sample(name)
    error = error_from_response(
        status=sample["status"],
        headers=sample["headers"],
        content=json.dumps(sample["body"]).encode(),
        method=sample["request"]["method"],
        path=sample["request"]["path"],
        auth="key",
    )
    assert isinstance(error, PapraSessionRequiredError)
    assert "webhooks" in str(error) and "PAPRA_EMAIL" in str(error)


def test_without_a_login_nothing_is_sent(make_client):
    client = make_client(no_request)
    with pytest.raises(PapraSessionRequiredError, match="PAPRA_EMAIL"):
        client.list_webhooks(ORG)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"events": []},  # Papra: "Invalid length: Expected >=1"
        {"events": ["document:restored"]},  # no such event (sample 005)
        {"name": ""},
        {"url": "ftp://example.com/hook"},
        {"secret": ""},
    ],
)
def test_bad_input_is_refused_before_sending(kwargs, make_client):
    client = make_client(no_request, email=EMAIL, password=PASSWORD)
    arguments = {"name": "hook", "url": "https://example.com/hook", **kwargs}
    with pytest.raises(ValueError):
        client.create_webhook(ORG, **arguments)


# ------------------------------------------------------------------------------ deliveries


def delivery(name: str) -> tuple[dict, bytes, str]:
    sample = webhook_sample(name)
    return (
        sample["delivery"]["headers"],
        sample["delivery"]["body_raw"].encode(),
        sample["webhook_secret"],
    )


def test_all_eleven_recorded_deliveries_are_there():
    assert len(DELIVERIES) == 11


@pytest.mark.parametrize("name", DELIVERIES)
def test_every_recorded_delivery_verifies_and_parses(name):
    headers, body, secret = delivery(name)
    received = parse_delivery(headers, body, secret=secret, now=int(headers["webhook-timestamp"]))
    recorded = json.loads(body)
    assert received.id == headers["webhook-id"]
    assert received.event == recorded["type"]
    assert received.document_id == recorded["data"]["documentId"]
    assert received.organization_id == recorded["data"]["organizationId"]
    assert received.data == recorded["data"]
    assert signature(secret, received.id, received.timestamp, body) == headers["webhook-signature"]


@pytest.mark.parametrize("name", DELIVERIES)
def test_a_changed_byte_or_another_secret_fails_the_signature(name):
    headers, body, secret = delivery(name)
    now = int(headers["webhook-timestamp"])
    tampered = body.replace(b'"data"', b'"Data"')
    for args in ((headers, tampered, secret), (headers, body, secret + "x")):
        with pytest.raises(InvalidDeliveryError) as caught:
            parse_delivery(*args[:2], secret=args[2], now=now)
        assert caught.value.status == 401


def test_headers_in_any_case_and_several_signatures_are_accepted():
    headers, body, secret = delivery(DELIVERIES[0])
    upper = {k.upper(): v for k, v in headers.items()}
    upper["WEBHOOK-SIGNATURE"] = "v1,AAAA " + headers["webhook-signature"]
    now = int(headers["webhook-timestamp"])
    assert parse_delivery(httpx.Headers(upper), body, secret=secret, now=now).event


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"webhook-signature": None}, "missing"),
        ({"webhook-id": None}, "missing"),
        ({"webhook-signature": "v2,abc"}, "does not match"),
        ({"webhook-signature": "v1,not base64!"}, "does not match"),
        # A signed delivery replayed more than 5 minutes later.
        ({"now": 301}, "old"),
        ({"now": -301}, "ahead"),
    ],
)
def test_unauthentic_or_stale_deliveries_get_401(change, reason):
    headers, body, secret = delivery(DELIVERIES[0])
    headers = dict(headers)
    now = int(headers["webhook-timestamp"]) + change.pop("now", 0)
    for key, value in change.items():
        headers.pop(key) if value is None else headers.__setitem__(key, value)
    with pytest.raises(InvalidDeliveryError, match=reason) as caught:
        parse_delivery(headers, body, secret=secret, now=now)
    assert caught.value.status == 401


def signed(body: bytes, content_type: str = "application/json") -> dict[str, str]:
    return {
        "content-type": content_type,
        "webhook-id": "msg_test",
        "webhook-timestamp": "1796030064",
        "webhook-signature": signature("s3cret", "msg_test", "1796030064", body),
    }


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"{not json", "application/json", "not JSON"),
        (
            b'{"type":"document:restored","data":{"documentId":"d","organizationId":"o"},'
            b'"timestamp":"2026-11-30T09:14:24.314Z"}',
            "application/json",
            "unknown event",
        ),
        (
            b'{"type":"document:deleted","data":{"documentId":"d"},'
            b'"timestamp":"2026-11-30T09:14:24.314Z"}',
            "application/json",
            "organizationId",
        ),
        (
            b'{"type":"document:deleted","data":{"documentId":"d","organizationId":"o"}}',
            "application/json",
            "timestamp",
        ),
        (b"[]", "application/json", "object"),
        (b'{"type":"document:deleted"}', "text/plain", "content-type"),
    ],
)
def test_signed_but_unusable_bodies_get_400(body, content_type, reason):
    with pytest.raises(InvalidDeliveryError, match=reason) as caught:
        parse_delivery(signed(body, content_type), body, secret="s3cret", now=1796030064)
    assert caught.value.status == 400
