"""HTTP routes of the fake's webhook management (session only, like Papra's)."""

from __future__ import annotations

import httpx

from papra_pipeline.testing import validation as v
from papra_pipeline.testing.routing import SESSION, Ctx, json_response, no_content, route
from papra_pipeline.testing.webhooks import EVENTS


def _webhook_body(required: bool) -> v.Validator:
    """``webhooks.schemas.ts``: create needs name, url and events; update takes any of them."""
    return v.obj(
        {
            "name": (v.string(1, 128), required),
            "url": (
                v.string(1, 2048, pattern=r"^https?://[^/\s]+", pattern_message="Invalid URL"),
                required,
            ),
            "secret": (v.string(1, 256), False),
            "enabled": (v.boolean, False),
            "events": (v.array(v.picklist(EVENTS), 1), required),
        }
    )


_CREATE = _webhook_body(required=True)
_UPDATE = _webhook_body(required=False)


def _hooks(ctx: Ctx):
    return ctx.state.webhooks  # type: ignore[attr-defined]


@route("GET", "/api/organizations/{org}/webhooks", SESSION)
def webhooks_list(ctx: Ctx) -> httpx.Response:
    return json_response({"webhooks": _hooks(ctx).list(ctx.org, user_id=ctx.uid)})


@route("POST", "/api/organizations/{org}/webhooks", SESSION)
def webhooks_create(ctx: Ctx) -> httpx.Response:
    body = v.run(_CREATE, ctx.json(), "body")
    webhook = _hooks(ctx).create(ctx.org, user_id=ctx.uid, **body)
    return json_response({"webhook": webhook})


@route("GET", "/api/organizations/{org}/webhooks/{webhook}", SESSION)
def webhooks_get(ctx: Ctx) -> httpx.Response:
    webhook = _hooks(ctx).get(ctx.org, ctx.params["webhook"], user_id=ctx.uid)
    return json_response({"webhook": webhook})


@route("PUT", "/api/organizations/{org}/webhooks/{webhook}", SESSION)
def webhooks_update(ctx: Ctx) -> httpx.Response:
    body = v.run(_UPDATE, ctx.json(), "body")
    webhook = _hooks(ctx).update(ctx.org, ctx.params["webhook"], user_id=ctx.uid, **body)
    return json_response({"webhook": webhook})


@route("DELETE", "/api/organizations/{org}/webhooks/{webhook}", SESSION)
def webhooks_delete(ctx: Ctx) -> httpx.Response:
    _hooks(ctx).delete(ctx.org, ctx.params["webhook"], user_id=ctx.uid)
    return no_content()
