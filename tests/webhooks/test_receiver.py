"""The receiver's hardening: only genuine, fresh, well-formed deliveries reach the inbox, each
once, and only after they are committed does it answer 2xx."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from papra_pipeline.warehouse.inbox import WebhookInbox
from papra_pipeline.webhooks.receiver import MAX_BODY_BYTES, build_app

from .helpers import SAMPLES, SECRET, serve_receiver, signed_delivery

URL = "/webhooks/papra"


@pytest.fixture
def inbox_file(tmp_path):
    return tmp_path / "papra.webhooks.sqlite"


@pytest.fixture
def receiver(inbox_file):
    """An HTTP client of the receiver, served by uvicorn on loopback."""
    with serve_receiver(inbox_file) as base_url, httpx.Client(base_url=base_url) as client:
        yield client


def stored(inbox_file) -> list[str]:
    with WebhookInbox(inbox_file) as inbox:
        return [p.delivery_id for p in inbox.pending()]


def test_each_recorded_delivery_is_stored(inbox_file):
    samples = [json.loads(p.read_text()) for p in sorted(SAMPLES.glob("1*_delivery_*.json"))]
    now = int(samples[-1]["delivery"]["headers"]["webhook-timestamp"])
    secret = samples[0]["webhook_secret"]
    with serve_receiver(inbox_file, secret, now=lambda: now) as base_url, httpx.Client(
        base_url=base_url
    ) as client:
        for sample in samples:
            delivery = sample["delivery"]
            response = client.post(
                URL, content=delivery["body_raw"].encode(), headers=delivery["headers"]
            )
            assert response.status_code == 200, response.text
            assert response.json() == {"status": "stored"}
    with WebhookInbox(inbox_file) as inbox:
        pending = inbox.pending()
    assert [p.delivery_id for p in pending] == [
        s["delivery"]["headers"]["webhook-id"] for s in samples
    ]
    assert [p.document_id for p in pending] == [
        s["delivery"]["body"]["data"]["documentId"] for s in samples
    ]


@pytest.mark.parametrize(
    "forge",
    [
        "no signature",
        "wrong secret",
        "altered body",
        "signature of another delivery",
    ],
)
def test_forged_deliveries_get_401_and_nothing_is_stored(receiver, inbox_file, forge):
    headers, body = signed_delivery(secret="wrong" if forge == "wrong secret" else SECRET)
    if forge == "no signature":
        del headers["webhook-signature"]
    elif forge == "altered body":
        body = body.replace(b"document:updated", b"document:deleted")
    elif forge == "signature of another delivery":
        headers["webhook-signature"] = signed_delivery()[0]["webhook-signature"]
    response = receiver.post(URL, content=body, headers=headers)
    assert response.status_code == 401
    assert stored(inbox_file) == []


@pytest.mark.parametrize("offset", [-302, 302, -86_400])  # past 300 s whatever int() drops
def test_deliveries_more_than_five_minutes_off_are_refused(receiver, inbox_file, offset):
    import time

    headers, body = signed_delivery(timestamp=int(time.time()) + offset)
    response = receiver.post(URL, content=body, headers=headers)
    assert response.status_code == 401 and "webhook-timestamp" in response.json()["error"]
    assert stored(inbox_file) == []


def test_a_replayed_delivery_id_is_stored_once(receiver, inbox_file):
    headers, body = signed_delivery()
    first = receiver.post(URL, content=body, headers=headers)
    again = receiver.post(URL, content=body, headers=headers)
    assert (first.status_code, first.json()) == (200, {"status": "stored"})
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert stored(inbox_file) == [headers["webhook-id"]]


@pytest.mark.parametrize("declared", [True, False])
def test_bodies_over_1_mb_get_413(receiver, inbox_file, declared):
    big = b'{"data":{"content":"' + b"x" * MAX_BODY_BYTES + b'"}}'
    headers, body = signed_delivery(body=big)
    if declared:
        response = receiver.post(URL, content=body, headers=headers)
    else:  # chunked, no content-length: counted while reading
        response = receiver.post(URL, content=iter([body[:1000], body[1000:]]), headers=headers)
    assert response.status_code == 413
    assert stored(inbox_file) == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b'{"type":"document:restored","data":{"documentId":"d","organizationId":"o"},'
         b'"timestamp":"2026-11-30T09:14:24.314Z"}', "application/json"),
        (b'{"type":"document:deleted","data":{"documentId":"d","organizationId":"o"},'
         b'"timestamp":"2026-11-30T09:14:24.314Z"}', "text/plain"),
        (b"\xff\xfe", "application/json"),
        (b"", "application/json"),
    ],
)
def test_unusable_bodies_get_400_and_the_receiver_carries_on(receiver, inbox_file, body,
                                                             content_type):
    headers, body = signed_delivery(body=body, content_type=content_type)
    assert receiver.post(URL, content=body, headers=headers).status_code == 400
    assert stored(inbox_file) == []
    headers, body = signed_delivery()
    assert receiver.post(URL, content=body, headers=headers).status_code == 200
    assert receiver.get("/healthz").json() == {"status": "ok", "pending": 1}


def test_other_methods_and_paths_store_nothing(receiver, inbox_file):
    assert receiver.get(URL).status_code == 405
    headers, body = signed_delivery()
    assert receiver.post("/webhooks/other", content=body, headers=headers).status_code == 404
    assert stored(inbox_file) == []


def test_the_secret_is_never_logged_nor_echoed(receiver, caplog):
    caplog.set_level(logging.DEBUG)
    answers = []
    for secret in (SECRET, "wrong-secret"):
        headers, body = signed_delivery(secret=secret)
        answers.append(receiver.post(URL, content=body, headers=headers).text)
    headers, body = signed_delivery(body=b"{nope")
    answers.append(receiver.post(URL, content=body, headers=headers).text)
    assert any("refused" in r.message for r in caplog.records)
    assert any("stored" in r.message for r in caplog.records)
    assert SECRET not in caplog.text and SECRET not in "".join(answers)


def test_the_receiver_refuses_to_start_without_a_secret(inbox_file):
    with pytest.raises(ValueError, match="PAPRA_WEBHOOK_SECRET"):
        build_app("", inbox_file)


def test_a_delivery_the_inbox_cannot_take_is_not_acknowledged(inbox_file):
    import sqlite3

    with serve_receiver(inbox_file, lock_timeout=0.2) as base_url, httpx.Client(
        base_url=base_url
    ) as client:
        holder = sqlite3.connect(inbox_file, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another process writing, and not letting go
        headers, body = signed_delivery()
        refused = client.post(URL, content=body, headers=headers)
        holder.execute("ROLLBACK")
        holder.close()
        assert refused.status_code == 503
        assert stored(inbox_file) == []
        retried = client.post(URL, content=body, headers=headers)
        assert retried.json() == {"status": "stored"}
