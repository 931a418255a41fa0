"""Routes of the fake Papra for custom-property definitions and document values."""

from __future__ import annotations

from typing import Any

import httpx

from papra_pipeline.testing import validation as v
from papra_pipeline.testing.models import CUSTOM_PROPERTY_TYPES
from papra_pipeline.testing.routing import Ctx, json_response, no_content, route

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
