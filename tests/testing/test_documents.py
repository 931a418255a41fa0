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


def test_trash_restore_and_purge(fake: FakePapra, org_id: str, client: httpx.Client) -> None:
    doc = fake.upload_document(org_id, "a.txt", "alpha", extract=True)
    url = f"{_docs_url(org_id)}/{doc['id']}"
    assert client.delete(url).json() == {"success": True}
    assert client.get(_docs_url(org_id)).json()["documentsCount"] == 0
    trashed = client.get(f"{_docs_url(org_id)}/deleted").json()
    assert [d["id"] for d in trashed["documents"]] == [doc["id"]]
    assert trashed["documents"][0]["content"] == "alpha"
    assert client.get(url).json()["document"]["isDeleted"] is True
    fake.restore_document(org_id, doc["id"])
    assert client.get(_docs_url(org_id)).json()["documentsCount"] == 1
    events = [a["event"] for a in client.get(f"{url}/activity").json()["activities"]]
    assert events == ["restored", "deleted", "updated", "created"]
    fake.trash_document(org_id, doc["id"])
    fake.purge_document(org_id, doc["id"])
    assert client.get(url).json()["error"]["code"] == "document.not_found"
    assert client.get(f"{url}/activity").json() == {"activities": []}
    assert client.get(f"{_docs_url(org_id)}/deleted").json()["documentsCount"] == 0


def test_reupload_of_trashed_file_restores_same_id_without_tags(
    fake: FakePapra, org_id: str, client: httpx.Client
) -> None:
    doc = fake.upload_document(org_id, "a.txt", "same bytes", extract=True)
    tag = fake.create_tag(org_id, "T")
    fake.tag_document(org_id, doc["id"], tag["id"])
    fake.trash_document(org_id, doc["id"])
    files = {"file": ("again.txt", b"same bytes", "text/plain")}
    again = client.post(_docs_url(org_id), files=files).json()["document"]
    assert again["id"] == doc["id"]
    assert again["name"] == "again.txt"
    assert again["createdAt"] == doc["createdAt"]
    assert again["content"] == "same bytes"
    detail = client.get(f"{_docs_url(org_id)}/{doc['id']}").json()["document"]
    assert detail["tags"] == [] and detail["isDeleted"] is False
    assert fake.document_bytes(org_id, doc["id"]) == b"same bytes"
    duplicate = client.post(_docs_url(org_id), files=files)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "document.already_exists"


def test_upload_content_filled_by_extraction(
    fake: FakePapra, org_id: str, client: httpx.Client
) -> None:
    files = {"file": ("scan.pdf", b"Invoice 42 from ACME", "application/pdf")}
    uploaded = client.post(_docs_url(org_id), files=files).json()["document"]
    assert uploaded["content"] == "" and uploaded["mimeType"] == "application/pdf"
    url = f"{_docs_url(org_id)}/{uploaded['id']}"
    assert client.get(url).json()["document"]["content"] == ""
    assert fake.extract_pending() == 1
    assert client.get(url).json()["document"]["content"] == "Invoice 42 from ACME"
    latest = client.get(f"{url}/activity").json()["activities"][0]
    assert latest["event"] == "updated" and latest["userId"] is None
    assert latest["eventData"] == {"updatedFields": ["content"]}


def test_strict_query_params(org_id: str, client: httpx.Client) -> None:
    cases = {
        "pageSize=0": ("pageSize", "Invalid value: Expected >=1 but received 0"),
        "pageIndex=-1": ("pageIndex", "Invalid value: Expected >=0 but received -1"),
        "pageIndex=1.5": ("pageIndex", "Invalid safe integer: Received 1.5"),
        "pageIndex=abc": ("pageIndex", "Invalid number: Received NaN"),
        "sortOrder=up": ("sortOrder", 'Invalid type: Expected ("asc" | "desc") but received "up"'),
        "cacheBuster=1": ("cacheBuster", 'Invalid key: Expected never but received "cacheBuster"'),
        "searchQuery=" + "a" * 1025: (
            "searchQuery", "Invalid length: Expected <=1024 but received 1025"
        ),
    }
    for query, (path, message) in cases.items():
        response = client.get(f"{_docs_url(org_id)}?{query}")
        assert response.status_code == 400, query
        error = response.json()["error"]
        assert error["code"] == "server.invalid_request.query"
        assert error["details"] == [{"path": path, "message": message}]


