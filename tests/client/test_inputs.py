"""Inputs refused before anything is sent (the transport fails the test on any request)."""

from __future__ import annotations

from datetime import datetime

import pytest

from .conftest import DOC, ORG, no_request

CPD = "cpd_rdli7pfjoylx01x3hr39gf49"
TAG = "tag_qnp2wtkixdnbc3rzvko302v1"

CASES = [
    # Organization names are trimmed, then 3..50 characters.
    (lambda c: c.create_organization("ab"), "at least 3"),
    (lambda c: c.create_organization("  ab  "), "at least 3 characters after trimming"),
    (lambda c: c.create_organization("x" * 51), "at most 50"),
    (lambda c: c.update_organization(ORG, "ab"), "at least 3"),
    # Tags: name 1..64, color #RRGGBB (Papra rejects "red" and "#f00"), description <= 256.
    (lambda c: c.create_tag(ORG, "   ", "#000000"), "tag name must have at least 1"),
    (lambda c: c.create_tag(ORG, "x" * 65, "#000000"), "at most 64"),
    (lambda c: c.create_tag(ORG, "Ok", "red"), "#RRGGBB"),
    (lambda c: c.create_tag(ORG, "Ok", "#f00"), "#RRGGBB"),
    (lambda c: c.create_tag(ORG, "Ok", "#GGGGGG"), "#RRGGBB"),
    (lambda c: c.create_tag(ORG, "Ok", "#000000", "d" * 257), "at most 256"),
    # An empty tag update makes Papra answer 500.
    (lambda c: c.update_tag(ORG, TAG), "Papra answers an empty update with a 500"),
    (lambda c: c.update_tag(ORG, TAG, color="blue"), "#RRGGBB"),
    # Documents: name 1..255, notes <= 2048, at least one field, aware datetimes only.
    (lambda c: c.update_document(ORG, DOC), "at least one of name"),
    (lambda c: c.update_document(ORG, DOC, name=""), "document name must have at least 1"),
    (lambda c: c.update_document(ORG, DOC, name="x" * 256), "at most 255"),
    (lambda c: c.update_document(ORG, DOC, notes="x" * 2049), "at most 2048"),
    (lambda c: c.update_document(ORG, DOC, document_date=datetime(2024, 1, 1)), "timezone-aware"),
    # List parameters Papra would reject with a 400.
    (lambda c: c.list_documents(ORG, page_index=-1), "page_index must be an integer >= 0"),
    (lambda c: c.list_documents(ORG, page_size=True), "page_size must be an integer"),
    (lambda c: c.list_documents(ORG, sort_field="size"), "sort_field must be one of"),
    (lambda c: c.list_documents(ORG, sort_order="up"), "sort_order must be one of"),
    (lambda c: c.list_documents(ORG, search_query="a" * 1025), "at most 1024"),
    (lambda c: c.list_deleted_documents(ORG, page_size=101), "between 1 and 100"),
    (lambda c: c.list_document_activity(ORG, DOC, page_size=101), "between 1 and 100"),
    # Empty ids would build a different route.
    (lambda c: c.get_document("", DOC), "org id must be a non-empty string"),
    (lambda c: c.get_document(ORG, "  "), "doc id must be a non-empty string"),
    # Uploads: a part without a filename hangs Papra until its 5-minute timeout.
    (lambda c: c.upload_document(ORG, "", b"x", "text/plain"), "filename must have at least 1"),
    (lambda c: c.upload_document(ORG, "a.txt", b"x", ""), "mime_type must have at least 1"),
    (lambda c: c.upload_document(ORG, "a.txt", "text", "text/plain"), "bytes or a binary file"),
    # Custom-property values: None means "clear", shapes follow the definition type.
    (
        lambda c: c.set_document_custom_property(ORG, DOC, CPD, None),
        "use clear_document_custom_property",
    ),
    (lambda c: c.set_document_custom_property(ORG, DOC, CPD, 42, type="text"), "takes a string"),
    (
        lambda c: c.set_document_custom_property(ORG, DOC, CPD, "x" * 10001, type="text"),
        "at most 10000",
    ),
    (
        lambda c: c.set_document_custom_property(ORG, DOC, CPD, "12", type="number"),
        "finite int or float",
    ),
    (lambda c: c.set_document_custom_property(ORG, DOC, CPD, True, type="number"), "not a bool"),
    (lambda c: c.set_document_custom_property(ORG, DOC, CPD, float("nan")), "finite"),
    (
        lambda c: c.set_document_custom_property(ORG, DOC, CPD, "yes", type="boolean"),
        "True or False",
    ),
    (
        lambda c: c.set_document_custom_property(ORG, DOC, CPD, ["cpso_a"], type="select"),
        "one option id",
    ),
    (
        lambda c: c.set_document_custom_property(ORG, DOC, CPD, "cpso_a", type="multi_select"),
        "a list of option ids",
    ),
    # The docs say a single id; Papra wants a list for relations.
    (
        lambda c: c.set_document_custom_property(ORG, DOC, CPD, "usr_a", type="user_relation"),
        "a list of user ids",
    ),
    (
        lambda c: c.set_document_custom_property(ORG, DOC, CPD, "doc_a", type="document_relation"),
        "a list of document ids",
    ),
    (
        lambda c: c.set_document_custom_property(ORG, DOC, CPD, [1, 2], type="multi_select"),
        "non-empty string ids",
    ),
    (
        lambda c: c.set_document_custom_property(
            ORG, DOC, CPD, datetime(2024, 1, 1, tzinfo=None), type="date"
        ),
        "timezone-aware",
    ),
    (
        lambda c: c.set_document_custom_property(ORG, DOC, CPD, "x", type="color"),
        "type must be one of",
    ),
    # Batch filters: exactly one of ids/query; an empty query would hit every document.
    (lambda c: c.batch_update_document_tags(ORG, document_ids=[DOC]), "at least one tag id"),
    (
        lambda c: c.batch_update_document_tags(
            ORG, document_ids=[DOC], query="x", add_tag_ids=[TAG]
        ),
        "exactly one",
    ),
    (lambda c: c.batch_update_document_tags(ORG, add_tag_ids=[TAG]), "exactly one"),
    (
        lambda c: c.batch_update_document_tags(ORG, query="  ", add_tag_ids=[TAG]),
        "matches every document",
    ),
    (
        lambda c: c.batch_update_document_tags(
            ORG, document_ids=[DOC], add_tag_ids=[TAG], remove_tag_ids=[TAG]
        ),
        "both added and removed",
    ),
    (
        lambda c: c.batch_update_document_tags(ORG, document_ids=[DOC], add_tag_ids=[TAG] * 51),
        "0..50",
    ),
    (lambda c: c.batch_trash_documents(ORG, document_ids=[DOC] * 1001), "1..1000"),
    (lambda c: c.batch_trash_documents(ORG, document_ids=[]), "1..1000"),
    (lambda c: c.batch_trash_documents(ORG, query=""), "matches every document"),
    (lambda c: c.batch_trash_documents(ORG, document_ids=DOC), "not a single string"),
    # Custom-property definitions.
    (
        lambda c: c.create_custom_property_definition(ORG, name="S", type="select"),
        "needs at least one option",
    ),
    (
        lambda c: c.create_custom_property_definition(ORG, name="T", type="text", options=["a"]),
        "only select and multi_select",
    ),
    (
        lambda c: c.create_custom_property_definition(ORG, name="C", type="color"),
        "type must be one of",
    ),
    (
        lambda c: c.create_custom_property_definition(
            ORG, name="N", type="number", display_order=-1
        ),
        "display_order",
    ),
    (lambda c: c.update_custom_property_definition(ORG, CPD), "needs at least one field"),
    (lambda c: c.update_custom_property_definition(ORG, CPD, options=[]), "non-empty list"),
]


@pytest.mark.parametrize(("call", "message"), CASES)
def test_refused_before_sending(make_client, call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        call(make_client(no_request))
