"""Routes of the fake Papra for organizations: CRUD, settings, members, usage."""

from __future__ import annotations

import httpx

from papra_pipeline.testing import validation as v
from papra_pipeline.testing.common import iso
from papra_pipeline.testing.routing import (
    MAX_FILE_SIZE,
    SESSION,
    Ctx,
    json_response,
    no_content,
    route,
)

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
