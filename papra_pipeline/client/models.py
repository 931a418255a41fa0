"""Typed, immutable views of Papra's JSON, parsed in one place.

Each model has a ``from_json`` classmethod taking the camelCase object Papra sends and keeps
that object as ``raw`` (left out of ``==`` and ``repr``). Unknown fields are ignored so newer
servers keep working; a missing or mistyped required field raises ``PapraResponseError``
naming the model and the field, because silently storing ``None`` would corrupt the copy.
Timestamps become timezone-aware UTC ``datetime`` objects.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from .errors import PapraResponseError

_MISSING = object()


def decode_json(body: bytes) -> Any:
    """Decode a response body; raises ``ValueError`` when it is not JSON.

    orjson decodes a page several times faster than the standard library; the standard library
    still reads what orjson refuses but a JavaScript server can send (an escaped lone surrogate
    in a name, an integer past 64 bits), so such a document is stored rather than failing a sync.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def _obj(data: Any, model: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise PapraResponseError(f"{model}: expected a JSON object, got {type(data).__name__}")
    return data


def unwrap(body: Any, key: str, model: str) -> Any:
    """Return ``body[key]`` from a response envelope such as ``{"document": {...}}``."""
    value = _obj(body, f"{model} response").get(key, _MISSING)
    if value is _MISSING:
        raise PapraResponseError(f"{model} response: missing required field {key!r}")
    return value


def _get(
    data: dict[str, Any],
    key: str,
    model: str,
    kind: type | tuple[type, ...],
    *,
    required: bool = True,
) -> Any:
    """Read one field; ``required=False`` means it may be absent or null."""
    value = data.get(key, _MISSING)
    if type(value) is kind or (type(kind) is tuple and type(value) in kind):
        return value  # the common case, decided without the checks below
    if value is _MISSING or value is None:
        if required:
            state = "missing required field" if value is _MISSING else "null required field"
            raise PapraResponseError(f"{model}: {state} {key!r}")
        return None
    # bool is an int subclass; never accept it where a number is expected.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise PapraResponseError(
            f"{model}: field {key!r} has type {type(value).__name__}, expected {_names(kind)}"
        )
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _names(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _as_tuple(kind))


