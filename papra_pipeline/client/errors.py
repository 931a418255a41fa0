"""Exceptions raised by the Papra client.

Every failure the client reports is a ``PapraError``, so callers can catch one class. The
subclasses follow what Papra really answers (the responses recorded in
``tests/fixtures/papra-samples``), not the published docs: a missing API-key permission is a
401, an unknown org is a 403.

    PapraError                          base; method, path, status, code, message, details
    ├── PapraAuthenticationError        401: bad/unknown key, missing permission, session-only route
    │   └── PapraSessionRequiredError   route needs a logged-in session (tagging rules)
    ├── PapraOrganizationAccessError    403 user.not_in_organization (unknown/foreign/deleted org)
    ├── PapraForbiddenError             any other 403 (quotas, owner-only, login Origin check)
    ├── PapraNotFoundError              404
    ├── PapraConflictError              409 (duplicate upload, existing tag, ...)
    ├── PapraValidationError            400 (``details`` lists the offending fields)
    │   └── PapraUnsafeWebhookUrlError  webhook URL on a private address Papra may not call
    ├── PapraPayloadTooLargeError       413
    ├── PapraRateLimitError             429 (``retry_after`` in seconds when the server says)
    ├── PapraServerError                5xx
    ├── PapraTimeoutError               client-side timeout or HTTP 408
    ├── PapraConnectionError            could not reach the server
    └── PapraResponseError              a body we cannot use: not JSON, truncated, missing fields

Messages never contain credentials: the client scrubs its API key, password and session
cookie from anything it copies out of a response or a transport error.
"""

from __future__ import annotations

from typing import Any


class PapraError(Exception):
    """Base class; ``message`` is Papra's own message, ``str()`` adds context and a hint."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.details = details
        self.hint = hint

    def __str__(self) -> str:
        parts = []
        if self.method and self.path:
            parts.append(f"{self.method} {self.path}")
        answer = " ".join(
            x for x in (f"HTTP {self.status}" if self.status else None, self.code) if x
        )
        if answer:
            parts.append(answer)
        text = self.message
        if self.details:
            shown = "; ".join(
                f"{d.get('path') or '(body)'}: {d.get('message')}" for d in self.details[:5]
            )
            more = f" (+{len(self.details) - 5} more)" if len(self.details) > 5 else ""
            text = f"{text} [{shown}{more}]"
        parts.append(text)
        out = ": ".join(parts)
        return f"{out}. {self.hint}" if self.hint else out

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"method={self.method!r}, path={self.path!r}, message={self.message!r})"
        )


class PapraAuthenticationError(PapraError):
    """401: Papra's single answer for a bad key, a missing permission or a session-only route."""


class PapraSessionRequiredError(PapraAuthenticationError):
    """The route only accepts a logged-in session (email/password), never an API key."""


class PapraOrganizationAccessError(PapraError):
    """403 ``user.not_in_organization``: the org is unknown, someone else's, or deleted."""


class PapraForbiddenError(PapraError):
    """Any other 403: quotas, owner-only operations, the login Origin check."""


class PapraNotFoundError(PapraError):
    """404: the document, tag, definition or route does not exist."""


class PapraConflictError(PapraError):
    """409: duplicate upload (``document.already_exists``), existing tag or definition."""


class PapraValidationError(PapraError):
    """400: Papra rejected the input; ``details`` holds ``{path, message}`` entries."""


class PapraUnsafeWebhookUrlError(PapraValidationError):
    """400 ``webhooks.ssrf_unsafe_url``: the URL resolves to a private, loopback or reserved
    address and its host is not in the server's WEBHOOK_URL_ALLOWED_HOSTNAMES."""


class PapraPayloadTooLargeError(PapraError):
    """413: the upload exceeds the server's maximum file size."""


class PapraRateLimitError(PapraError):
    """429: ``retry_after`` is the delay in seconds the server asked for, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PapraServerError(PapraError):
    """5xx: Papra failed (``internal.error`` hides the cause) or a proxy did."""


class PapraTimeoutError(PapraError):
    """The request timed out on our side, or the server answered 408."""


class PapraConnectionError(PapraError):
    """The server could not be reached (DNS, refused connection, TLS, dropped socket)."""


class PapraResponseError(PapraError):
    """The response is not what Papra sends: not JSON, truncated, or missing a field."""
