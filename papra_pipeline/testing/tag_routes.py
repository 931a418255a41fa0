"""Routes of the fake Papra for tags and tagging one document."""

from __future__ import annotations

import httpx

from papra_pipeline.testing import validation as v
from papra_pipeline.testing.routing import Ctx, id_pattern, json_response, no_content, route

_COLOR = r"^#[0-9a-fA-F]{6}$"
_COLOR_MESSAGE = "Invalid Color format, must be a hex color code like #000000"


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
