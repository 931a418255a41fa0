"""HTTP layer of the fake Papra server: routing, auth, validation, JSON responses.

Mirrors Papra's middleware order (API-key header parsing -> route match -> route auth ->
URL params -> query/body -> org membership -> use case) so error precedence matches the
recorded samples. Business rules live in ``state.py``; handlers only translate.
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
from papra_pipeline.testing.common import PapraError, iso, parse_js_date, unauthorized
from papra_pipeline.testing.models import CUSTOM_PROPERTY_TYPES, PERMISSIONS
from papra_pipeline.testing.state import RULE_OPERATORS, SORT_FIELDS

if TYPE_CHECKING:
    from papra_pipeline.testing.state import FakeState

SESSION_COOKIE = "better-auth.session_token"
PAPRA_VERSION = "26.6.1"
MAX_FILE_SIZE = 25 * 1024 * 1024
SIGN_IN_LIMIT = 3
SIGN_IN_WINDOW_S = 10.0
_API_KEY_RE = re.compile(r"^ppapi_[A-Za-z0-9]{64}$")
_COLOR = r"^#[0-9a-fA-F]{6}$"
_COLOR_MESSAGE = "Invalid Color format, must be a hex color code like #000000"
_ADMIN_PERMISSIONS = [
    "users:view",
    "users:delete",
    "bo:access",
    "analytics:view",
    "plan-entitlements:manage",
]
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


# ------------------------------------------------------------- public routes


@route("GET", "/api/ping", PUBLIC)
def ping(ctx: Ctx) -> httpx.Response:
    return json_response({"status": "ok"})


@route("GET", "/api/health", PUBLIC)
def health(ctx: Ctx) -> httpx.Response:
    return json_response({"isDatabaseHealthy": True, "isEverythingOk": True, "status": "ok"})


@route("GET", "/api/config", PUBLIC)
def config(ctx: Ctx) -> httpx.Response:
    return json_response(
        {
            "config": {
                "version": PAPRA_VERSION,
                "gitCommitSha": "2b110a4c",
                "gitCommitDate": "2026-06-01T00:00:00.000Z",
                "documents": {"deletedDocumentsRetentionDays": 30},
                "organizations": {"deletedOrganizationsPurgeDaysDelay": 30},
                "intakeEmails": {"isEnabled": False},
                "autoTagging": {"isEnabled": False},
                "auth": {
                    "isRegistrationEnabled": True,
                    "isPasswordResetEnabled": False,
                    "showLegalLinksOnAuthPage": False,
                    "providers": {"email": {"isEnabled": True}},
                },
            }
        }
    )


@route("POST", "/api/auth/sign-in/email", PUBLIC)
def sign_in(ctx: Ctx) -> httpx.Response:
    origin = ctx.request.headers.get("origin")
    if not origin or origin == "null":
        raise PapraError(403, "MISSING_OR_NULL_ORIGIN", "Missing or null Origin", wrapped=False)
    body = ctx.json()
    if not isinstance(body, dict) or not all(
        isinstance(body.get(k), str) for k in ("email", "password")
    ):
        raise PapraError(400, "VALIDATION_ERROR", "Invalid body parameters", wrapped=False)
    user, session = ctx.state.sign_in(
        body["email"], body["password"], ctx.request.headers.get("user-agent", "")
    )
    cookie = f"{SESSION_COOKIE}={session.token}; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"
    return json_response(
        {"redirect": False, "token": session.token, "user": user.to_api()},
        headers={"set-cookie": cookie},
    )


@route("GET", "/api/auth/get-session", PUBLIC)
def get_session(ctx: Ctx) -> httpx.Response:
    session = ctx.auth.session
    if session is None:
        return json_response(None)
    return json_response(
        {
            "session": {
                "expiresAt": iso(session.expires_at),
                "token": session.token,
                "createdAt": iso(session.created_at),
                "updatedAt": iso(session.created_at),
                "ipAddress": "",
                "userAgent": session.user_agent,
                "userId": session.user_id,
                "id": session.id,
            },
            "user": ctx.state.users[session.user_id].to_api(),
        }
    )


# ------------------------------------------------------- users and API keys


@route("GET", "/api/users/me", SESSION)
def users_me(ctx: Ctx) -> httpx.Response:
    user = ctx.state.users[ctx.uid]
    admin = user.id == ctx.state.user_id
    return json_response(
        {
            "user": {
                "id": user.id,
                "email": user.email,
                "name": user.name,
                "createdAt": iso(user.created_at),
                "updatedAt": iso(user.created_at),
                "twoFactorEnabled": False,
                "permissions": list(_ADMIN_PERMISSIONS) if admin else [],
            }
        }
    )


@route("GET", "/api/api-keys/current", KEY_ONLY)
def api_key_current(ctx: Ctx) -> httpx.Response:
    return json_response(
        {
            "apiKey": {
                "id": ctx.auth.key_id,
                "name": ctx.auth.key_name,
                "permissions": list(ctx.auth.permissions),
            }
        }
    )


@route("POST", "/api/api-keys", SESSION)
def api_key_create(ctx: Ctx) -> httpx.Response:
    body = v.run(
        v.obj(
            {
                "name": (v.string(1, 255, trim=True), True),
                "permissions": (v.array(v.picklist(PERMISSIONS), 1), True),
            }
        ),
        ctx.json(),
        "body",
    )
    with ctx.state.lock:
        key, token = ctx.state._create_api_key(body["permissions"], body["name"], ctx.uid)
    return json_response({"apiKey": key.to_api(with_hash=True), "token": token})


@route("GET", "/api/api-keys", SESSION)
def api_key_list(ctx: Ctx) -> httpx.Response:
    keys = [k for k in ctx.state.api_keys.values() if k.user_id == ctx.uid]
    keys.sort(key=lambda k: (k.created_at, k.id))
    return json_response({"apiKeys": [k.to_api(with_hash=False) for k in keys]})


@route("DELETE", "/api/api-keys/{key}", SESSION)
def api_key_delete(ctx: Ctx) -> httpx.Response:
    ctx.state.delete_api_key(ctx.params["key"], user_id=ctx.uid)
    return no_content()


# ------------------------------------------------------------ organizations

_ORG_BODY = v.obj({"name": (v.string(3, 50, trim=True), True)})


@route("GET", "/api/organizations", ("organizations:read",))
def org_list(ctx: Ctx) -> httpx.Response:
    return json_response({"organizations": ctx.state.list_organizations(user_id=ctx.uid)})


@route("GET", "/api/organizations/deleted", ("organizations:read",))
def org_list_deleted(ctx: Ctx) -> httpx.Response:
    return json_response({"organizations": ctx.state.deleted_organizations(user_id=ctx.uid)})


@route("POST", "/api/organizations", ("organizations:create",))
def org_create(ctx: Ctx) -> httpx.Response:
    body = v.run(_ORG_BODY, ctx.json(), "body")
    return json_response(
        {"organization": ctx.state.create_organization(body["name"], user_id=ctx.uid)}
    )


@route("GET", "/api/organizations/{org}", ("organizations:read",))
def org_get(ctx: Ctx) -> httpx.Response:
    return json_response({"organization": ctx.state.org(ctx.org, ctx.uid).to_api()})


@route("PUT", "/api/organizations/{org}", ("organizations:update",))
def org_update(ctx: Ctx) -> httpx.Response:
    body = v.run(_ORG_BODY, ctx.json(), "body")
    return json_response(
        {"organization": ctx.state.rename_organization(ctx.org, body["name"], user_id=ctx.uid)}
    )


@route("DELETE", "/api/organizations/{org}", ("organizations:delete",))
def org_delete(ctx: Ctx) -> httpx.Response:
    ctx.state.delete_organization(ctx.org, user_id=ctx.uid)
    return no_content()


@route("POST", "/api/organizations/{org}/restore", SESSION)
def org_restore(ctx: Ctx) -> httpx.Response:
    ctx.state.restore_organization(ctx.org, user_id=ctx.uid)
    return no_content()


@route("GET", "/api/organizations/{org}/settings", ("organizations:read",))
def org_settings(ctx: Ctx) -> httpx.Response:
    org = ctx.state.org(ctx.org, ctx.uid)
    return json_response({"organizationSettings": {"ai": {"autoTagging": dict(org.settings)}}})


_SETTINGS_BODY = v.obj(
    {
        "ai": (
            v.obj(
                {
                    "autoTagging": (
                        v.obj(
                            {
                                "isEnabled": (v.boolean, False),
                                "canCreateNewTags": (v.boolean, False),
                                "maxTags": (v.integer(1, 100), False),
                            }
                        ),
                        False,
                    )
                }
            ),
            False,
        )
    }
)


@route("PATCH", "/api/organizations/{org}/settings", ("organizations:update",))
def org_settings_patch(ctx: Ctx) -> httpx.Response:
    body = v.run(_SETTINGS_BODY, ctx.json(), "body")
    with ctx.state.lock:
        org = ctx.state.org(ctx.org, ctx.uid)
        org.settings.update(body.get("ai", {}).get("autoTagging", {}))
    return no_content()


@route("GET", "/api/organizations/{org}/members", SESSION)
def org_members(ctx: Ctx) -> httpx.Response:
    org = ctx.state.org(ctx.org, ctx.uid)
    members = []
    for m in org.members.values():
        user = ctx.state.users[m.user_id]
        members.append(
            {
                "id": m.id,
                "createdAt": iso(m.created_at),
                "updatedAt": iso(m.created_at),
                "organizationId": org.id,
                "userId": m.user_id,
                "role": m.role,
                "user": {
                    "id": user.id,
                    "createdAt": iso(user.created_at),
                    "updatedAt": iso(user.created_at),
                    "email": user.email,
                    "emailVerified": False,
                    "name": user.name,
                    "image": None,
                    "maxOrganizationCount": None,
                    "twoFactorEnabled": False,
                },
            }
        )
    return json_response({"members": members})


_PLAN_LIMITS = {
    "maxDocumentStorageBytes": None,
    "maxIntakeEmailsCount": None,
    "maxOrganizationsMembersCount": None,
    "maxFileSize": MAX_FILE_SIZE,
    "aiCreditsPerMonth": None,
}


@route("GET", "/api/organizations/{org}/usage", SESSION)
def org_usage(ctx: Ctx) -> httpx.Response:
    stats = ctx.state.statistics(ctx.org, user_id=ctx.uid)
    members = len(ctx.state.org(ctx.org, ctx.uid).members)
    return json_response(
        {
            "usage": {
                "documentsStorage": {
                    "used": stats["documentsSize"],
                    "deleted": stats["deletedDocumentsSize"],
                    "limit": None,
                },
                "intakeEmailsCount": {"used": 0, "limit": None},
                "membersCount": {"used": members, "limit": None},
                "aiCredits": {"used": 0, "limit": None},
            },
            "limits": dict(_PLAN_LIMITS),
        }
    )


@route("GET", "/api/organizations/{org}/subscription", SESSION)
def org_subscription(ctx: Ctx) -> httpx.Response:
    ctx.state.org(ctx.org, ctx.uid)
    return json_response(
        {"subscription": None, "plan": {"id": "free", "name": "Free", "limits": dict(_PLAN_LIMITS)}}
    )


# ---------------------------------------------------------------- documents


def _paging(ctx: Ctx, extra: dict[str, Callable[[Any, str, v.Issues], Any]]) -> dict[str, Any]:
    """Strict query: pageIndex/pageSize plus ``extra`` string params, unknown keys rejected."""
    query = ctx.query()
    issues: v.Issues = []
    out: dict[str, Any] = {"pageIndex": 0, "pageSize": 100}
    for name, check in extra.items():
        if name in query:
            out[name] = check(query[name], name, issues)
    for name, low, high in (("pageIndex", 0, None), ("pageSize", 1, 100)):
        if name in query:
            raw = query[name]
            if isinstance(raw, list):
                v.issue(issues, name, "Invalid type: Expected string but received Array")
            else:
                out[name] = v.query_int(raw, name, issues, min_value=low, max_value=high)
    for name in query:
        if name not in extra and name not in ("pageIndex", "pageSize"):
            v.issue(issues, name, f"Invalid key: Expected never but received {json.dumps(name)}")
    if issues:
        raise v.validation_error("query", issues)
    return out


@route("GET", "/api/organizations/{org}/documents", ("documents:read",))
def documents_list(ctx: Ctx) -> httpx.Response:
    query = _paging(
        ctx,
        {
            "searchQuery": v.string(None, 1024),
            "sortField": v.picklist(SORT_FIELDS),
            "sortOrder": v.picklist(("asc", "desc")),
        },
    )
    return json_response(
        ctx.state.list_documents(
            ctx.org,
            search_query=query.get("searchQuery", ""),
            sort_field=query.get("sortField", "createdAt"),
            sort_order=query.get("sortOrder", "desc"),
            page_index=query["pageIndex"],
            page_size=query["pageSize"],
            user_id=ctx.uid,
        )
    )


@route("GET", "/api/organizations/{org}/documents/deleted", ("documents:read",))
def documents_deleted(ctx: Ctx) -> httpx.Response:
    query = _paging(ctx, {})
    return json_response(
        ctx.state.list_deleted_documents(
            ctx.org, page_index=query["pageIndex"], page_size=query["pageSize"], user_id=ctx.uid
        )
    )


@route("GET", "/api/organizations/{org}/documents/statistics", ("documents:read",))
def documents_statistics(ctx: Ctx) -> httpx.Response:
    return json_response({"organizationStats": ctx.state.statistics(ctx.org, user_id=ctx.uid)})


def _parse_multipart(request: httpx.Request) -> list[tuple[str, str | None, str, bytes]]:
    """(field name, filename, content type, data) for each part; minimal but byte-exact."""
    content_type = request.headers.get("content-type", "")
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.lower().startswith("multipart/form-data") or not m:
        raise PapraError(500, "internal.error", "An error occurred")
    delimiter = b"--" + m.group(1).encode()
    parts = []
    for chunk in request.content.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        field = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        star = re.search(r"\bfilename\*=UTF-8''([^;]+)", disposition, re.IGNORECASE)
        fname = None
        if star:
            fname = urllib.parse.unquote(star.group(1))
        elif filename:
            fname = urllib.parse.unquote(filename.group(1).replace("\\\\", "\\"))
        parts.append(
            (
                field.group(1) if field else "",
                fname,
                headers.get("content-type", "text/plain"),
                data,
            )
        )
    return parts


@route("POST", "/api/organizations/{org}/documents", ("documents:create",))
def documents_upload(ctx: Ctx) -> httpx.Response:
    if not ctx.request.content:
        raise PapraError(500, "internal.error", "An error occurred")
    files = [p for p in _parse_multipart(ctx.request) if p[1] is not None]
    if not files:
        # Papra waits for a file part forever and its route timeout answers.
        raise PapraError(504, "api.timeout", "The request timed out")
    field, filename, mime_type, data = files[0]
    if field != "file":
        raise PapraError(400, "document.invalid_file_fieldname", "Invalid file fieldname")
    if len(data) > MAX_FILE_SIZE:
        raise PapraError(413, "document.size_too_large", "File size is too large.")
    document = ctx.state.upload_document(ctx.org, filename, data, mime_type, user_id=ctx.uid)
    return json_response({"document": document})


@route("GET", "/api/organizations/{org}/documents/{doc}", ("documents:read",))
def documents_get(ctx: Ctx) -> httpx.Response:
    return json_response(
        {"document": ctx.state.get_document(ctx.org, ctx.params["doc"], user_id=ctx.uid)}
    )


@route("GET", "/api/organizations/{org}/documents/{doc}/file", ("documents:read",))
def documents_file(ctx: Ctx) -> httpx.Response:
    name, data = ctx.state.document_file(ctx.org, ctx.params["doc"], user_id=ctx.uid)
    return httpx.Response(
        200,
        content=data,
        headers={
            "content-type": "application/octet-stream",
            "content-disposition": f"attachment; filename*=UTF-8''{urllib.parse.quote(name)}",
            "x-content-type-options": "nosniff",
            "x-frame-options": "DENY",
        },
    )


_PATCH_BODY = v.obj(
    {
        "name": (v.string(1, 255), False),
        "content": (v.string(), False),
        "documentDate": (v.nullable(v.string()), False),
        "notes": (v.string(None, 2048), False),
    }
)


@route("PATCH", "/api/organizations/{org}/documents/{doc}", ("documents:update",))
def documents_patch(ctx: Ctx) -> httpx.Response:
    body = v.run(_PATCH_BODY, ctx.json(), "body")
    if not body:
        raise v.validation_error(
            "body",
            [
                {
                    "path": None,
                    "message": (
                        "At least one of 'name', 'content', 'documentDate' or 'notes' "
                        "must be provided"
                    ),
                }
            ],
        )
    if body.get("documentDate") is not None and parse_js_date(body["documentDate"]) is None:
        raise v.validation_error("body", [{"path": "documentDate", "message": "Invalid date"}])
    document = ctx.state.update_document(ctx.org, ctx.params["doc"], user_id=ctx.uid, **body)
    return json_response({"document": document})


@route("DELETE", "/api/organizations/{org}/documents/{doc}", ("documents:delete",))
def documents_trash(ctx: Ctx) -> httpx.Response:
    ctx.state.trash_document(ctx.org, ctx.params["doc"], user_id=ctx.uid)
    return json_response({"success": True})


@route("POST", "/api/organizations/{org}/documents/{doc}/restore", SESSION)
def documents_restore(ctx: Ctx) -> httpx.Response:
    ctx.state.restore_document(ctx.org, ctx.params["doc"], user_id=ctx.uid)
    return no_content()


@route("DELETE", "/api/organizations/{org}/documents/trash", SESSION)
def documents_empty_trash(ctx: Ctx) -> httpx.Response:
    ctx.state.empty_trash(ctx.org, user_id=ctx.uid)
    return no_content()


@route("DELETE", "/api/organizations/{org}/documents/trash/{doc}", SESSION)
def documents_purge(ctx: Ctx) -> httpx.Response:
    ctx.state.purge_document(ctx.org, ctx.params["doc"], user_id=ctx.uid)
    return json_response({"success": True})


@route("GET", "/api/organizations/{org}/documents/{doc}/activity", ("documents:read",))
def documents_activity(ctx: Ctx) -> httpx.Response:
    query = _paging(ctx, {})
    return json_response(
        {
            "activities": ctx.state.activities(
                ctx.org,
                ctx.params["doc"],
                page_index=query["pageIndex"],
                page_size=query["pageSize"],
                user_id=ctx.uid,
            )
        }
    )


def _batch_filter(value: Any, path: str, issues: v.Issues) -> Any:
    """``{documentIds: [...]}`` or ``{query: "..."}`` (valibot union of strict objects)."""
    if isinstance(value, dict) and set(value) == {"documentIds"}:
        return v.obj(
            {"documentIds": (v.array(v.string(pattern=id_pattern("doc")), 1, 1000), True)}
        )(value, path, issues)
    if isinstance(value, dict) and set(value) == {"query"}:
        return v.obj({"query": (v.string(None, 1024), True)})(value, path, issues)
    v.issue(issues, path, f"Invalid type: Expected Object but received {v.received(value)}")
    return value


@route("POST", "/api/organizations/{org}/documents/batch/trash", ("documents:delete",))
def documents_batch_trash(ctx: Ctx) -> httpx.Response:
    body = v.run(v.obj({"filter": (_batch_filter, True)}), ctx.json(), "body")
    ctx.state.batch_trash(ctx.org, body["filter"], user_id=ctx.uid)
    return no_content()


_TAG_IDS = v.array(v.string(pattern=id_pattern("tag")), None, 50)


@route("POST", "/api/organizations/{org}/documents/batch/tags", ("documents:update", "tags:read"))
def documents_batch_tags(ctx: Ctx) -> httpx.Response:
    body = v.run(
        v.obj(
            {
                "filter": (_batch_filter, True),
                "addTagIds": (_TAG_IDS, False),
                "removeTagIds": (_TAG_IDS, False),
            }
        ),
        ctx.json(),
        "body",
    )
    add, remove = body.get("addTagIds", []), body.get("removeTagIds", [])
    if not add and not remove:
        raise v.validation_error(
            "body",
            [
                {
                    "path": None,
                    "message": "At least one of addTagIds or removeTagIds must be provided",
                }
            ],
        )
    if set(add) & set(remove):
        raise v.validation_error(
            "body",
            [{"path": None, "message": "addTagIds and removeTagIds must not contain the same tag"}],
        )
    ctx.state.batch_tags(ctx.org, body["filter"], add, remove, user_id=ctx.uid)
    return no_content()


# --------------------------------------------------------------------- tags


@route("POST", "/api/organizations/{org}/tags", ("tags:create",))
def tags_create(ctx: Ctx) -> httpx.Response:
    body = v.run(
        v.obj(
            {
                "name": (v.string(1, 64, trim=True), True),
                "color": (v.string(pattern=_COLOR, pattern_message=_COLOR_MESSAGE), True),
                "description": (v.string(None, 256, trim=True), False),
            }
        ),
        ctx.json(),
        "body",
    )
    tag = ctx.state.create_tag(
        ctx.org, body["name"], body["color"], body.get("description"), user_id=ctx.uid
    )
    return json_response({"tag": tag})


@route("GET", "/api/organizations/{org}/tags", ("tags:read",))
def tags_list(ctx: Ctx) -> httpx.Response:
    return json_response({"tags": ctx.state.list_tags(ctx.org, user_id=ctx.uid)})


@route("PUT", "/api/organizations/{org}/tags/{tag}", ("tags:update",))
def tags_update(ctx: Ctx) -> httpx.Response:
    body = v.run(
        v.obj(
            {
                "name": (v.string(1, 64, trim=True), False),
                "color": (v.string(pattern=_COLOR, pattern_message=_COLOR_MESSAGE), False),
                "description": (v.nullable(v.string(None, 256, trim=True)), False),
            }
        ),
        ctx.json(),
        "body",
    )
    tag = ctx.state.update_tag(ctx.org, ctx.params["tag"], user_id=ctx.uid, **body)
    return json_response({"tag": tag})


@route("DELETE", "/api/organizations/{org}/tags/{tag}", ("tags:delete",))
def tags_delete(ctx: Ctx) -> httpx.Response:
    ctx.state.delete_tag(ctx.org, ctx.params["tag"], user_id=ctx.uid)
    return no_content()


@route("POST", "/api/organizations/{org}/documents/{doc}/tags", ("documents:update", "tags:read"))
def documents_tag(ctx: Ctx) -> httpx.Response:
    body = v.run(v.obj({"tagId": (v.string(pattern=id_pattern("tag")), True)}), ctx.json(), "body")
    ctx.state.tag_document(ctx.org, ctx.params["doc"], body["tagId"], user_id=ctx.uid)
    return no_content()


@route(
    "DELETE",
    "/api/organizations/{org}/documents/{doc}/tags/{tag}",
    ("documents:update", "tags:read"),
)
def documents_untag(ctx: Ctx) -> httpx.Response:
    ctx.state.untag_document(ctx.org, ctx.params["doc"], ctx.params["tag"], user_id=ctx.uid)
    return no_content()


# -------------------------------------------------------- custom properties

_OPTION = v.obj({"name": (v.string(1, 255, trim=True), True)}, strict=False)


def _definition_body(body: Any) -> dict:
    """Discriminated on ``type``: an unknown type is the only issue reported."""
    if not isinstance(body, dict):
        return v.run(v.obj({}), body, "body")
    issues: v.Issues = []
    v.picklist(CUSTOM_PROPERTY_TYPES)(body.get("type", v.MISSING), "type", issues)
    if issues:
        raise v.validation_error("body", issues)
    fields: dict[str, tuple[v.Validator, bool]] = {
        "name": (v.string(1, 255, trim=True), True),
        "description": (v.string(None, 1000, trim=True), False),
        "displayOrder": (v.integer(0), False),
        "type": (v.picklist(CUSTOM_PROPERTY_TYPES), True),
    }
    if body["type"] in ("select", "multi_select"):
        fields["options"] = (v.array(_OPTION, 1), True)
    return v.run(v.obj(fields, strict=False), body, "body")


@route("POST", "/api/organizations/{org}/custom-properties", ("custom-properties:create",))
def cp_create(ctx: Ctx) -> httpx.Response:
    body = _definition_body(ctx.json())
    created = ctx.state.create_custom_property(
        ctx.org,
        body["name"],
        body["type"],
        body.get("options"),
        description=body.get("description"),
        display_order=body.get("displayOrder", 0),
        user_id=ctx.uid,
    )
    created.pop("options")
    return json_response({"propertyDefinition": created})


@route("GET", "/api/organizations/{org}/custom-properties", ("custom-properties:read",))
def cp_list(ctx: Ctx) -> httpx.Response:
    return json_response(
        {"propertyDefinitions": ctx.state.list_custom_properties(ctx.org, user_id=ctx.uid)}
    )


@route("GET", "/api/organizations/{org}/custom-properties/{cpd}", ("custom-properties:read",))
def cp_get(ctx: Ctx) -> httpx.Response:
    return json_response(
        {"definition": ctx.state.get_custom_property(ctx.org, ctx.params["cpd"], user_id=ctx.uid)}
    )


@route("PUT", "/api/organizations/{org}/custom-properties/{cpd}", ("custom-properties:update",))
def cp_update(ctx: Ctx) -> httpx.Response:
    body = ctx.json()
    if not isinstance(body, dict):
        body = {}
    fields = {k: body[k] for k in ("name", "description", "displayOrder", "options") if k in body}
    updated = ctx.state.update_custom_property(
        ctx.org, ctx.params["cpd"], user_id=ctx.uid, **fields
    )
    updated.pop("options")
    return json_response({"propertyDefinition": updated})


@route("DELETE", "/api/organizations/{org}/custom-properties/{cpd}", ("custom-properties:delete",))
def cp_delete(ctx: Ctx) -> httpx.Response:
    ctx.state.delete_custom_property(ctx.org, ctx.params["cpd"], user_id=ctx.uid)
    return no_content()


@route(
    "GET",
    "/api/organizations/{org}/documents/{doc}/custom-properties",
    ("documents:read", "custom-properties:read"),
)
def cp_document_list(ctx: Ctx) -> httpx.Response:
    return json_response(
        {
            "customProperties": ctx.state.document_custom_properties(
                ctx.org, ctx.params["doc"], user_id=ctx.uid
            )
        }
    )


@route(
    "PUT",
    "/api/organizations/{org}/documents/{doc}/custom-properties/{cpd}",
    ("documents:update", "custom-properties:read"),
)
def cp_document_set(ctx: Ctx) -> httpx.Response:
    body = v.run(v.obj({"value": (lambda value, path, issues: value, True)}), ctx.json(), "body")
    ctx.state.set_custom_property_value(
        ctx.org, ctx.params["doc"], ctx.params["cpd"], body["value"], user_id=ctx.uid
    )
    return no_content()


@route(
    "DELETE",
    "/api/organizations/{org}/documents/{doc}/custom-properties/{cpd}",
    ("documents:update", "custom-properties:read"),
)
def cp_document_clear(ctx: Ctx) -> httpx.Response:
    ctx.state.clear_custom_property_value(
        ctx.org, ctx.params["doc"], ctx.params["cpd"], user_id=ctx.uid
    )
    return no_content()


# ------------------------------------------------------------ tagging rules

_RULE_BODY = v.obj(
    {
        "name": (v.string(1, 64, trim=True), True),
        "description": (v.string(None, 256, trim=True), False),
        "enabled": (v.boolean, False),
        "conditionMatchMode": (v.picklist(("all", "any")), False),
        "conditions": (
            v.array(
                v.obj(
                    {
                        "field": (v.picklist(("name", "content")), True),
                        "operator": (v.picklist(RULE_OPERATORS), True),
                        "value": (v.string(1, 256), True),
                    }
                ),
                None,
                10,
            ),
            False,
        ),
        "tagIds": (v.array(v.string(pattern=id_pattern("tag")), 1), True),
    }
)


def _rule_kwargs(body: dict) -> dict:
    return {
        "name": body["name"],
        "conditions": body.get("conditions", []),
        "tag_ids": body["tagIds"],
        "enabled": body.get("enabled", True),
        "condition_match_mode": body.get("conditionMatchMode", "all"),
        "description": body.get("description"),
    }


@route("GET", "/api/organizations/{org}/tagging-rules", SESSION)
def rules_list(ctx: Ctx) -> httpx.Response:
    return json_response({"taggingRules": ctx.state.list_tagging_rules(ctx.org, user_id=ctx.uid)})


@route("POST", "/api/organizations/{org}/tagging-rules", SESSION)
def rules_create(ctx: Ctx) -> httpx.Response:
    body = v.run(_RULE_BODY, ctx.json(), "body")
    ctx.state.create_tagging_rule(ctx.org, user_id=ctx.uid, **_rule_kwargs(body))
    return no_content()


@route("GET", "/api/organizations/{org}/tagging-rules/{rule}", SESSION)
def rules_get(ctx: Ctx) -> httpx.Response:
    with ctx.state.lock:
        org = ctx.state.org(ctx.org, ctx.uid)
        rule = org.rules.get(ctx.params["rule"])
        # Papra answers 200 {} (taggingRule: undefined) for an unknown rule.
        return json_response(
            {} if rule is None else {"taggingRule": ctx.state.tagging_rule_api(org, rule)}
        )


@route("PUT", "/api/organizations/{org}/tagging-rules/{rule}", SESSION)
def rules_update(ctx: Ctx) -> httpx.Response:
    body = v.run(_RULE_BODY, ctx.json(), "body")
    ctx.state.update_tagging_rule(
        ctx.org, ctx.params["rule"], user_id=ctx.uid, **_rule_kwargs(body)
    )
    return no_content()


@route("DELETE", "/api/organizations/{org}/tagging-rules/{rule}", SESSION)
def rules_delete(ctx: Ctx) -> httpx.Response:
    ctx.state.delete_tagging_rule(ctx.org, ctx.params["rule"], user_id=ctx.uid)
    return no_content()


@route("POST", "/api/organizations/{org}/tagging-rules/{rule}/apply", SESSION)
def rules_apply(ctx: Ctx) -> httpx.Response:
    task_id = ctx.state.apply_tagging_rule(ctx.org, ctx.params["rule"], user_id=ctx.uid)
    return json_response({"taskId": task_id}, 202)
