"""Turning Papra models into warehouse rows, and the fingerprints used to detect change.

Papra's ``updatedAt`` never moves, so change is detected by hashing each record's content-free
representation (the JSON Papra sent, minus ``content``, with tags in a stable order).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson

from papra_pipeline.client import (
    Activity,
    CustomPropertyDefinition,
    Document,
    DocumentCustomProperty,
    ExtendedTimestamp,
    Organization,
    OrganizationStatistics,
    Tag,
)
from papra_pipeline.warehouse import EpochMicroseconds


def _canonical_bytes(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)
    except TypeError:  # what orjson refuses (a lone surrogate, an integer past 64 bits)
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        ).encode("utf-8", "surrogatepass")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8: the same text for the same JSON, whatever the key order.

    orjson writes it about ten times faster than the standard library, with the same output.
    A lone UTF-16 surrogate (half of a pair: a JavaScript string can hold one) becomes U+FFFD,
    as a UTF-8 decoder shows it: neither UTF-8 nor DuckDB's JSON can hold it, even escaped.
    :func:`lone_surrogates` says where they were.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode()
    except TypeError:  # what orjson refuses (a lone surrogate, an integer past 64 bits)
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        )
        return _LONE_SURROGATE.sub(REPLACEMENT, text)


def lone_surrogates(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Where a record's strings hold lone surrogates: ``(path, text)`` pairs, the text with
    each one shown as its ``\\uXXXX`` escape (as Papra's JSON sent it). Records in lists are
    named by their ``id`` or ``key``: ``name``, ``tags.<id>.name``,
    ``customProperties.<key>.value``."""
    if isinstance(value, str):
        if value.isascii() or not _LONE_SURROGATE.search(value):
            return []
        return [(path, _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m[0]):04x}", value))]
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            found += lone_surrogates(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            name = item.get("id") or item.get("key") if isinstance(item, dict) else None
            found += lone_surrogates(item, f"{path}.{name}" if name else f"{path}[{index}]")
    return found


def fingerprint(raw: Mapping[str, Any], *, drop: Iterable[str] = ()) -> str:
    """A stable hash of a record as Papra sent it, ignoring the keys in ``drop``."""
    record = {k: v for k, v in raw.items() if k not in drop}
    if isinstance(record.get("tags"), list):
        record["tags"] = sorted(record["tags"], key=lambda tag: str(tag.get("id")))
    return hashlib.blake2b(_canonical_bytes(record), digest_size=16).hexdigest()


def short_digest(value: Any) -> str:
    """16 hex digits of SHA-256 over ``value`` as sorted JSON: for run keys, cursors and the
    tagging rules' stored hashes (so changing it changes every one of them)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_deleted(raw: Mapping[str, Any]) -> bool:
    """Whether a document as Papra sent it is in the trash (as ``Document.is_deleted``)."""
    flag = raw.get("isDeleted")
    return bool(flag) if flag is not None else raw.get("deletedAt") is not None


_LIVE_DROP = ("content",)
_TRASHED_DROP = ("content", "tags", "customProperties")


def document_fingerprint(raw: Mapping[str, Any]) -> str:
    """Same value for a list item, a detail response and a re-fetch of an unchanged document.

    Takes the JSON as Papra sent it, so a sync can compare list items without parsing them.
    ``content`` is left out (list items do not carry it). For a trashed document the tags and
    custom properties are left out too: the trash list does not send them, and the detail
    response that does must not look like a change on the next run.
    """
    return fingerprint(raw, drop=_TRASHED_DROP if is_deleted(raw) else _LIVE_DROP)


def _raw_without_content(raw: Mapping[str, Any]) -> str:
    return canonical_json({k: v for k, v in raw.items() if k != "content"})


def _timestamp(value: datetime | ExtendedTimestamp | None) -> datetime | int | None:
    """A model's timestamp as the warehouse takes it: years Python cannot hold as microseconds."""
    if isinstance(value, ExtendedTimestamp):
        return EpochMicroseconds(value.epoch_us)
    return value


def organization_row(org: Organization) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "customer_id": org.customer_id,
        "created_at": org.created_at,
        "updated_at": org.updated_at,
        "deleted_at": org.deleted_at,
        "deleted_by": org.deleted_by,
        "scheduled_purge_at": org.scheduled_purge_at,
        "_hash": fingerprint(org.raw),
        "_raw": canonical_json(org.raw),
    }


def tag_row(tag: Tag, *, organization_id: str | None = None) -> dict[str, Any]:
    return {
        "id": tag.id,
        "organization_id": tag.organization_id or organization_id,
        "name": tag.name,
        "normalized_name": tag.normalized_name,
        "color": tag.color,
        "description": tag.description,
        "documents_count": tag.documents_count,
        "created_at": _timestamp(tag.created_at),
        "updated_at": _timestamp(tag.updated_at),
        "_hash": fingerprint(tag.raw),
        "_raw": canonical_json(tag.raw),
    }


