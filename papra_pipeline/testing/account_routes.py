"""Routes of the fake Papra for the signed-in user and their API keys."""

from __future__ import annotations

import httpx

from papra_pipeline.testing import validation as v
from papra_pipeline.testing.common import iso
from papra_pipeline.testing.models import PERMISSIONS
from papra_pipeline.testing.routing import KEY_ONLY, SESSION, Ctx, json_response, no_content, route

_ADMIN_PERMISSIONS = [
    "users:view",
    "users:delete",
    "bo:access",
    "analytics:view",
    "plan-entitlements:manage",
]


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
