"""The fake's webhooks against the recordings in ``fixtures/papra-samples/webhooks``: the
management answers (status, shape, error bodies) and the deliveries (events, headers, body,
signature), including what Papra sends nothing for."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from papra_pipeline.client import WEBHOOK_EVENTS as EVENTS
from papra_pipeline.client import parse_delivery
from papra_pipeline.testing import FakePapra
from tests.testing.conftest import BASE_URL
from tests.testing.test_conformance import shape_diff

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "papra-samples" / "webhooks"
RECORDED = [json.loads(p.read_text()) for p in sorted(SAMPLES.glob("1*_delivery_*.json"))]
SECRET = RECORDED[0]["webhook_secret"]
RECORDED_ORG = "org_rixlbkxrrk06v5kyg2f1muda"


def sample(name: str) -> dict[str, Any]:
    return json.loads(next(SAMPLES.glob(f"{name}_*.json")).read_text())


class Receiver:
    """An in-process receiver: keeps every delivery the fake sends and answers 204."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return httpx.Response(204)


@pytest.fixture
def fake() -> FakePapra:
    fake = FakePapra(seed=3)
    fake.webhooks.allowed_hostnames = {"127.0.0.1", "localhost"}  # as on the recording server
    yield fake
    fake.webhooks.close()


@pytest.fixture
def receiver(fake: FakePapra) -> Receiver:
    receiver = Receiver()
    fake.webhooks.transport = httpx.MockTransport(receiver)
    return receiver


@pytest.fixture
def org(fake: FakePapra) -> str:
    return fake.create_organization("Webhooks")["id"]


@contextmanager
def session(fake: FakePapra) -> Iterator[httpx.Client]:
    """A client logged in like a user of Papra's web app (its cookie jar keeps the session)."""
    with httpx.Client(transport=fake.transport(), base_url=BASE_URL) as client:
        client.post(
            "/api/auth/sign-in/email",
            json={"email": fake.email, "password": fake.password},
            headers={"Origin": BASE_URL},
        ).raise_for_status()
        yield client


# ----------------------------------------------------------------------------- management


def test_management_answers_like_the_recordings(fake, receiver, org):
    # The recording server already had one webhook, triggered once, when 001 was recorded.
    fake.webhooks.create(org, name="papra-pipeline sample", url="http://127.0.0.1:18099/hook",
                         events=list(EVENTS), secret="s")
    fake.upload_document(org, "first.txt", "first")
    ids = {RECORDED_ORG: org}
    problems: dict[str, list[str]] = {}
    key = httpx.Client(transport=fake.transport(), base_url=BASE_URL,
                       headers={"Authorization": f"Bearer {fake.api_key}"})
    with session(fake) as logged_in, key:
        for path in sorted(SAMPLES.glob("0*.json")):
            recorded = json.loads(path.read_text())
            request = recorded["request"]
            url = re.sub(r"(org|wbh)_[a-z0-9]{24}", lambda m: ids.get(m[0], m[0]), request["path"])
            client = key if request["auth"] == "api_key" else logged_in
            response = client.request(request["method"], url, json=request.get("json"))
            body = response.json() if response.content else ""
            if path.name.startswith("001"):
                ids[recorded["body"]["webhook"]["id"]] = body["webhook"]["id"]
            found = []
            if response.status_code != recorded["status"]:
                found.append(f"status {response.status_code}, recorded {recorded['status']}")
            elif recorded["status"] >= 400:
                found += [] if body == recorded["body"] else [f"body {body}"]
            else:
                found += shape_diff(recorded["body"], body)
            problems[path.name] = found
    assert problems == {p.name: [] for p in sorted(SAMPLES.glob("0*.json"))}


def test_list_and_get_spell_events_differently(fake, org):
    hook = fake.webhooks.create(org, name="h", url="https://example.com/h",
                                events=["document:updated", "document:created"])
    listed = fake.webhooks.list(org)[0]
    assert [e["eventName"] for e in listed["events"]] == ["document:created", "document:updated"]
    assert fake.webhooks.get(org, hook["id"])["events"] == ["document:created", "document:updated"]
    assert "secret" not in listed and "events" not in hook