def definition_rows(
    definition: CustomPropertyDefinition,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The definition's row and one row per select option."""
    raw = {k: v for k, v in definition.raw.items() if k != "options"}
    row = {
        "id": definition.id,
        "organization_id": definition.organization_id,
        "name": definition.name,
        "key": definition.key,
        "description": definition.description,
        "type": definition.type,
        "config": canonical_json(definition.config) if definition.config is not None else None,
        "display_order": definition.display_order,
        "created_at": definition.created_at,
        "updated_at": definition.updated_at,
        "_hash": fingerprint(raw),
        "_raw": canonical_json(raw),
    }
    options = [
        {
            "id": option.id,
            "property_definition_id": definition.id,
            "organization_id": definition.organization_id,
            "name": option.name,
            "key": option.key,
            "display_order": option.display_order,
            "created_at": option.created_at,
            "updated_at": option.updated_at,
            "_hash": fingerprint(option.raw),
            "_raw": canonical_json(option.raw),
        }
        for option in definition.options or ()
    ]
    return row, options


def document_row(document: Document, *, fingerprint: str) -> dict[str, Any]:
    """The documents row, without ``content`` (the sync stages text on its own)."""
    return {
        "id": document.id,
        "organization_id": document.organization_id,
        "name": document.name,
        "original_name": document.original_name,
        "mime_type": document.mime_type,
        "original_size": document.original_size,
        "original_sha256_hash": document.original_sha256_hash,
        "document_date": _timestamp(document.document_date),
        "notes": document.notes,
        "created_at": _timestamp(document.created_at),
        "updated_at": _timestamp(document.updated_at),
        "created_by": document.created_by,
        "is_deleted": document.is_deleted,
        "deleted_at": _timestamp(document.deleted_at),
        "deleted_by": document.deleted_by,
        "purged_at": None,
        "_hash": fingerprint,
        "_raw": _raw_without_content(document.raw),
    }


def document_tag_rows(document: Document) -> list[dict[str, Any]]:
    return [
        {"document_id": document.id, "tag_id": tag.id, "organization_id": document.organization_id}
        for tag in document.tags or ()
    ]


def custom_property_value_row(
    document: Document,
    prop: DocumentCustomProperty,
    definition_ids: Mapping[str, str],
) -> dict[str, Any]:
    """One long-format row with a typed column for each of Papra's eight value shapes.

    A value a lenient parse could not type (``value`` None) keeps only ``raw_value``.
    """
    value = prop.value
    row: dict[str, Any] = {
        "document_id": document.id,
        "property_key": prop.key,
        "property_definition_id": prop.property_definition_id or definition_ids.get(prop.key),
        "organization_id": document.organization_id,
        "property_name": prop.name,
        "property_type": prop.type,
        "text_value": None,
        "number_value": None,
        "date_value": None,
        "boolean_value": None,
        "option_ids": None,
        "option_names": None,
        "user_ids": None,
        "related_document_ids": None,
        "raw_value": canonical_json(prop.raw_value),
    }
    if value is None:
        pass
    elif prop.type == "text":
        row["text_value"] = value
    elif prop.type == "number":
        row["number_value"] = float(value)
    elif prop.type == "date":
        row["date_value"] = _timestamp(value)
    elif prop.type == "boolean":
        row["boolean_value"] = bool(value)
    elif prop.type == "select":
        row["option_ids"] = [value.option_id]
        row["option_names"] = [value.name]
    elif prop.type == "multi_select":
        row["option_ids"] = [option.option_id for option in value]
        row["option_names"] = [option.name for option in value]
    elif prop.type == "user_relation":
        row["user_ids"] = [user.user_id for user in value]
    elif prop.type == "document_relation":
        row["related_document_ids"] = [ref.document_id for ref in value]
    return row


def custom_property_value_rows(
    document: Document, definition_ids: Mapping[str, str]
) -> list[dict[str, Any]]:
    return [
        custom_property_value_row(document, prop, definition_ids)
        for prop in document.custom_properties or ()
        if prop.raw_value is not None
    ]


def activity_row(organization_id: str, activity: Activity) -> dict[str, Any]:
    event_data = activity.event_data or {}
    fields = event_data.get("updatedFields") if isinstance(event_data, dict) else None
    return {
        "id": activity.id,
        "document_id": activity.document_id,
        "organization_id": organization_id,
        "created_at": activity.created_at,
        "event": activity.event,
        "updated_fields": list(fields) if isinstance(fields, list) else None,
        "event_data": canonical_json(activity.event_data) if activity.event_data else None,
        "user_id": activity.user_id,
        "user_name": (activity.user or {}).get("name"),
        "tag_id": activity.tag_id,
        "tag_name": (activity.tag or {}).get("name"),
        "_raw": canonical_json(activity.raw),
    }


def statistics_row(
    organization_id: str, stats: OrganizationStatistics, snapshot_at: datetime, run_id: str
) -> dict[str, Any]:
    return {
        "organization_id": organization_id,
        "snapshot_at": snapshot_at,
        "run_id": run_id,
        "documents_count": stats.documents_count,
        "documents_size": stats.documents_size,
        "deleted_documents_count": stats.deleted_documents_count,
        "deleted_documents_size": stats.deleted_documents_size,
        "total_documents_count": stats.total_documents_count,
        "total_documents_size": stats.total_documents_size,
    }


def shows_content_update(activities: Iterable[Activity]) -> bool:
    """Whether any of these activity entries is an edit or extraction of the text."""
    for activity in activities:
        fields = (activity.event_data or {}).get("updatedFields") or ()
        if activity.event == "updated" and "content" in fields:
            return True
    return False
