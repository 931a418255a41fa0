"""A tiny valibot look-alike producing Papra's validation ``details`` messages.

A validator is ``fn(value, path) -> value`` that appends issues to a list; a missing
key is represented by the ``MISSING`` sentinel so messages say ``received undefined``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from papra_pipeline.testing.common import PapraError

MISSING: Any = object()
Issues = list[dict]
Validator = Callable[[Any, str | None, Issues], Any]


def received(value: Any) -> str:
    """How valibot prints a received value."""
    if value is MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, int) or not value.is_integer() else str(int(value))
    if isinstance(value, list):
        return "Array"
    return "Object"


def _join(path: str | None, key: str | int) -> str:
    return str(key) if path is None else f"{path}.{key}"


def issue(issues: Issues, path: str | None, message: str) -> None:
    issues.append({"path": path, "message": message})


def string(
    min_len: int | None = None,
    max_len: int | None = None,
    *,
    trim: bool = False,
    pattern: str | None = None,
    pattern_message: str | None = None,
) -> Validator:
    regex = re.compile(pattern) if pattern else None

    def check(value: Any, path: str | None, issues: Issues) -> Any:
        if not isinstance(value, str):
            issue(issues, path, f"Invalid type: Expected string but received {received(value)}")
            return value
        if trim:
            value = value.strip()
        if min_len is not None and len(value) < min_len:
            issue(issues, path, f"Invalid length: Expected >={min_len} but received {len(value)}")
        elif max_len is not None and len(value) > max_len:
            issue(issues, path, f"Invalid length: Expected <={max_len} but received {len(value)}")
        elif regex is not None and not regex.search(value):
            issue(
                issues,
                path,
                pattern_message
                or f"Invalid format: Expected /{pattern}/ but received {received(value)}",
            )
        return value

    return check


def picklist(options: tuple[str, ...]) -> Validator:
    expected = " | ".join(json.dumps(o) for o in options)

    def check(value: Any, path: str | None, issues: Issues) -> Any:
        if value not in options or not isinstance(value, str):
            got = received(value)
            issue(issues, path, f"Invalid type: Expected ({expected}) but received {got}")
        return value

    return check


def boolean(value: Any, path: str | None, issues: Issues) -> Any:
    if not isinstance(value, bool):
        issue(issues, path, f"Invalid type: Expected boolean but received {received(value)}")
    return value


def integer(min_value: int | None = None, max_value: int | None = None) -> Validator:
    def check(value: Any, path: str | None, issues: Issues) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            issue(issues, path, f"Invalid type: Expected number but received {received(value)}")
        elif isinstance(value, float) and not value.is_integer():
            issue(issues, path, f"Invalid integer: Received {received(value)}")
        elif min_value is not None and value < min_value:
            issue(issues, path, f"Invalid value: Expected >={min_value} but received {value}")
        elif max_value is not None and value > max_value:
            issue(issues, path, f"Invalid value: Expected <={max_value} but received {value}")
        return value

    return check


def nullable(inner: Validator) -> Validator:
    def check(value: Any, path: str | None, issues: Issues) -> Any:
        return None if value is None else inner(value, path, issues)

    return check


def array(inner: Validator, min_len: int | None = None, max_len: int | None = None) -> Validator:
    def check(value: Any, path: str | None, issues: Issues) -> Any:
        if not isinstance(value, list):
            issue(issues, path, f"Invalid type: Expected Array but received {received(value)}")
            return value
        out = [inner(item, _join(path, i), issues) for i, item in enumerate(value)]
        if min_len is not None and len(value) < min_len:
            issue(issues, path, f"Invalid length: Expected >={min_len} but received {len(value)}")
        elif max_len is not None and len(value) > max_len:
            issue(issues, path, f"Invalid length: Expected <={max_len} but received {len(value)}")
        return out

    return check


def obj(fields: dict[str, tuple[Validator, bool]], *, strict: bool = True) -> Validator:
    """``fields`` maps key -> (validator, required); unknown keys fail when ``strict``."""

    def check(value: Any, path: str | None, issues: Issues) -> Any:
        if not isinstance(value, dict):
            issue(issues, path, f"Invalid type: Expected Object but received {received(value)}")
            return value
        out = {}
        for key, (validator, required) in fields.items():
            if key not in value:
                if required:
                    issue(
                        issues,
                        _join(path, key),
                        f'Invalid key: Expected "{key}" but received undefined',
                    )
                continue
            out[key] = validator(value[key], _join(path, key), issues)
        if strict:
            for key in value:
                if key not in fields:
                    issue(
                        issues,
                        _join(path, key),
                        f"Invalid key: Expected never but received {json.dumps(key)}",
                    )
        return out

    return check


def run(validator: Validator, value: Any, kind: str) -> Any:
    """Validate a body ("body") or query ("query"); raise Papra's 400 on any issue."""
    issues: Issues = []
    out = validator(value, None, issues)
    if issues:
        raise validation_error(kind, issues)
    return out


_KINDS = {
    "body": "Invalid request body",
    "query": "Invalid query parameters",
    "params": "Invalid URL parameters",
}


def validation_error(kind: str, issues: Issues) -> PapraError:
    return PapraError(400, f"server.invalid_request.{kind}", _KINDS[kind], issues)


def js_number(text: str) -> float:
    """``Number(text)`` for query-string coercion (``""`` is 0, junk is NaN)."""
    stripped = text.strip()
    if stripped == "":
        return 0.0
    try:
        if stripped.lower().startswith(("0x", "0o", "0b")):
            return float(int(stripped, 0))
        if stripped.lower() in ("infinity", "+infinity", "-infinity"):
            return float(stripped.replace("inity", ""))
        if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?", stripped, re.IGNORECASE):
            return math.nan
        return float(stripped)
    except ValueError:
        return math.nan


def query_int(raw: str, path: str, issues: Issues, *, min_value: int, max_value: int | None) -> int:
    """Papra's coerced integer query params (pageIndex, pageSize)."""
    number = js_number(raw)
    if math.isnan(number):
        issue(issues, path, "Invalid number: Received NaN")
    elif math.isinf(number) or not number.is_integer() or abs(number) > 2**53 - 1:
        issue(issues, path, f"Invalid safe integer: Received {received(number)}")
    elif number < min_value:
        issue(issues, path, f"Invalid value: Expected >={min_value} but received {int(number)}")
    elif max_value is not None and number > max_value:
        issue(issues, path, f"Invalid value: Expected <={max_value} but received {int(number)}")
    else:
        return int(number)
    return 0
