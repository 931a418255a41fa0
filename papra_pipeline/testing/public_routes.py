"""Routes of the fake Papra that need no sign-in: health, config, sign-in, session."""

from __future__ import annotations

import httpx

from papra_pipeline.testing.common import PapraError, iso
from papra_pipeline.testing.routing import PUBLIC, SESSION_COOKIE, Ctx, json_response, route

PAPRA_VERSION = "26.6.1"


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
