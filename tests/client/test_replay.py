"""The real client methods driven by recorded Papra responses."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from papra_pipeline.client import (
    DocumentRef,
    PapraAuthenticationError,
    PapraConflictError,
    PapraNotFoundError,
    PapraOrganizationAccessError,
    PapraSessionRequiredError,
    PapraValidationError,
    SelectOptionValue,
    UserRef,
)

from .conftest import API_KEY, DOC, ORG, Replay


def test_get_current_api_key(make_client):
    replay = Replay("010")
    key = make_client(replay).get_current_api_key()
    assert key.id == "ak_tdbba7nymrm4s3p6knw0n16a"
    assert "documents:read" in key.permissions and len(key.permissions) == 16
    assert replay.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


def test_list_organizations(make_client):
    (org,) = make_client(Replay("016")).list_organizations()
    assert (org.id, org.name, org.deleted_at) == (ORG, "Test Org", None)
    assert org.created_at == datetime(2026, 11, 28, 13, 10, 44, 213000, tzinfo=UTC)


def test_list_documents_page(make_client):
    replay = Replay("055")
    page = make_client(replay).list_documents(ORG, page_size=2)
    assert (page.documents_count, page.page_index, page.page_size) == (7, 0, 2)
    assert [d.name for d in page.documents] == ["after.txt", "data.json"]
    assert all(d.content is None and d.tags == () for d in page.documents)  # list items
    assert replay.requests[0].url.query == b"pageIndex=0&pageSize=2"


def test_get_document_with_typed_custom_properties(make_client):
    document = make_client(Replay("193")).get_document(ORG, "doc_ltetcq5w1vyizdpsjj2e0zqc")
    assert document.content.startswith("Receipt from Bakery Dupont")
    props = {p.key: p for p in document.custom_properties}
    assert props["duedate"].value == datetime(2024, 12, 31, tzinfo=UTC)
    assert props["paid"].value is True
    assert props["amount"].value == 123.45 and props["amount"].display_order == 1
    assert props["referencecode"].value == "INV-2024-0042"
    assert props["status"].value == SelectOptionValue("cpso_g77f6kuxbbj8qtooe57yvt4o", "Open")
    assert [o.name for o in props["labels"].value] == ["Red", "Blue"]
    assert props["owner"].value == (
        UserRef("usr_zqviszd3dqbtv161drf8gt1c", "Test User", "tester@example.com"),
    )
    assert props["relateddocs"].value[0] == DocumentRef(
        "doc_rabiobrz3w0pa9hojvqvnofu", "invoice.pdf"
    )
    assert props["relateddocs"].raw_value[0]["documentId"] == "doc_rabiobrz3w0pa9hojvqvnofu"
    assert all(p.property_definition_id is None for p in props.values())


def test_document_custom_properties_list_has_definition_ids(make_client):
    props = make_client(Replay("192")).list_document_custom_properties(
        ORG, "doc_ltetcq5w1vyizdpsjj2e0zqc"
    )
    assert all(p.property_definition_id.startswith("cpd_") for p in props)
    assert all(p.display_order is None for p in props)


def test_list_tags_has_counts(make_client):
    tags = make_client(Replay("108")).list_tags(ORG)
    assert [(t.name, t.color, t.documents_count) for t in tags][-1] == ("Invoices", "#FF0000", 0)


def test_statistics(make_client):
    stats = make_client(Replay("076")).get_document_statistics(ORG)
    assert (stats.documents_count, stats.documents_size, stats.total_documents_count) == (
        7,
        13656,
        7,
    )


def test_trash_list_and_activity(make_client):
    client = make_client(Replay("210", "273"))
    trash = client.list_deleted_documents(ORG, page_size=1)
    assert trash.documents[0].is_deleted and trash.documents[0].tags is None
    activity = client.list_document_activity(ORG, "doc_rabiobrz3w0pa9hojvqvnofu", page_size=2)
    assert [a.event for a in activity] == ["tagged", "untagged"]


def test_delete_and_batch_trash_return_none(make_client):
    replay = Replay("206", "290")
    client = make_client(replay)
    assert client.delete_document(ORG, "doc_awwhdzp7qxo2ffha2ic6rcgl") is None
    assert client.batch_trash_documents(ORG, document_ids=["doc_rplail6xsw4sjqdjnbgsa7w2"]) is None
    assert json.loads(replay.requests[1].content) == {
        "filter": {"documentIds": ["doc_rplail6xsw4sjqdjnbgsa7w2"]}
    }


def test_upload_sends_multipart_file_part(make_client):
    replay = Replay("276")
    name = "facture été 2024 ✓.txt"
    document = make_client(replay).upload_document(ORG, name, b"hello", "text/plain")
    assert document.name == name and document.content == "" and document.tags is None
    body = replay.requests[0].content
    assert b'name="file"' in body
    assert f'filename="{name}"'.encode() in body
    assert b"Content-Type: text/plain" in body


def test_download_streams_bytes(make_client):
    client = make_client(Replay("078"))
    with client.get_document_file(ORG, DOC) as chunks:
        data = b"".join(chunks)
    assert len(data) == 127 and data.startswith(b"Meeting notes")


def test_custom_property_definitions(make_client):
    client = make_client(Replay("154", "164"))
    created = client.create_custom_property_definition(
        ORG, name="Status", type="select", options=["Open", "Closed"]
    )
    assert created.options is None  # create answers carry no options
    fetched = client.get_custom_property_definition(ORG, created.id)
    assert [o.name for o in fetched.options] == ["Open", "Closed"]


def test_options_only_update_sends_current_name(make_client):
    # Papra answers {"options": [...]} alone with a 500 (sample 168), so the name rides along.
    replay = Replay("164", "252")
    updated = make_client(replay).update_custom_property_definition(
        ORG,
        "cpd_uz7ji5i6m8mbri9tqjd73llw",
        options=[{"id": "cpso_g77f6kuxbbj8qtooe57yvt4o", "name": "Open (renamed)"}, "Pending"],
    )
    assert updated.name == "Status"
    assert json.loads(replay.requests[1].content) == {
        "options": [
            {"id": "cpso_g77f6kuxbbj8qtooe57yvt4o", "name": "Open (renamed)"},
            {"name": "Pending"},
        ],
        "name": "Status",
    }


@pytest.mark.parametrize(
    ("sample", "call", "permission"),
    [
        (
            "049",
            lambda c: c.upload_document(ORG, "limited.txt", b"x", "text/plain"),
            "documents:create",
        ),
        ("237", lambda c: c.list_organizations(), "organizations:read"),
        ("238", lambda c: c.create_tag(ORG, "Tag", "#000000"), "tags:create"),
    ],
)
def test_limited_key_401_names_missing_permission(make_client, sample, call, permission):
    with pytest.raises(PapraAuthenticationError, match=f"needs an API key with {permission}") as e:
        call(make_client(Replay(sample)))
    assert e.value.status == 401 and e.value.code == "auth.unauthorized"
    assert "permission is missing" in str(e.value)


def test_unknown_org_is_403_organization_access(make_client):
    client = make_client(Replay("085"))
    with pytest.raises(PapraOrganizationAccessError, match="not part of this organization"):
        client.list_documents("org_aaaaaaaaaaaaaaaaaaaaaaaa")


def test_get_document_content_reads_only_the_text(make_client):
    replay = Replay("193")
    text = make_client(replay).get_document_content(ORG, "doc_ltetcq5w1vyizdpsjj2e0zqc")
    assert text.startswith("Receipt from Bakery Dupont")
    assert replay.requests[0].url.path.endswith("/documents/doc_ltetcq5w1vyizdpsjj2e0zqc")


def test_unknown_document_is_404(make_client):
    with pytest.raises(PapraNotFoundError, match="Document not found") as e:
        make_client(Replay("081")).get_document(ORG, "doc_aaaaaaaaaaaaaaaaaaaaaaaa")
    assert e.value.code == "document.not_found"
    with pytest.raises(PapraNotFoundError):
        make_client(Replay("081")).get_document_content(ORG, "doc_aaaaaaaaaaaaaaaaaaaaaaaa")


def test_duplicate_upload_is_409(make_client):
    with pytest.raises(PapraConflictError, match="same content") as e:
        make_client(Replay("048")).upload_document(ORG, "notes-copy.txt", b"x", "text/plain")
    assert e.value.code == "document.already_exists"


def test_validation_error_carries_details(make_client):
    with pytest.raises(PapraValidationError, match="organizationId: Invalid format") as e:
        make_client(Replay("035")).get_organization("not-an-org-id")
    assert e.value.details[0]["path"] == "organizationId"


def test_apply_rule_with_api_key_needs_session(make_client):
    client = make_client(Replay("139"))
    with pytest.raises(PapraSessionRequiredError, match="PAPRA_EMAIL and PAPRA_PASSWORD"):
        client.apply_tagging_rule(ORG, "tr_mabav6hdqizd9qz2j7nro97n")