def parse_timestamp(value: Any, model: str, key: str) -> datetime:
    """Parse Papra's ISO-8601 timestamps (``...Z``, milliseconds) to aware UTC datetimes."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise PapraResponseError(
                f"{model}: field {key!r} is not a timestamp: {value[:40]!r}"
            ) from None
        if parsed.tzinfo is None:  # date-only or naive values are UTC in Papra
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return datetime.fromtimestamp(value / 1000, tz=UTC)  # epoch milliseconds
    raise PapraResponseError(f"{model}: field {key!r} is not a timestamp: {value!r}")


def _ts(data: dict[str, Any], key: str, model: str, *, required: bool = True) -> datetime | None:
    value = _get(data, key, model, (str, int, float), required=required)
    return None if value is None else parse_timestamp(value, model, key)


def _list(data: dict[str, Any], key: str, model: str, *, required: bool = True) -> list | None:
    return _get(data, key, model, list, required=required)


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    permissions: tuple[str, ...]
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict) -> ApiKey:
        m = "ApiKey"
        _obj(data, m)
        perms = _list(data, "permissions", m)
        if not all(isinstance(p, str) for p in perms):
            raise PapraResponseError(f"{m}: field 'permissions' must hold strings")
        return cls(_get(data, "id", m, str), _get(data, "name", m, str), tuple(perms), data)


@dataclass(frozen=True, slots=True)
class Organization:
    id: str
    name: str
    created_at: datetime
    updated_at: datetime
    customer_id: str | None
    deleted_at: datetime | None
    deleted_by: str | None
    scheduled_purge_at: datetime | None
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict) -> Organization:
        m = "Organization"
        _obj(data, m)
        return cls(
            id=_get(data, "id", m, str),
            name=_get(data, "name", m, str),
            created_at=_ts(data, "createdAt", m),
            updated_at=_ts(data, "updatedAt", m),
            customer_id=_get(data, "customerId", m, str, required=False),
            deleted_at=_ts(data, "deletedAt", m, required=False),
            deleted_by=_get(data, "deletedBy", m, str, required=False),
            scheduled_purge_at=_ts(data, "scheduledPurgeAt", m, required=False),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Tag:
    id: str
    organization_id: str
    name: str
    normalized_name: str | None
    color: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    documents_count: int | None  # only in the tags list
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict) -> Tag:
        m = "Tag"
        _obj(data, m)
        return cls(
            id=_get(data, "id", m, str),
            organization_id=_get(data, "organizationId", m, str),
            name=_get(data, "name", m, str),
            normalized_name=_get(data, "normalizedName", m, str, required=False),
            color=_get(data, "color", m, str),
            description=_get(data, "description", m, str, required=False),
            created_at=_ts(data, "createdAt", m),
            updated_at=_ts(data, "updatedAt", m),
            documents_count=_get(data, "documentsCount", m, int, required=False),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class SelectOptionValue:
    option_id: str
    name: str

    @classmethod
    def from_json(cls, data: dict) -> SelectOptionValue:
        m = "SelectOptionValue"
        _obj(data, m)
        return cls(_get(data, "optionId", m, str), _get(data, "name", m, str))


@dataclass(frozen=True, slots=True)
class UserRef:
    user_id: str
    name: str | None
    email: str | None

    @classmethod
    def from_json(cls, data: dict) -> UserRef:
        m = "UserRef"
        _obj(data, m)
        return cls(
            _get(data, "userId", m, str),
            _get(data, "name", m, str, required=False),
            _get(data, "email", m, str, required=False),
        )


@dataclass(frozen=True, slots=True)
class DocumentRef:
    document_id: str
    name: str | None

    @classmethod
    def from_json(cls, data: dict) -> DocumentRef:
        m = "DocumentRef"
        _obj(data, m)
        return cls(_get(data, "documentId", m, str), _get(data, "name", m, str, required=False))


def _parse_property_value(prop_type: str, value: Any, key: str) -> Any:
    """Turn a custom-property ``value`` into Python by definition type (§6.2 of the notes)."""
    m = f"DocumentCustomProperty({key})"
    if value is None:
        return None
    wrapped = {"value": value}
    if prop_type == "text":
        return _get(wrapped, "value", m, str)
    if prop_type == "number":
        return float(_get(wrapped, "value", m, (int, float)))
    if prop_type == "date":
        return parse_timestamp(value, m, "value")
    if prop_type == "boolean":
        return _get(wrapped, "value", m, bool)
    if prop_type == "select":
        return SelectOptionValue.from_json(value)
    item_models = {
        "multi_select": SelectOptionValue,
        "user_relation": UserRef,
        "document_relation": DocumentRef,
    }
    if prop_type in item_models:
        items = _get(wrapped, "value", m, list)
        return tuple(item_models[prop_type].from_json(item) for item in items)
    return value  # a type this client does not know yet: keep the JSON as sent


@dataclass(frozen=True, slots=True)
class DocumentCustomProperty:
    """A custom-property value, from a document payload or ``/documents/{id}/custom-properties``.

    Documents list one entry per definition (``display_order`` set, no definition id, ``value``
    None when unset); the per-document route lists only set values with their definition id.
    """

    key: str
    name: str
    type: str
    display_order: int | None
    value: Any
    property_definition_id: str | None
    raw_value: Any = field(repr=False)
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict) -> DocumentCustomProperty:
        m = "DocumentCustomProperty"
        _obj(data, m)
        key = _get(data, "key", m, str)
        prop_type = _get(data, "type", m, str)
        raw_value = data.get("value")
        return cls(
            key=key,
            name=_get(data, "name", m, str),
            type=prop_type,
            display_order=_get(data, "displayOrder", m, int, required=False),
            value=_parse_property_value(prop_type, raw_value, key),
            property_definition_id=_get(data, "propertyDefinitionId", m, str, required=False),
            raw_value=raw_value,
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Document:
    id: str
    organization_id: str
    name: str
    original_name: str
    mime_type: str
    original_size: int
    original_sha256_hash: str
    content: str | None  # None when the payload has no content (list items)
    document_date: datetime | None
    notes: str | None
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    deleted_at: datetime | None
    deleted_by: str | None
    is_deleted: bool
    tags: tuple[Tag, ...] | None  # None when absent (upload, PATCH, trash list)
    custom_properties: tuple[DocumentCustomProperty, ...] | None
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict) -> Document:
        m = "Document"
        _obj(data, m)
        tags = _list(data, "tags", m, required=False)
        props = _list(data, "customProperties", m, required=False)
        deleted_at = _ts(data, "deletedAt", m, required=False)
        is_deleted = _get(data, "isDeleted", m, bool, required=False)
        return cls(
            id=_get(data, "id", m, str),
            organization_id=_get(data, "organizationId", m, str),
            name=_get(data, "name", m, str),
            original_name=_get(data, "originalName", m, str),
            mime_type=_get(data, "mimeType", m, str),
            original_size=_get(data, "originalSize", m, int),
            original_sha256_hash=_get(data, "originalSha256Hash", m, str),
            content=_get(data, "content", m, str, required=False),
            document_date=_ts(data, "documentDate", m, required=False),
            notes=_get(data, "notes", m, str, required=False),
            created_at=_ts(data, "createdAt", m),
            updated_at=_ts(data, "updatedAt", m),
            created_by=_get(data, "createdBy", m, str, required=False),
            deleted_at=deleted_at,
            deleted_by=_get(data, "deletedBy", m, str, required=False),
            is_deleted=is_deleted if is_deleted is not None else deleted_at is not None,
            tags=None if tags is None else tuple(Tag.from_json(t) for t in tags),
            custom_properties=(
                None if props is None else tuple(DocumentCustomProperty.from_json(p) for p in props)
            ),
            raw=data,
        )


def document_content(data: Any) -> str | None:
    """Only the ``content`` of a document payload: a reader that needs the text alone skips
    parsing the rest (tags, custom properties, timestamps)."""
    _get(_obj(data, "Document"), "id", "Document", str)
    return _get(data, "content", "Document", str, required=False)


@dataclass(frozen=True, slots=True)
class DocumentPage:
    """One page of a document list. Items are kept as Papra sent them and parsed on access:
    a sync compares each item's fingerprint with what it stored and builds models only for
    the documents that changed (parsing is most of the CPU a no-op sync would spend)."""

    items: tuple[dict, ...] = field(repr=False)
    documents_count: int
    page_index: int
    page_size: int

    @property
    def documents(self) -> tuple[Document, ...]:
        """The items as :class:`Document` models, parsed on every access."""
        return tuple(Document.from_json(item) for item in self.items)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(item["id"] for item in self.items)

    @classmethod
    def from_json(cls, data: dict, *, page_index: int, page_size: int) -> DocumentPage:
        m = "DocumentPage"
        _obj(data, m)
        items = tuple(_list(data, "documents", m))
        for item in items:  # what every reader relies on is checked now; the rest on access
            _get(_obj(item, "Document"), "id", "Document", str)
        return cls(
            items=items,
            documents_count=_get(data, "documentsCount", m, int),
            page_index=page_index,
            page_size=page_size,
        )


@dataclass(frozen=True, slots=True)
class Activity:
    id: str
    document_id: str
    created_at: datetime
    event: str
    event_data: dict | None
    user_id: str | None
    tag_id: str | None
    user: dict | None
    tag: dict | None
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict) -> Activity:
        m = "Activity"
        _obj(data, m)
        return cls(
            id=_get(data, "id", m, str),
            document_id=_get(data, "documentId", m, str),
            created_at=_ts(data, "createdAt", m),
            event=_get(data, "event", m, str),
            event_data=_get(data, "eventData", m, dict, required=False),
            user_id=_get(data, "userId", m, str, required=False),
            tag_id=_get(data, "tagId", m, str, required=False),
            user=_get(data, "user", m, dict, required=False),
            tag=_get(data, "tag", m, dict, required=False),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class CustomPropertyOption:
    id: str
    property_definition_id: str
    name: str
    key: str | None
    display_order: int | None
    created_at: datetime | None
    updated_at: datetime | None
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict) -> CustomPropertyOption:
        m = "CustomPropertyOption"
        _obj(data, m)
        return cls(
            id=_get(data, "id", m, str),
            property_definition_id=_get(data, "propertyDefinitionId", m, str),
            name=_get(data, "name", m, str),
            key=_get(data, "key", m, str, required=False),
            display_order=_get(data, "displayOrder", m, int, required=False),
            created_at=_ts(data, "createdAt", m, required=False),
            updated_at=_ts(data, "updatedAt", m, required=False),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class CustomPropertyDefinition:
    id: str
    organization_id: str
    name: str
    key: str
    description: str | None
    type: str
    config: Any
    display_order: int | None
    created_at: datetime
    updated_at: datetime
    options: tuple[CustomPropertyOption, ...] | None  # None in create/update responses
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict) -> CustomPropertyDefinition:
        m = "CustomPropertyDefinition"
        _obj(data, m)
        options = _list(data, "options", m, required=False)
        return cls(
            id=_get(data, "id", m, str),
            organization_id=_get(data, "organizationId", m, str),
            name=_get(data, "name", m, str),
            key=_get(data, "key", m, str),
            description=_get(data, "description", m, str, required=False),
            type=_get(data, "type", m, str),
            config=data.get("config"),
            display_order=_get(data, "displayOrder", m, int, required=False),
            created_at=_ts(data, "createdAt", m),
            updated_at=_ts(data, "updatedAt", m),
            options=(
                None
                if options is None
                else tuple(CustomPropertyOption.from_json(o) for o in options)
            ),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class OrganizationStatistics:
    """Counts and byte sizes; ``documents_*`` are non-trashed, ``total_*`` include trash."""

    documents_count: int
    documents_size: int
    deleted_documents_count: int | None
    deleted_documents_size: int | None
    total_documents_count: int | None
    total_documents_size: int | None
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict) -> OrganizationStatistics:
        m = "OrganizationStatistics"
        _obj(data, m)

        def num(key: str, required: bool = False) -> int | None:
            value = _get(data, key, m, (int, float), required=required)
            return None if value is None else int(value)

        return cls(
            documents_count=num("documentsCount", True),
            documents_size=num("documentsSize", True),
            # Added in Papra 25.10; older servers do not send them.
            deleted_documents_count=num("deletedDocumentsCount"),
            deleted_documents_size=num("deletedDocumentsSize"),
            total_documents_count=num("totalDocumentsCount"),
            total_documents_size=num("totalDocumentsSize"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class TaskId:
    """The id of an asynchronous job. Papra offers no route to poll it."""

    task_id: str
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict) -> TaskId:
        _obj(data, "TaskId")
        return cls(_get(data, "taskId", "TaskId", str), data)


@dataclass(frozen=True, slots=True)
class TaggingRule:
    id: str
    organization_id: str
    name: str
    description: str | None
    enabled: bool
    condition_match_mode: str
    conditions: tuple[dict, ...]
    actions: tuple[dict, ...]
    created_at: datetime
    updated_at: datetime
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict) -> TaggingRule:
        m = "TaggingRule"
        _obj(data, m)
        conditions = _list(data, "conditions", m, required=False) or []
        actions = _list(data, "actions", m, required=False) or []
        return cls(
            id=_get(data, "id", m, str),
            organization_id=_get(data, "organizationId", m, str),
            name=_get(data, "name", m, str),
            description=_get(data, "description", m, str, required=False),
            enabled=_get(data, "enabled", m, bool),
            condition_match_mode=_get(data, "conditionMatchMode", m, str, required=False) or "all",
            conditions=tuple(_obj(c, "TaggingRule condition") for c in conditions),
            actions=tuple(_obj(a, "TaggingRule action") for a in actions),
            created_at=_ts(data, "createdAt", m),
            updated_at=_ts(data, "updatedAt", m),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Public settings from ``GET /api/config``; parsed leniently since no sample exists."""

    version: str | None
    deleted_documents_retention_days: int | None
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict) -> ServerConfig:
        config = _obj(data, "ServerConfig")
        documents = config.get("documents")
        documents = documents if isinstance(documents, dict) else {}
        days = documents.get("deletedDocumentsRetentionDays")
        version = config.get("version")
        return cls(
            version=version if isinstance(version, str) else None,
            deleted_documents_retention_days=(
                days if isinstance(days, int) and not isinstance(days, bool) else None
            ),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class SessionUser:
    id: str
    email: str
    name: str | None
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict) -> SessionUser:
        m = "SessionUser"
        _obj(data, m)
        return cls(
            _get(data, "id", m, str),
            _get(data, "email", m, str),
            _get(data, "name", m, str, required=False),
            data,
        )
