"""Document behaviour of the fake: paging, list shape, updatedAt, trash, dedup, extraction."""

from __future__ import annotations

import httpx

from papra_pipeline.testing import FakePapra


def _docs_url(org_id: str) -> str:
    return f"/api/organizations/{org_id}/documents"


def test_paging_order_and_count(fake: FakePapra, org_id: str, client: httpx.Client) -> None:
    ids = [fake.upload_document(org_id, f"doc-{i}.txt", f"text {i}")["id"] for i in range(7)]
    seen = []
    for page in range(4):
        body = client.get(
            _docs_url(org_id),
            params={"pageIndex": page, "pageSize": 2, "sortField": "createdAt", "sortOrder": "asc"},
        ).json()
        assert body["documentsCount"] == 7
        seen += [d["id"] for d in body["documents"]]
    assert seen == ids
    desc = client.get(_docs_url(org_id), params={"pageSize": 3}).json()["documents"]
    assert [d["id"] for d in desc] == ids[::-1][:3]


def test_list_items_have_tags_and_one_entry_per_definition(
    fake: FakePapra, org_id: str, client: httpx.Client
) -> None:
    doc = fake.upload_document(org_id, "a.txt", "alpha", extract=True)
    tag = fake.create_tag(org_id, "Invoices", "#ff0000")
    fake.tag_document(org_id, doc["id"], tag["id"])
    amount = fake.create_custom_property(org_id, "Amount", "number")
    fake.create_custom_property(org_id, "Status", "select", options=[{"name": "Open"}])
    fake.set_custom_property_value(org_id, doc["id"], amount["id"], 12.5)
    item = client.get(_docs_url(org_id)).json()["documents"][0]
    assert "content" not in item
    assert [t["id"] for t in item["tags"]] == [tag["id"]]
    assert [(p["key"], p["value"]) for p in item["customProperties"]] == [
        ("amount", 12.5),
        ("status", None),
    ]


def test_updated_at_never_changes(fake: FakePapra, org_id: str, client: httpx.Client) -> None:
    doc = fake.upload_document(org_id, "a.txt", "alpha")
    tag = fake.create_tag(org_id, "T")
    cpd = fake.create_custom_property(org_id, "Ref", "text")
    client.patch(f"{_docs_url(org_id)}/{doc['id']}", json={"name": "renamed.txt"})
    fake.tag_document(org_id, doc["id"], tag["id"])
    fake.set_custom_property_value(org_id, doc["id"], cpd["id"], "R-1")
    fake.extract_pending()
    after = client.get(f"{_docs_url(org_id)}/{doc['id']}").json()["document"]
    assert after["name"] == "renamed.txt"
    assert after["updatedAt"] == doc["updatedAt"] == doc["createdAt"]
