"""Model parsing rules beyond the recorded samples: tolerance, strictness, value types."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from papra_pipeline.client import (
    Document,
    DocumentCustomProperty,
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
