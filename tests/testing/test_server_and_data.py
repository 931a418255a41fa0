"""Loopback serving and the deterministic data generator."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from papra_pipeline.client.models import PROPERTY_TYPES
from papra_pipeline.testing import FakePapra, populate, serve
from papra_pipeline.testing.models import CUSTOM_PROPERTY_TYPES
from tests.testing.conftest import client_for


def test_loopback_server_answers_and_shuts_down() -> None:
    fake = FakePapra()
    org = fake.create_organization("Loopback Org")
    with serve(fake) as url:
        assert url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {fake.api_key}"}) as c:
            uploaded = c.post(
                f"/api/organizations/{org['id']}/documents",
                files={"file": ("été ✓.txt", b"hello", "text/plain")},
            )
            assert uploaded.status_code == 200
            assert uploaded.json()["document"]["name"] == "été ✓.txt"
            listing = c.get(f"/api/organizations/{org['id']}/documents").json()
            assert listing["documentsCount"] == 1
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/api/ping", timeout=1)


def _snapshot(fake: FakePapra, org_id: str) -> list[tuple]:
    return [
        (d["id"], d["name"], d["createdAt"], d["content"], d["isDeleted"],
         tuple(t["name"] for t in d["tags"]), str(d["customProperties"]))
        for d in fake.documents(org_id)
    ]


def test_generator_is_deterministic_and_counts() -> None:
    fakes = [FakePapra(seed=5) for _ in range(2)]
    summaries = [
        populate(f, organizations=2, documents=300, tags=12, custom_properties=10, seed=9)
        for f in fakes
    ]
    assert summaries[0] == summaries[1]
    org_ids = summaries[0]["organizations"]
    assert _snapshot(fakes[0], org_ids[0]) == _snapshot(fakes[1], org_ids[0])
    fake = fakes[0]
    all_docs = [d for o in org_ids for d in fake.documents(o)]
    assert len(all_docs) == 300
    assert sum(d["isDeleted"] for d in all_docs) == summaries[0]["trashed"]
    assert len(fake.list_tags(org_ids[0])) == 12
    types = {p["type"] for p in fake.list_custom_properties(org_ids[0])}
    assert len(types) == 8
    listing = fake.list_documents(org_ids[0], page_size=100)
    assert listing["documentsCount"] == sum(
        not d["isDeleted"] for d in fake.documents(org_ids[0])
    )
    assert all(d["content"] for d in all_docs)
    tagged = next(d for d in all_docs if d["tags"] and d["organizationId"] == org_ids[0])
    events = [a["event"] for a in fake.activities(org_ids[0], tagged["id"])]
    assert len(events) == 3 and "created" in events


def test_generated_documents_are_served_consistently() -> None:
    fake = FakePapra()
    org_id = populate(fake, organizations=1, documents=250)["organizations"][0]
    client = client_for(fake)
    seen = []
    for page in range(3):
        docs = client.get(f"/api/organizations/{org_id}/documents", params={
            "pageIndex": page, "pageSize": 100, "sortOrder": "asc"}).json()["documents"]
        seen += docs
    expected = [d["id"] for d in fake.documents(org_id, include_deleted=False)]
    assert [d["id"] for d in seen] == expected
    doc = seen[0]
    file = client.get(f"/api/organizations/{org_id}/documents/{doc['id']}/file")
    assert len(file.content) == doc["originalSize"]
    assert hashlib.sha256(file.content).hexdigest() == doc["originalSha256Hash"]
    client.close()


def test_the_fake_and_the_client_know_the_same_custom_property_types():
    # The fake imports no other layer, so it keeps its own list; this keeps the two equal.
    assert CUSTOM_PROPERTY_TYPES == PROPERTY_TYPES
