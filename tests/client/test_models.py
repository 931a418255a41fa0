"""Model parsing rules beyond the recorded samples: tolerance, strictness, value types."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from papra_pipeline.client import (
    Document,
    DocumentCustomProperty,
    ExtendedTimestamp,
    OrganizationStatistics,
    PapraError,
    PapraResponseError,
    ServerConfig,
    Tag,
)

from .conftest import load_sample

DOCUMENT = load_sample("050")["body"]["document"]


def test_unknown_fields_are_ignored_and_kept_in_raw():
    data = {**DOCUMENT, "aiSummary": "new in a later version"}
    document = Document.from_json(data)
    assert document.raw["aiSummary"] == "new in a later version"
    assert document == Document.from_json(DOCUMENT)  # raw is not part of equality
    assert "aiSummary" not in repr(document)


@pytest.mark.parametrize("field", ["id", "organizationId", "name", "createdAt", "originalSize"])
def test_missing_required_field_names_model_and_field(field):
    data = copy.deepcopy(DOCUMENT)
    del data[field]
    with pytest.raises(PapraResponseError, match=f"Document: missing required field '{field}'"):
        Document.from_json(data)


def test_wrong_types_are_refused():
    with pytest.raises(PapraResponseError, match="'originalSize' has type str"):
        Document.from_json({**DOCUMENT, "originalSize": "127"})
    with pytest.raises(PapraResponseError, match="'isDeleted' has type int"):
        Document.from_json({**DOCUMENT, "isDeleted": 1})
    with pytest.raises(PapraResponseError, match="not a timestamp"):
        Document.from_json({**DOCUMENT, "createdAt": "yesterday"})
    assert issubclass(PapraResponseError, PapraError)


def test_timestamps_are_aware_utc_and_optional_fields_default():
    data = {
        k: v
        for k, v in DOCUMENT.items()
        if k not in ("content", "documentDate", "notes", "tags", "customProperties")
    }
    document = Document.from_json({**data, "createdAt": "2024-03-15T10:00:00.123+02:00"})
    assert document.created_at == datetime(2024, 3, 15, 8, 0, 0, 123000, tzinfo=UTC)
    assert document.created_at.tzinfo is UTC
    assert (document.content, document.document_date, document.tags) == (None, None, None)
    assert document.custom_properties is None and document.notes is None


def test_empty_content_is_not_none():
    assert Document.from_json({**DOCUMENT, "content": ""}).content == ""


@pytest.mark.parametrize(
    ("prop_type", "value", "expected"),
    [
        ("number", 7, 7.0),  # ints arrive for whole numbers
        ("date", "2024-12-31T00:00:00.000Z", datetime(2024, 12, 31, tzinfo=UTC)),
        ("multi_select", [], ()),
        ("text", None, None),  # unset value in a document payload
        ("geo_point", {"lat": 1, "lon": 2}, {"lat": 1, "lon": 2}),  # unknown type kept raw
    ],
)
def test_custom_property_values(prop_type, value, expected):
    prop = DocumentCustomProperty.from_json(
        {"key": "k", "name": "K", "type": prop_type, "displayOrder": 0, "value": value}
    )
    assert prop.value == expected
    assert prop.raw_value == value


def test_custom_property_value_of_wrong_shape_is_refused():
    with pytest.raises(PapraResponseError, match=r"DocumentCustomProperty\(paid\)"):
        DocumentCustomProperty.from_json(
            {"key": "paid", "name": "Paid", "type": "boolean", "value": "yes"}
        )


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("+020244-05-01T00:00:00.000Z", "+020244-05-01T00:00:00.000Z"),  # five-digit year
        ("0000-01-01T00:00:00.000Z", "0000-01-01T00:00:00.000Z"),  # year zero (1 BC)
        ("-000500-06-15T00:00:00.000Z", "-000500-06-15T00:00:00.000Z"),  # 501 BC
        ("+275760-09-13T00:00:00.000Z", "+275760-09-13T00:00:00.000Z"),  # JavaScript's last day
        ("-271821-04-20T00:00:00.000Z", "-271821-04-20T00:00:00.000Z"),  # and its first
        ("+020244-05-01T02:00:00.000+02:00", "+020244-05-01T00:00:00.000Z"),  # an offset
        (1e15, "+033658-09-27T01:46:40.000Z"),  # epoch milliseconds past year 9999
    ],
)
def test_years_python_cannot_hold_are_extended_timestamps(value, iso):
    document = Document.from_json({**DOCUMENT, "documentDate": value})
    assert isinstance(document.document_date, ExtendedTimestamp)
    assert document.document_date.isoformat() == iso
    assert str(document.document_date) == iso


def test_extended_timestamps_are_exact_microseconds_since_1970():
    """The same numbers DuckDB gives for these instants (checked with epoch_us in DuckDB 2.0)."""
    def instant(text):
        return Document.from_json({**DOCUMENT, "documentDate": text}).document_date

    assert instant("0000-01-01T00:00:00.000Z").epoch_us == -62_167_219_200_000_000
    assert instant("-000500-06-15T00:00:00.000Z").epoch_us == -77_931_417_600_000_000
    assert instant("+033658-09-27T01:46:40.000Z").epoch_us == 10**18
    # Inside Python's range, an extended form is an ordinary datetime.
    assert instant("+002024-02-29T12:00:00.000Z") == datetime(2024, 2, 29, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "+275760-09-13T00:00:00.001Z",  # past what a JavaScript Date holds
        "-000000-01-01T00:00:00.000Z",  # JavaScript refuses minus zero
        "+020244-02-30T00:00:00.000Z",  # no such day
        "+020244-13-01T00:00:00.000Z",
        1e17,
    ],
)
def test_what_no_javascript_date_can_be_is_not_a_timestamp(value):
    with pytest.raises(PapraResponseError, match="'documentDate' is not a timestamp"):
        Document.from_json({**DOCUMENT, "documentDate": value})


ODD_DOCUMENT = {
    **DOCUMENT,
    "documentDate": "sometime next week",
    "originalSize": "127",
    "tags": [
        {**load_sample("123")["body"]["document"]["tags"][0], "color": 7},
        "not a tag",
    ],
    "customProperties": [
        {"key": "amount", "name": "Amount", "type": "number", "displayOrder": 0, "value": "12"},
        {"key": "due", "name": "Due", "type": "date", "displayOrder": 1,
         "value": "+020244-05-01T00:00:00.000Z"},
        {"key": "where", "name": "Where", "type": "geo_point", "displayOrder": 2,
         "value": {"lat": 1, "lon": 2}},
        {"name": "No key"},
    ],
}


def test_a_lenient_parse_reads_what_it_cannot_type_as_none_and_says_so():
    """What a sync does: the record is kept, each odd value named with what Papra sent."""
    with pytest.raises(PapraResponseError):
        Document.from_json(ODD_DOCUMENT)
    document = Document.from_json(ODD_DOCUMENT, lenient=True)
    assert (document.id, document.name) == (DOCUMENT["id"], DOCUMENT["name"])
    assert (document.document_date, document.original_size) == (None, None)
    assert document.tags[0].color is None and len(document.tags) == 1
    values = {p.key: p.value for p in document.custom_properties}
    assert values["amount"] is None
    assert values["due"].isoformat() == "+020244-05-01T00:00:00.000Z"  # typed, not untyped
    assert values["where"] == {"lat": 1, "lon": 2}  # kept, but no typed column will hold it
    untyped = {u.field: u.value for u in document.untyped}
    tag_id = document.tags[0].id
    assert untyped == {
        "documentDate": "sometime next week",
        "originalSize": "127",
        f"tags.{tag_id}.color": 7,
        "tags[1]": "not a tag",
        "customProperties.amount": "12",
        "customProperties.where": {"lat": 1, "lon": 2},
        "customProperties[3]": {"name": "No key"},
    }
    assert all(u.reason for u in document.untyped)
    assert "untyped" not in repr(document)


@pytest.mark.parametrize("field", ["id", "organizationId"])
def test_a_lenient_parse_still_needs_the_identity(field):
    with pytest.raises(PapraResponseError, match=field):
        Document.from_json({**ODD_DOCUMENT, field: None}, lenient=True)


def test_tag_inside_document_has_no_count():
    tag = load_sample("123")["body"]["document"]["tags"][0]
    assert Tag.from_json(tag).documents_count is None


def test_statistics_from_older_server_without_deleted_counts():
    stats = OrganizationStatistics.from_json({"documentsCount": 3, "documentsSize": 10})
    assert (stats.documents_count, stats.deleted_documents_count) == (3, None)


@pytest.mark.parametrize(
    ("config", "version", "days"),
    [
        ({"version": "26.6.1", "documents": {"deletedDocumentsRetentionDays": 30}}, "26.6.1", 30),
        ({"version": 3, "documents": "nope"}, None, None),
        ({}, None, None),
    ],
)
def test_server_config_is_parsed_defensively(config, version, days):
    parsed = ServerConfig.from_json(config)
    assert (parsed.version, parsed.deleted_documents_retention_days) == (version, days)


def test_server_config_route(make_client):
    from .conftest import Recorder, json_response

    body = {
        "config": {
            "version": "26.6.1",
            "gitCommitSha": "2b110a4c",
            "documents": {"deletedDocumentsRetentionDays": 14},
        }
    }
    recorder = Recorder(json_response(200, body))
    config = make_client(recorder).get_server_config()
    assert (config.version, config.deleted_documents_retention_days) == ("26.6.1", 14)
    assert "authorization" not in recorder.requests[0].headers
