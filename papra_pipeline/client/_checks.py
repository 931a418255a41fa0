"""Input checks run before anything is sent.

Papra validates too, but some bad inputs cost more than a 400: an empty tag update or an
options-only definition update is a 500, an empty batch query matches every document, and a
``None`` custom-property value is a 400 that hides the intended "clear". Limits mirror the
server's schemas (section 11 of the API notes).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from .models import PROPERTY_TYPES

MAX_PAGE_SIZE = 100
SORT_FIELDS = ("createdAt", "updatedAt", "name", "documentDate")
SORT_ORDERS = ("asc", "desc")
_COLOR = re.compile(r"#[0-9A-Fa-f]{6}")


def text(
    value: Any, what: str, *, min_len: int = 0, max_len: int | None = None, strip: bool = False
) -> str:
    """Check a string's type and length (after trimming when Papra trims)."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    checked = value.strip() if strip else value
    if len(checked) < min_len:
        trimmed = " after trimming" if strip else ""
        raise ValueError(f"{what} must have at least {min_len} characters{trimmed}")
    if max_len is not None and len(checked) > max_len:
        raise ValueError(f"{what} must have at most {max_len} characters, got {len(checked)}")
    return checked


def page(page_index: Any, page_size: Any) -> None:
    for name, value, low in (("page_index", page_index, 0), ("page_size", page_size, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if page_size > MAX_PAGE_SIZE:
        raise ValueError(
            f"page_size must be between 1 and {MAX_PAGE_SIZE} (Papra's limit), got {page_size}"
        )


def choice(value: Any, what: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")


def color(value: Any) -> str:
    if not isinstance(value, str) or not _COLOR.fullmatch(value):
        raise ValueError(f"tag color must look like #RRGGBB (six hex digits), got {value!r}")
    return value


def ids(values: Iterable[Any], what: str, *, max_items: int, min_items: int = 0) -> list[str]:
    if isinstance(values, str):
        raise ValueError(f"{what} must be a list of ids, not a single string")
    out = list(values)
    if not min_items <= len(out) <= max_items:
        raise ValueError(f"{what} must hold {min_items}..{max_items} ids, got {len(out)}")
    for value in out:
        if not isinstance(value, str) or not value:
            raise ValueError(f"{what} must hold non-empty string ids, got {value!r}")
    return out


def batch_filter(document_ids: Any, query: Any) -> dict[str, Any]:
    """Build ``{"documentIds": [...]}`` or ``{"query": "..."}``; exactly one is allowed."""
    if (document_ids is None) == (query is None):
        raise ValueError("pass exactly one of document_ids or query")
    if document_ids is not None:
        return {"documentIds": ids(document_ids, "document_ids", min_items=1, max_items=1000)}
    text(query, "query", max_len=1024)
    if not query.strip():
        raise ValueError(
            "an empty query matches every document in the organization; "
            "pass a real search query or explicit document_ids"
        )
    return {"query": query}


def iso_datetime(value: datetime | date, what: str) -> str:
    """Serialize like JavaScript's ``toISOString`` so Papra's ``new Date()`` reads it as meant."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(
                f"{what} must be timezone-aware (Papra stores UTC); use datetime(..., tzinfo=UTC)"
            )
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    raise ValueError(f"{what} must be a datetime, a date or an ISO string")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def property_value(value: Any, prop_type: str | None) -> Any:
    """Check a custom-property value's shape and return its JSON form (section 6.2)."""
    if value is None:
        raise ValueError(
            "None is not a custom-property value; use "
            "clear_document_custom_property() to remove a value"
        )
    if prop_type is not None:
        choice(prop_type, "type", PROPERTY_TYPES)
    if isinstance(value, datetime | date):
        if prop_type not in (None, "date"):
            raise ValueError(f"a {prop_type} property does not take a date")
        return iso_datetime(value, "a date value")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("number values must be finite (no NaN or infinity)")
    if isinstance(value, tuple | list):
        value = ids(value, f"a {prop_type or 'list'} value", max_items=10_000)
    if prop_type is None:
        if not isinstance(value, str | int | float | bool | list):
            raise ValueError(f"unsupported custom-property value type {type(value).__name__}")
        return value
    expected = {
        "text": (lambda v: isinstance(v, str), "a string"),
        "number": (_is_number, "a finite int or float (not a bool or a string)"),
        "date": (lambda v: isinstance(v, str), "a datetime, a date or an ISO date string"),
        "boolean": (lambda v: isinstance(v, bool), "True or False"),
        "select": (lambda v: isinstance(v, str), "one option id (cpso_...)"),
        "multi_select": (lambda v: isinstance(v, list), "a list of option ids"),
        "user_relation": (lambda v: isinstance(v, list), "a list of user ids"),
        "document_relation": (lambda v: isinstance(v, list), "a list of document ids"),
    }
    check, description = expected[prop_type]
    if not check(value):
        raise ValueError(f"a {prop_type} property takes {description}, got {value!r:.60}")
    if prop_type == "text" and len(value) > 10_000:
        raise ValueError(f"text values must have at most 10000 characters, got {len(value)}")
    return value