def test_missing_permission_is_401_and_foreign_org_is_403(
    fake: FakePapra, org_id: str, client: httpx.Client
) -> None:
    limited = fake.create_api_key(["documents:read"])
    headers = {"Authorization": f"Bearer {limited}"}
    assert client.get(_docs_url(org_id), headers=headers).status_code == 200
    denied = client.post(f"/api/organizations/{org_id}/tags", headers=headers,
                         json={"name": "x", "color": "#000000"})
    assert denied.status_code == 401
    assert denied.json()["error"]["code"] == "auth.unauthorized"
    other = fake.create_user("Other", "other@example.com", "pw")
    foreign = fake.create_organization("Foreign Org", user_id=other["id"])
    response = client.get(_docs_url(foreign["id"]))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "user.not_in_organization"
    for header in ("Basic dXNlcjpwYXNz", "Bearer", f"bearer {fake.api_key}"):
        assert client.get("/api/ping", headers={"Authorization": header}).status_code == 401


def test_search_filters(fake: FakePapra, org_id: str, client: httpx.Client) -> None:
    invoice = fake.upload_document(org_id, "invoice-acme.pdf", "Total amount 120 EUR", extract=True)
    notes = fake.upload_document(org_id, "notes.txt", "Quarterly budget review", extract=True)
    tag = fake.create_tag(org_id, "Receipts")
    fake.tag_document(org_id, notes["id"], tag["id"])

    def ids(query: str) -> set[str]:
        docs = client.get(_docs_url(org_id), params={"searchQuery": query}).json()["documents"]
        return {d["id"] for d in docs}

    assert ids("") == {invoice["id"], notes["id"]}
    assert ids("invo") == {invoice["id"]}
    assert ids("oice") == set()
    assert ids("name:notes") == {notes["id"]}
    assert ids("content:budget") == {notes["id"]}
    assert ids("tag:receipts") == {notes["id"]}
    assert ids("has:tags") == {notes["id"]}
    assert ids("-has:tags") == {invoice["id"]}
    assert ids("budget OR amount") == {invoice["id"], notes["id"]}
    assert ids(f"created:>={invoice['createdAt']}") == {invoice["id"], notes["id"]}
    assert ids(f"created:>{invoice['createdAt']}") == {notes["id"]}
    assert ids("updated:>2020-01-01") == set()


def test_hooks_run_between_page_requests(
    fake: FakePapra, org_id: str, client: httpx.Client
) -> None:
    for i in range(4):
        fake.upload_document(org_id, f"d{i}.txt", f"text {i}")

    def upload_before_second_page(record) -> None:
        if record.route.endswith("/documents") and record.query.get("pageIndex") == "1":
            fake.upload_document(org_id, "late.txt", "late arrival")

    fake.add_hook(upload_before_second_page)
    params = {"pageSize": 2, "sortField": "createdAt", "sortOrder": "desc"}
    first = client.get(_docs_url(org_id), params={**params, "pageIndex": 0}).json()
    second = client.get(_docs_url(org_id), params={**params, "pageIndex": 1}).json()
    assert first["documentsCount"] == 4 and second["documentsCount"] == 5
    # The new document shifted the desc listing: page 2 repeats the last item of page 1.
    assert second["documents"][0]["id"] == first["documents"][1]["id"]
    assert fake.request_count("GET /api/organizations/{org}/documents") == 2
    fake.clear_hooks()
    client.get(_docs_url(org_id), params={**params, "pageIndex": 1})
    assert len(fake.documents(org_id)) == 5
    fake.reset_requests()
    assert fake.request_count() == 0


def test_tags_list_counts_only_active_documents(fake: FakePapra, org_id: str) -> None:
    tag = fake.create_tag(org_id, "Tax", "#abcdef")
    assert tag["color"] == "#ABCDEF"
    docs = [fake.upload_document(org_id, f"{i}.txt", str(i))["id"] for i in range(3)]
    for doc_id in docs:
        fake.tag_document(org_id, doc_id, tag["id"])
    fake.trash_document(org_id, docs[0])
    assert fake.list_tags(org_id)[0]["documentsCount"] == 2
    fake.delete_tag(org_id, tag["id"])
    assert all(d["tags"] == [] for d in fake.documents(org_id))
