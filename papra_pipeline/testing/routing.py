"""Routing of the fake Papra server: route matching, auth, URL params, JSON responses.

Mirrors Papra's middleware order (API-key header parsing -> route match -> route auth ->
URL params -> query/body -> org membership -> use case) so error precedence matches the
recorded samples. Business rules live in the ``*_state`` mixins; the handlers, one
``*_routes`` module per resource, only translate.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from papra_pipeline.testing import validation as v
from papra_pipeline.testing.common import PapraError, unauthorized

if TYPE_CHECKING:
    from papra_pipeline.testing.state import FakeState

SESSION_COOKIE = "better-auth.session_token"
MAX_FILE_SIZE = 25 * 1024 * 1024
SIGN_IN_LIMIT = 3
SIGN_IN_WINDOW_S = 10.0
_API_KEY_RE = re.compile(r"^ppapi_[A-Za-z0-9]{64}$")
#: URL placeholder -> (param name in Papra's error details, id prefix)
PARAMS = {
    "org": ("organizationId", "org"),
    "doc": ("documentId", "doc"),
    "tag": ("tagId", "tag"),
    "cpd": ("propertyDefinitionId", "cpd"),
    "rule": ("taggingRuleId", "tr"),
    "key": ("apiKeyId", "ak"),
    "webhook": ("webhookId", "wbh"),
}
PUBLIC, SESSION, KEY_ONLY = "public", "session", "key-only"
_NO_STORE_EXEMPT = (
    "server.invalid_request.body",
    "server.invalid_request.query",
    "server.invalid_request.params",
    "server.invalid_request.form_data",
    "api.not-found",
)


def id_pattern(prefix: str) -> str:
    return f"^{prefix}_[a-z0-9]{{24}}$"


@dataclass
class Auth:
    kind: str | None  # "key" | "session" | None
    user_id: str | None = None
    permissions: tuple[str, ...] = ()
    key_id: str | None = None
    key_name: str | None = None
    session: Any = None


@dataclass
class Ctx:
    state: FakeState
    request: httpx.Request
    params: dict[str, str]
    auth: Auth

    @property
    def uid(self) -> str | None:
        return self.auth.user_id

    @property
    def org(self) -> str:
        return self.params["org"]

    def query(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.request.url.params.multi_items():
            if key in out:
                out[key] = [*out[key], value] if isinstance(out[key], list) else [out[key], value]
            else:
                out[key] = value
        return out

    def json(self) -> Any:
        """JSON body; anything not declared application/json validates as ``{}`` like Hono."""
        content_type = self.request.headers.get("content-type", "")
        if "application/json" not in content_type.lower():
            return {}
        try:
            return json.loads(self.request.content or b"")
        except (ValueError, UnicodeDecodeError):
            raise PapraError(
                400, "server.invalid_request.malformed_json", "Invalid request body"
            ) from None


Handler = Callable[[Ctx], httpx.Response]


@dataclass
class Route:
    method: str
    template: str
    auth: str | tuple[str, ...]
    handler: Handler
    regex: re.Pattern[str]
    names: list[str]

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"


ROUTES: list[Route] = []


def route(method: str, template: str, auth: str | tuple[str, ...]) -> Callable[[Handler], Handler]:
    names = re.findall(r"{(\w+)}", template)
    pattern = "^" + re.sub(r"{\w+}", "([^/]+)", template) + "$"

    def register(fn: Handler) -> Handler:
        ROUTES.append(Route(method, template, auth, fn, re.compile(pattern), names))
        return fn

    return register


def match_route(method: str, path: str) -> tuple[Route | None, dict[str, str]]:
    """The matching route with the fewest placeholders (``/documents/trash`` beats
    ``/documents/{doc}``), like Hono's static-first matching."""
    best: tuple[Route | None, dict[str, str]] = (None, {})
    for r in ROUTES:
        if r.method == method and (best[0] is None or len(r.names) < len(best[0].names)):
            m = r.regex.match(path)
            if m:
                best = (r, dict(zip(r.names, m.groups(), strict=True)))
    return best


