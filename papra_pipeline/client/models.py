"""Typed, immutable views of Papra's JSON, parsed in one place.

Each model has a ``from_json`` classmethod taking the camelCase object Papra sends and keeps
that object as ``raw`` (left out of ``==`` and ``repr``). Unknown fields are ignored so newer
servers keep working; a missing or mistyped required field raises ``PapraResponseError``
naming the model and the field, because silently storing ``None`` would corrupt the copy.
A sync parses documents with ``lenient=True`` instead: what cannot be typed becomes ``None``
and is listed in ``untyped``, so one odd value never stops the copy of everything else.
Timestamps become timezone-aware UTC ``datetime`` objects, or :class:`ExtendedTimestamp` for
the years JavaScript accepts and Python does not (before 1 or after 9999).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from .errors import PapraResponseError

_MISSING = object()


class JSONTooDeepError(ValueError):
    """JSON nested deeper than Python's stack can read (orjson refuses past 1,024 levels)."""


def decode_json(body: bytes) -> Any:
    """Decode a response body; raises ``ValueError`` when it is not JSON.

    orjson decodes a page several times faster than the standard library; the standard library
    still reads what orjson refuses but a JavaScript server can send (an escaped lone surrogate
    in a name, an integer past 64 bits), so such a document is stored rather than failing a sync.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            return json.loads(body)
        except RecursionError:
            raise JSONTooDeepError("JSON nested too deep to read") from None


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


@dataclass(frozen=True, slots=True)
class UntypedValue:
    """A value a lenient parse could not type: where it is, what Papra sent, and why."""

    field: str  # the JSON path in the record: ``documentDate``, ``customProperties.duedate``
    value: Any  # as Papra sent it (None when the field was missing)
    reason: str


class _Lenient:
    """Collects what cannot be typed instead of raising; ``prefix`` places nested fields."""

    __slots__ = ("found", "prefix")

    def __init__(self, found: list[UntypedValue], prefix: str = "") -> None:
        self.found = found
        self.prefix = prefix

    def add(self, key: str, value: Any, reason: str) -> None:
        self.found.append(
            UntypedValue(self.prefix + key, None if value is _MISSING else value, reason)
        )

    def nested(self, prefix: str) -> _Lenient:
        return _Lenient(self.found, self.prefix + prefix)


def _get(
    data: dict[str, Any],
    key: str,
    model: str,
    kind: type | tuple[type, ...],
    *,
    required: bool = True,
    lenient: _Lenient | None = None,
) -> Any:
    """Read one field; ``required=False`` means it may be absent or null.

    With ``lenient``, a missing or mistyped value is recorded there and read as ``None``.
    """
    value = data.get(key, _MISSING)
    if type(value) is kind or (type(kind) is tuple and type(value) in kind):
        return value  # the common case, decided without the checks below
    if value is _MISSING or value is None:
        if required:
            state = "missing required field" if value is _MISSING else "null required field"
            return _refuse(f"{model}: {state} {key!r}", lenient, key, value)
        return None
    # bool is an int subclass; never accept it where a number is expected.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        message = f"{model}: field {key!r} has type {type(value).__name__}, expected {_names(kind)}"
        return _refuse(message, lenient, key, value)
    return value


def _refuse(message: str, lenient: _Lenient | None, key: str, value: Any) -> None:
    if lenient is None:
        raise PapraResponseError(message)
    lenient.add(key, value, message)
    return None


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _names(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _as_tuple(kind))


@dataclass(frozen=True, slots=True)
class ExtendedTimestamp:
    """An instant whose year Python's ``datetime`` cannot hold (before 1 or after 9999).

    Papra stores dates through JavaScript's ``Date``, which reaches 275,760 years either side
    of 1970 and writes such years with six digits and a sign (``+020244-05-01T00:00:00.000Z``,
    ``-000500-06-15T...``; year 0 is ``0000``). DuckDB's TIMESTAMPTZ holds them all; the
    instant is kept exactly as microseconds since 1970-01-01 UTC.
    """

    epoch_us: int

    def isoformat(self) -> str:
        """The text JavaScript's ``toISOString`` gives for this instant."""
        days, us = divmod(self.epoch_us, 86_400_000_000)
        year, month, day = _civil_from_days(days)
        seconds, fraction = divmod(us, 1_000_000)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        digits = (
            f"{year:04d}" if 0 <= year <= 9999 else f"{'+' if year > 0 else '-'}{abs(year):06d}"
        )
        frac = f"{fraction // 1000:03d}" if fraction % 1000 == 0 else f"{fraction:06d}"
        return f"{digits}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{frac}Z"

    def __str__(self) -> str:
        return self.isoformat()