# ----------------------------------------------------------------------------- deliveries


def make_recorded_changes(fake: FakePapra, org: str) -> None:
    """The changes of ``changes_made.json``, in order, on documents that exist beforehand."""
    docs = [fake.upload_document(org, f"doc{i}.txt", f"text {i}", extract=True)["id"]
            for i in range(8)]
    office = fake.create_tag(org, "Office")["id"]
    cpd = fake.create_custom_property(org, "Amount", "number")["id"]
    fake.webhooks.create(org, name="papra-pipeline sample", url="http://127.0.0.1:18099/hook",
                         events=list(EVENTS), secret=SECRET)
    fake.upload_document(org, "webhook-sample.txt", "Invoice 77 webhook sample total 12.00 EUR")
    fake.extract_pending()
    fake.update_document(org, docs[0], name="renamed by webhook sample.txt")
    fake.update_document(org, docs[1], content="new content from webhook sample")
    fake.update_document(org, docs[2], notes="a note")
    fake.update_document(org, docs[3], documentDate="2023-03-03T00:00:00.000Z")
    fake.tag_document(org, docs[4], office)
    fake.untag_document(org, docs[4], office)
    fake.set_custom_property_value(org, docs[5], cpd, 12.5)
    fake.clear_custom_property_value(org, docs[5], cpd)
    fake.trash_document(org, docs[6])
    fake.restore_document(org, docs[6])
    fake.trash_document(org, docs[7])
    fake.purge_document(org, docs[7])
    temp = fake.create_tag(org, "wh temp")["id"]
    fake.tag_document(org, docs[5], temp)
    fake.delete_tag(org, temp)


