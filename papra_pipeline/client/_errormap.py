"""Turn an HTTP error response into the matching ``PapraError``.

Papra speaks three dialects: ``{"error": {code, message, details?}}`` from its own routes,
``{"message", "code"}`` from the better-auth login layer, and plain text or HTML from rate
limiters and proxies. Everything copied from a body is scrubbed of the caller's secrets and
capped, so an echoing proxy cannot leak a key into logs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from ._routes import match_route
from .errors import (
    PapraAuthenticationError,
    PapraConflictError,
    PapraError,
    PapraForbiddenError,
    PapraNotFoundError,
    PapraOrganizationAccessError,
    PapraPayloadTooLargeError,
    PapraRateLimitError,
    PapraServerError,
    PapraSessionRequiredError,
    PapraTimeoutError,
    PapraUnsafeWebhookUrlError,
    PapraValidationError,
)

EXCERPT_CHARS = 200
SESSION_ENV_HINT = "set PAPRA_EMAIL and PAPRA_PASSWORD so the client can log in"
UNSAFE_URL_HINT = (
    "Papra refuses to call URLs that resolve to private, loopback or reserved addresses; "
    "to allow this receiver, start Papra with WEBHOOK_URL_ALLOWED_HOSTNAMES=<its host name or "
    "IP> (comma-separated for several), or use a publicly reachable URL"
)

_TOKEN_PATTERNS = (
    re.compile(r"ppapi_[A-Za-z0-9]{8,}"),
    re.compile(r"(better-auth\.session_token=)[^;\s\"']+"),
    re.compile(r"(Bearer\s+)[^\s\"',;]+"),
)

_BY_STATUS: dict[int, type[PapraError]] = {
    400: PapraValidationError,
    404: PapraNotFoundError,
    408: PapraTimeoutError,
    409: PapraConflictError,
    413: PapraPayloadTooLargeError,
}


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove API keys, session cookies, bearer tokens and the given secrets from ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "<redacted>")
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "<redacted>", text)
    return text


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` or better-auth's ``x-retry-after`` (seconds or date)."""
    for name in ("retry-after", "x-retry-after"):
        value = headers.get(name)
        if not value:
            continue
        value = value.strip()
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                continue
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = (when - (now or datetime.now(UTC))).total_seconds()
        if seconds == seconds:  # not NaN
            return max(0.0, seconds)
    return None


def _read_body(
    content: bytes, content_type: str, secrets: Iterable[str]
) -> tuple[str | None, str, list[dict[str, Any]] | None]:
    """Return (code, message, details) from any of Papra's error dialects."""
    text = content.decode("utf-8", errors="replace")
    try:
        data = json.loads(text) if text.strip() else None
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        err = data["error"]
        details = err.get("details")
        if isinstance(details, list):
            details = [
                {"path": d.get("path"), "message": scrub(str(d.get("message")), secrets)}
                for d in details
                if isinstance(d, dict)
            ]
        else:
            details = None
        code = err.get("code")
        return (
            code if isinstance(code, str) else None,
            scrub(str(err.get("message") or "(no message)"), secrets),
            details,
        )
    if isinstance(data, dict) and isinstance(data.get("message"), str):  # better-auth dialect
        code = data.get("code")
        return code if isinstance(code, str) else None, scrub(data["message"], secrets), None
    if not text.strip():
        return None, "empty response body", None
    excerpt = scrub(text, secrets)
    if len(excerpt) > EXCERPT_CHARS:
        excerpt = excerpt[:EXCERPT_CHARS] + "..."
    kind = content_type or "no content type"
    return None, f"unexpected non-Papra body ({kind}): {excerpt!r}", None


def _auth_hint(method: str, path: str, auth: str, code: str | None) -> tuple[type, str]:
    route = match_route(method, path)
    if code == "api_keys.authentication_not_api_key":
        return PapraAuthenticationError, "this route only accepts an API key, not a session"
    if route is not None and route.auth == "login":
        return PapraAuthenticationError, (
            "Papra refused the login; check PAPRA_EMAIL and PAPRA_PASSWORD"
        )
    if auth == "session":
        return PapraAuthenticationError, (
            "Papra rejected the session (expired or revoked); check PAPRA_EMAIL and PAPRA_PASSWORD"
        )
    if route is not None and route.auth == "session":
        return PapraSessionRequiredError, (
            f"{route.endpoint} only accepts a logged-in session: this Papra version needs a "
            f"logged-in session for {route.feature} and answers 401 to every API key; "
            f"{SESSION_ENV_HINT}"
        )
    if auth == "none":
        return PapraAuthenticationError, "no API key was sent; set PAPRA_API_KEY"
    if route is not None and route.permissions:
        return PapraAuthenticationError, (
            f"{route.endpoint} needs an API key with {' and '.join(route.permissions)} "
            "(Papra answers 401 when a permission is missing, and also for an unknown, deleted "
            "or expired key); `papra-pipeline doctor` (in Python, get_current_api_key()) tells "
            "which it is"
        )
    return PapraAuthenticationError, (
        "Papra did not accept the API key (unknown, deleted, expired or malformed); "
        "check PAPRA_API_KEY"
    )


def error_from_response(
    *,
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    method: str,
    path: str,
    auth: str = "key",
    secrets: Iterable[str] = (),
) -> PapraError:
    """Map one non-2xx response to an exception; ``auth`` is how the request authenticated.

    ``auth`` is ``"key"``, ``"session"``, ``"login"`` or ``"none"``; it decides what a 401
    means (a missing permission, a session-only route, an expired session, a bad password).
    """
    secrets = tuple(secrets)
    path = path.split("?", 1)[0]
    code, message, details = _read_body(content, headers.get("content-type", ""), secrets)
    common: dict[str, Any] = {
        "method": method.upper(),
        "path": path,
        "status": status,
        "code": code,
    }
    if status == 401:
        cls, hint = _auth_hint(method, path, auth, code)
        return cls(message, hint=hint, **common)
    if status == 403:
        if code == "user.not_in_organization":
            return PapraOrganizationAccessError(
                message,
                hint=(
                    "the organization does not exist, was deleted, or the key's owner is not a "
                    "member"
                ),
                **common,
            )
        hint = None
        if code == "MISSING_OR_NULL_ORIGIN":
            hint = "the login needs an Origin header equal to the server URL"
        return PapraForbiddenError(message, hint=hint, **common)
    if status == 429:
        return PapraRateLimitError(message, retry_after=parse_retry_after(headers), **common)
    if status >= 500:
        return PapraServerError(message, **common)
    if code == "webhooks.ssrf_unsafe_url":
        return PapraUnsafeWebhookUrlError(message, details=details, hint=UNSAFE_URL_HINT, **common)
    if status in _BY_STATUS:
        hint = None
        if code == "api.not-found":
            hint = "Papra has no such route; check PAPRA_API_URL and the server version"
        elif code == "document.already_exists":
            hint = "a non-trashed document with the same content exists in this organization"
        return _BY_STATUS[status](message, details=details, hint=hint, **common)
    if 300 <= status < 400:
        return PapraError(
            message,
            hint=(
                f"unexpected redirect to {headers.get('location', '?')!r}; check PAPRA_API_URL "
                "(http vs https, path prefix)"
            ),
            **common,
        )
    return PapraError(message, details=details, **common)