# ------------------------------------------------------------------ responses


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _json_bytes(body: Any) -> bytes:
    """JSON as Papra writes it: UTF-8, and a lone UTF-16 surrogate (half of a pair, which a
    JavaScript string can hold and UTF-8 cannot) escaped as ``\\udXXX`` like JSON.stringify."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m[0]):04x}", text).encode()


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(
        status,
        content=_json_bytes(body),
        headers={"content-type": "application/json", **(headers or {})},
    )


def no_content() -> httpx.Response:
    return httpx.Response(204)


def error_response(err: PapraError) -> httpx.Response:
    headers = dict(err.headers)
    if err.code not in _NO_STORE_EXEMPT and err.wrapped:
        headers["cache-control"] = "no-store"
    return json_response(err.body(), err.status, headers)


# ----------------------------------------------------------------------- auth


def authenticate(state: FakeState, request: httpx.Request) -> Auth:
    """Papra's API-key middleware (strict header parsing) then the session cookie."""
    header = request.headers.get("authorization")
    if header is not None:
        parts = header.split(" ")
        if len(parts) != 2 or parts[0] != "Bearer":
            raise unauthorized()
        if _API_KEY_RE.match(parts[1]):
            key = state.api_key_for_token(parts[1])
            if key is not None:
                return Auth("key", key.user_id, tuple(key.permissions), key.id, key.name)
    token = _session_token(request)
    session = state.sessions.get(token) if token else None
    if session is not None and session.expires_at > state.now():
        return Auth("session", session.user_id, session=session)
    return Auth(None)


def _session_token(request: httpx.Request) -> str | None:
    for chunk in request.headers.get("cookie", "").split(";"):
        name, _, value = chunk.strip().partition("=")
        if name == SESSION_COOKIE:
            return urllib.parse.unquote(value).split(".")[0]
    return None


def check_route_auth(r: Route, auth: Auth) -> None:
    if r.auth == PUBLIC:
        return
    if auth.kind is None:
        raise unauthorized()
    if r.auth == KEY_ONLY:
        if auth.kind != "key":
            raise PapraError(
                401,
                "api_keys.authentication_not_api_key",
                "Authentication must be done using an API key to access this resource",
            )
        return
    if auth.kind == "session":
        return
    if r.auth == SESSION or not set(r.auth) <= set(auth.permissions):
        raise unauthorized()


def check_params(params: dict[str, str]) -> None:
    issues: v.Issues = []
    for placeholder, value in params.items():
        name, prefix = PARAMS[placeholder]
        pattern = id_pattern(prefix)
        if not re.match(pattern, value):
            v.issue(
                issues,
                name,
                f"Invalid format: Expected /{pattern}/ but received {v.received(value)}",
            )
    if issues:
        raise v.validation_error("params", issues)


class SignInLimiter:
    """better-auth's sign-in limiter: 3 attempts per 10 s per forwarded client IP.

    The recorded server only limited requests carrying ``X-Forwarded-For``.
    """

    def __init__(self) -> None:
        self.attempts: dict[str, deque[float]] = {}

    def check(self, request: httpx.Request) -> None:
        forwarded = request.headers.get("x-forwarded-for")
        if not forwarded:
            return
        ip = forwarded.split(",")[0].strip()
        now = time.monotonic()
        window = self.attempts.setdefault(ip, deque())
        while window and now - window[0] >= SIGN_IN_WINDOW_S:
            window.popleft()
        if len(window) >= SIGN_IN_LIMIT:
            retry = max(1, int(SIGN_IN_WINDOW_S - (now - window[0])) + 1)
            raise PapraError(
                429,
                "TOO_MANY_REQUESTS",
                "Too many requests. Please try again later.",
                wrapped=False,
                headers={"x-retry-after": str(retry)},
            )
        window.append(now)


def respond(state: FakeState, limiter: SignInLimiter, request: httpx.Request) -> httpx.Response:
    """Answer one request the way Papra would, errors included."""
    try:
        auth = authenticate(state, request)
        r, params = match_route(request.method, request.url.path)
        if r is None:
            raise PapraError(404, "api.not-found", "API route not found")
        check_route_auth(r, auth)
        check_params(params)
        if r.template == "/api/auth/sign-in/email":
            limiter.check(request)
        return r.handler(Ctx(state, request, params, auth))
    except PapraError as err:
        if err.status == 429:
            return httpx.Response(
                429,
                content=json.dumps({"message": err.message}).encode(),
                headers={"content-type": "text/plain;charset=UTF-8", **err.headers},
            )
        return error_response(err)