def signature_of_change(payload: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """An event and the keys of its data, in order: what a change looks like on the wire."""
    return payload["type"], tuple(payload["data"])


def test_the_recorded_changes_send_the_recorded_deliveries(fake, receiver, org):
    make_recorded_changes(fake, org)
    fake.webhooks.wait()
    received = [json.loads(r.content) for r in receiver.requests]
    recorded = [s["delivery"]["body"] for s in RECORDED]
    # One attempt each, no ordering: compare as multisets of (event, data keys in order).
    assert Counter(map(signature_of_change, received)) == Counter(
        map(signature_of_change, recorded)
    )
    assert all(list(p) == ["data", "type", "timestamp"] for p in received)
    contents = [p["data"]["content"] for p in received if "content" in p["data"]]
    assert sorted(contents) == sorted(
        p["data"]["content"] for p in recorded if "content" in p["data"]
    )
    assert {p["data"]["tagName"] for p in received if "tagName" in p["data"]} == {
        "Office", "wh temp"
    }


def test_headers_and_signature_are_papras(fake, receiver, org):
    make_recorded_changes(fake, org)
    fake.webhooks.wait()
    recorded_headers = RECORDED[0]["delivery"]["headers"]
    for request in receiver.requests:
        headers = dict(request.headers)
        assert set(headers) - {"host"} == set(recorded_headers)
        for name in ("user-agent", "content-type", "accept", "accept-language", "sec-fetch-mode"):
            assert headers[name] == recorded_headers[name]
        assert re.fullmatch(r"msg_[a-z0-9]{24}", headers["webhook-id"])
        delivery = parse_delivery(headers, request.content, secret=SECRET)
        assert delivery.organization_id == org
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(set(ids)) == len(ids)  # new for every delivery


def test_an_upload_sends_created_then_updated_once_the_text_is_extracted(fake, receiver, org):
    fake.webhooks.create(org, name="h", url="http://127.0.0.1:9/h", events=list(EVENTS),
                         secret=SECRET)
    doc = fake.upload_document(org, "scan.txt", "Total 12.00 EUR")["id"]
    assert [d.event for d in fake.webhooks.wait()] == ["document:created"]
    fake.extract_pending()
    deliveries = fake.webhooks.wait()
    assert [d.event for d in deliveries] == ["document:created", "document:updated"]
    assert deliveries[1].payload["data"] == {
        "documentId": doc, "organizationId": org, "content": "Total 12.00 EUR"
    }


@pytest.mark.parametrize(
    "change",
    [
        "set_custom_property", "clear_custom_property", "restore", "purge", "delete_tag",
        "delete_property_definition",
    ],
)
def test_changes_papra_sends_nothing_for(fake, receiver, org, change):
    doc = fake.upload_document(org, "a.txt", "a", extract=True)["id"]
    tag = fake.create_tag(org, "T")["id"]
    fake.tag_document(org, doc, tag)
    cpd = fake.create_custom_property(org, "Amount", "number")["id"]
    fake.set_custom_property_value(org, doc, cpd, 1)
    if change in ("restore", "purge"):
        fake.trash_document(org, doc)
    fake.webhooks.create(org, name="h", url="http://127.0.0.1:9/h", events=list(EVENTS))
    {
        "set_custom_property": lambda: fake.set_custom_property_value(org, doc, cpd, 2),
        "clear_custom_property": lambda: fake.clear_custom_property_value(org, doc, cpd),
        "restore": lambda: fake.restore_document(org, doc),
        "purge": lambda: fake.purge_document(org, doc),
        "delete_tag": lambda: fake.delete_tag(org, tag),
        "delete_property_definition": lambda: fake.delete_custom_property(org, cpd),
    }[change]()
    assert fake.webhooks.wait() == []


def test_a_reupload_of_a_trashed_document_sends_created(fake, receiver, org):
    doc = fake.upload_document(org, "a.txt", "same bytes", extract=True)["id"]
    fake.trash_document(org, doc)
    fake.webhooks.create(org, name="h", url="http://127.0.0.1:9/h", events=list(EVENTS))
    assert fake.upload_document(org, "again.txt", "same bytes")["id"] == doc
    [created] = fake.webhooks.wait()
    assert created.event == "document:created" and created.payload["data"]["name"] == "again.txt"


def test_only_subscribed_enabled_hooks_of_the_organization_get_deliveries(fake, receiver, org):
    other = fake.create_organization("Other")["id"]
    fake.webhooks.create(org, name="deleted only", url="http://127.0.0.1:9/a",
                         events=["document:deleted"])
    off = fake.webhooks.create(org, name="off", url="http://127.0.0.1:9/b",
                               events=list(EVENTS))
    fake.webhooks.update(org, off["id"], enabled=False)
    fake.webhooks.create(other, name="elsewhere", url="http://127.0.0.1:9/c",
                         events=list(EVENTS))
    doc = fake.upload_document(org, "a.txt", "a", extract=True)["id"]
    fake.trash_document(org, doc)
    assert [(d.url, d.event) for d in fake.webhooks.wait()] == [
        ("http://127.0.0.1:9/a", "document:deleted")
    ]
    assert "signature" not in " ".join(fake.webhooks.sent[0].headers)  # no secret, no signature


def test_private_urls_need_the_allowlist(fake, org):
    fake.webhooks.allowed_hostnames = set()
    body = {"name": "x", "url": "http://127.0.0.1:8787/webhooks/papra", "events": list(EVENTS)}
    with session(fake) as client:
        refused = client.post(f"/api/organizations/{org}/webhooks", json=body)
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "webhooks.ssrf_unsafe_url"
        fake.webhooks.allowed_hostnames = {"127.0.0.1"}
        assert client.post(f"/api/organizations/{org}/webhooks", json=body).status_code == 200


def test_a_receiver_that_is_down_loses_the_delivery(fake, org):
    fake.webhooks.create(org, name="h", url="http://127.0.0.1:9/h", events=list(EVENTS))
    fake.upload_document(org, "a.txt", "a")
    [attempt] = fake.webhooks.wait()
    assert attempt.status is None and "ConnectError" in attempt.error  # one attempt, no retry
