"""Fingerprints and canonical JSON: stable across versions and for what orjson refuses."""

from __future__ import annotations

import json

import pytest

from papra_pipeline.client.models import decode_json
from papra_pipeline.sync import records
from tests.client.conftest import SAMPLES_DIR

SAMPLE_FILES = sorted(SAMPLES_DIR.glob("*.json"))


def _stdlib_canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_canonical_json_is_the_standard_librarys_text(path):
    """Stored ``_hash`` and ``_raw`` values were written with the standard library; the faster
    encoder must give the same text, or every document of an existing warehouse would look
    changed once."""
    body = json.loads(path.read_text())
    assert records.canonical_json(body) == _stdlib_canonical(body)


def test_what_orjson_refuses_still_decodes_and_hashes():
    """A lone surrogate (JSON.stringify escapes one as \\ud800) and an integer past 64 bits."""
    body = b'{"id":"doc_1","name":"half \\ud800 pair","originalSize":18446744073709551616}'
    item = decode_json(body)
    assert item["name"] == "half \ud800 pair"
    assert item["originalSize"] == 2**64
    # Stored with U+FFFD in its place: neither UTF-8 nor DuckDB's JSON can hold it.
    assert records.canonical_json(item) == _stdlib_canonical(item).replace("\ud800", "\ufffd")
    assert records.lone_surrogates(item) == [("name", "half \\ud800 pair")]
    assert records.document_fingerprint(item) == records.document_fingerprint(dict(item))


def test_a_list_item_and_the_detail_of_an_unchanged_document_hash_alike():
    item = {
        "id": "doc_1",
        "name": "a",
        "deletedAt": None,
        "tags": [{"id": "tag_b"}, {"id": "tag_a"}],
        "customProperties": [],
    }
    detail = {**item, "content": "text", "tags": [{"id": "tag_a"}, {"id": "tag_b"}]}
    assert records.document_fingerprint(item) == records.document_fingerprint(detail)
    renamed = {**item, "name": "b"}
    assert records.document_fingerprint(renamed) != records.document_fingerprint(item)


def test_a_trashed_document_hashes_without_its_tags_and_properties():
    """The trash list omits them; the detail of the same trashed document sends them."""
    trash_item = {"id": "doc_1", "name": "a", "deletedAt": "2026-01-01T00:00:00.000Z"}
    detail = {**trash_item, "tags": [{"id": "tag_a"}], "customProperties": [{"key": "k"}]}
    assert records.is_deleted(trash_item) and records.is_deleted(detail)
    assert records.document_fingerprint(trash_item) == records.document_fingerprint(detail)
    restored = {**detail, "deletedAt": None}
    assert not records.is_deleted(restored)
    assert records.document_fingerprint(restored) != records.document_fingerprint(trash_item)