# What JavaScript's Date can hold: 100,000,000 days either side of 1970.
_JS_DATE_LIMIT_US = 8_640_000_000_000_000_000
_DATETIME_MIN_US = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z
_DATETIME_END_US = 253_402_300_800_000_000  # 10000-01-01T00:00:00Z
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EXTENDED_ISO = re.compile(
    r"([+-]\d{6}|\d{4})-(\d{2})-(\d{2})"
    r"(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?(Z|[+-]\d{2}:\d{2})?)?"
)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (any year, year 0 included)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """The inverse of :func:`_days_from_civil`."""
    days += 719_468
    era = days // 146_097
    day_of_era = days - era * 146_097
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + (3 if shifted_month < 10 else -9)
    return year_of_era + era * 400 + (month <= 2), month, day


def _instant(epoch_us: int) -> datetime | ExtendedTimestamp | None:
    """A datetime where Python has one, else an ExtendedTimestamp; None past JavaScript's range."""
    if _DATETIME_MIN_US <= epoch_us < _DATETIME_END_US:
        return _EPOCH + timedelta(microseconds=epoch_us)
    if abs(epoch_us) <= _JS_DATE_LIMIT_US:
        return ExtendedTimestamp(epoch_us)
    return None


def _parse_extended(text: str) -> datetime | ExtendedTimestamp | None:
    """ISO-8601 as JavaScript writes it, with the years Python refuses; None if it is not."""
    match = _EXTENDED_ISO.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    month, day = int(month), int(day)
    hour, minute, second = int(hour or 0), int(minute or 0), int(second or 0)
    if text[0] == "-" and int(year) == 0:
        return None  # JavaScript refuses -000000
    if not 1 <= month <= 12 or hour > 23 or minute > 59 or second > 59:
        return None
    days = _days_from_civil(int(year), month, day)
    if not 1 <= day <= days_in_month(int(year), month):
        return None
    us = ((days * 24 + hour) * 60 + minute) * 60_000_000 + second * 1_000_000
    us += int((fraction or "0").ljust(6, "0"))
    if offset and offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        us -= sign * (int(offset[1:3]) * 60 + int(offset[4:6])) * 60_000_000
    return _instant(us)


def days_in_month(year: int, month: int) -> int:
    return _days_from_civil(year + (month == 12), month % 12 + 1, 1) - _days_from_civil(
        year, month, 1
    )


