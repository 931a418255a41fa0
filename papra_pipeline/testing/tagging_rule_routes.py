"""Routes of the fake Papra for tagging rules."""

from __future__ import annotations

import httpx

from papra_pipeline.testing import validation as v
from papra_pipeline.testing.routing import (
    SESSION,
    Ctx,
    id_pattern,
    json_response,
    no_content,
    route,
)
from papra_pipeline.testing.tagging_rule_state import RULE_OPERATORS

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