def parse_timestamp(value: Any, model: str, key: str) -> datetime | ExtendedTimestamp:
    """Parse Papra's timestamps to aware UTC datetimes, or ExtendedTimestamps for the years
    Python cannot hold. Strings are ISO-8601 (``...Z``, milliseconds); numbers are epoch ms."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            extended = _parse_extended(value)
            if extended is None:
                raise PapraResponseError(
                    f"{model}: field {key!r} is not a timestamp: {value[:40]!r}"
                ) from None
            return extended
        if parsed.tzinfo is None:  # date-only or naive values are UTC in Papra
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            instant = _instant(round(value * 1000))  # epoch milliseconds
        except (OverflowError, ValueError):  # inf or nan, 1e308 * 1000 included
            instant = None
        if instant is not None:
            return instant
    raise PapraResponseError(f"{model}: field {key!r} is not a timestamp: {value!r}")


def _ts(
    data: dict[str, Any],
    key: str,
    model: str,
    *,
    required: bool = True,
    lenient: _Lenient | None = None,
) -> datetime | ExtendedTimestamp | None:
    value = _get(data, key, model, (str, int, float), required=required, lenient=lenient)
    if value is None:
        return None
    try:
        return parse_timestamp(value, model, key)
    except PapraResponseError as exc:
        return _refuse(exc.message, lenient, key, value)


def _list(
    data: dict[str, Any],
    key: str,
    model: str,
    *,
    required: bool = True,
    lenient: _Lenient | None = None,
) -> list | None:
    return _get(data, key, model, list, required=required, lenient=lenient)


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
    def from_json(cls, data: dict, *, lenient: _Lenient | None = None) -> Tag:
        """``lenient``: only ``id`` is required; see :meth:`Document.from_json`."""
        m = "Tag"
        _obj(data, m)
        tag_id = _get(data, "id", m, str)
        if lenient is not None:
            lenient = lenient.nested(f"tags.{tag_id}.")
        return cls(
            id=tag_id,
            organization_id=_get(data, "organizationId", m, str, lenient=lenient),
            name=_get(data, "name", m, str, lenient=lenient),
            normalized_name=_get(data, "normalizedName", m, str, required=False, lenient=lenient),
            color=_get(data, "color", m, str, lenient=lenient),
            description=_get(data, "description", m, str, required=False, lenient=lenient),
            created_at=_ts(data, "createdAt", m, lenient=lenient),
            updated_at=_ts(data, "updatedAt", m, lenient=lenient),
            documents_count=_get(data, "documentsCount", m, int, required=False, lenient=lenient),
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


# The custom-property types Papra knows, in the order error messages list them.
PROPERTY_TYPES = (
    "text",
    "number",
    "date",
    "boolean",
    "select",
    "multi_select",
    "user_relation",
    "document_relation",
)


def _parse_property_value(
    prop_type: str | None, value: Any, key: str, lenient: _Lenient | None = None
) -> Any:
    """Turn a custom-property ``value`` into Python by definition type (§6.2 of the notes).

    With ``lenient``, a value that cannot be typed is recorded there and read as ``None``, and
    so is a value of a type this client does not know (its typed columns would stay empty).
    """
    if value is None:
        return None
    if lenient is None:
        return _typed_property_value(prop_type, value, key)
    if prop_type not in PROPERTY_TYPES:
        lenient.add(f"customProperties.{key}", value, f"unknown custom-property type {prop_type!r}")
        return value
    try:
        return _typed_property_value(prop_type, value, key)
    except PapraResponseError as exc:
        lenient.add(f"customProperties.{key}", value, exc.message)
        return None


def _typed_property_value(prop_type: str | None, value: Any, key: str) -> Any:
    m = f"DocumentCustomProperty({key})"
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
    def from_json(cls, data: dict, *, lenient: _Lenient | None = None) -> DocumentCustomProperty:
        """``lenient``: only ``key`` is required; see :meth:`Document.from_json`."""
        m = "DocumentCustomProperty"
        _obj(data, m)
        key = _get(data, "key", m, str)
        fields = None if lenient is None else lenient.nested(f"customProperties.{key}.")
        prop_type = _get(data, "type", m, str, lenient=fields)
        raw_value = data.get("value")
        return cls(
            key=key,
            name=_get(data, "name", m, str, lenient=fields),
            type=prop_type,
            display_order=_get(data, "displayOrder", m, int, required=False, lenient=fields),
            value=_parse_property_value(prop_type, raw_value, key, lenient),
            property_definition_id=_get(
                data, "propertyDefinitionId", m, str, required=False, lenient=fields
            ),
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
    document_date: datetime | ExtendedTimestamp | None
    notes: str | None
    created_at: datetime | ExtendedTimestamp
    updated_at: datetime | ExtendedTimestamp
    created_by: str | None
    deleted_at: datetime | ExtendedTimestamp | None
    deleted_by: str | None
    is_deleted: bool
    tags: tuple[Tag, ...] | None  # None when absent (upload, PATCH, trash list)
    custom_properties: tuple[DocumentCustomProperty, ...] | None
    raw: dict = field(repr=False, compare=False)
    untyped: tuple[UntypedValue, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict, *, lenient: bool = False) -> Document:
        """Parse a document payload.

        With ``lenient``, only ``id`` and ``organizationId`` are required: any other value
        that is missing, mistyped or of a shape this client does not know is read as ``None``
        and listed in ``untyped`` (an unreadable tag or custom property is left out), so a
        sync can keep the record as Papra sent it and say what it could not type.
        """
        if lenient:
            try:  # the usual document: as fast as a strict parse
                document = cls._build(data, None)
            except PapraResponseError:
                pass
            else:
                if not document.has_unknown_property_type:
                    return document
            found: list[UntypedValue] = []
            document = cls._build(data, _Lenient(found))
            return dataclasses.replace(document, untyped=tuple(found))
        return cls._build(data, None)

    @property
    def has_unknown_property_type(self) -> bool:
        """A custom-property value of a type this client does not know (a later Papra's)."""
        return any(
            p.type not in PROPERTY_TYPES and p.raw_value is not None
            for p in self.custom_properties or ()
        )

    @classmethod
    def _build(cls, data: dict, loose: _Lenient | None) -> Document:
        m = "Document"
        _obj(data, m)
        tags = _list(data, "tags", m, required=False, lenient=loose)
        props = _list(data, "customProperties", m, required=False, lenient=loose)
        deleted_at = _ts(data, "deletedAt", m, required=False, lenient=loose)
        is_deleted = _get(data, "isDeleted", m, bool, required=False, lenient=loose)
        return cls(
            id=_get(data, "id", m, str),
            organization_id=_get(data, "organizationId", m, str),
            name=_get(data, "name", m, str, lenient=loose),
            original_name=_get(data, "originalName", m, str, lenient=loose),
            mime_type=_get(data, "mimeType", m, str, lenient=loose),
            original_size=_get(data, "originalSize", m, int, lenient=loose),
            original_sha256_hash=_get(data, "originalSha256Hash", m, str, lenient=loose),
            content=_get(data, "content", m, str, required=False, lenient=loose),
            document_date=_ts(data, "documentDate", m, required=False, lenient=loose),
            notes=_get(data, "notes", m, str, required=False, lenient=loose),
            created_at=_ts(data, "createdAt", m, lenient=loose),
            updated_at=_ts(data, "updatedAt", m, lenient=loose),
            created_by=_get(data, "createdBy", m, str, required=False, lenient=loose),
            deleted_at=deleted_at,
            deleted_by=_get(data, "deletedBy", m, str, required=False, lenient=loose),
            is_deleted=is_deleted if is_deleted is not None else deleted_at is not None,
            tags=None if tags is None else _items(tags, Tag, "tags", loose),
            custom_properties=(
                None
                if props is None
                else _items(props, DocumentCustomProperty, "customProperties", loose)
            ),
            raw=data,
        )


def _items(items: list, model: Any, key: str, lenient: _Lenient | None) -> tuple:
    """Parse a list of nested records; a lenient parse leaves out those it cannot read."""
    if lenient is None:
        return tuple(model.from_json(item) for item in items)
    parsed = []
    for index, item in enumerate(items):
        try:
            parsed.append(model.from_json(item, lenient=lenient))
        except PapraResponseError as exc:
            lenient.add(f"{key}[{index}]", item, exc.message)
    return tuple(parsed)


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
