"""The Papra routes this package knows: method, template, auth, permissions and parser.

One table serves the client (what to send, how to parse, whether a retry is safe), the error
mapping (which permissions a 401 is about) and the stats/log labels (route templates, so ids
never fragment the counters). Permissions come from section 3 of the API notes; ``auth`` is
``"key"`` (API key with ``permissions``), ``"session"`` (logged-in session only: API keys get
401 whatever the docs say), ``"login"`` or ``"none"`` (public).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from . import models as m
from .errors import PapraResponseError
from .webhooks import Webhook

Parser = Callable[[Any, Mapping[str, str]], Any]


def _one(key: str, model: Any) -> Parser:
    return lambda body, query: model.from_json(m.unwrap(body, key, model.__name__))


def _many(key: str, model: Any) -> Parser:
    def parse(body: Any, query: Mapping[str, str]) -> tuple:
        items = m.unwrap(body, key, model.__name__)
        if not isinstance(items, list):
            raise PapraResponseError(f"{model.__name__} response: field {key!r} is not a list")
        return tuple(model.from_json(item) for item in items)

    return parse


def _document_page(body: Any, query: Mapping[str, str]) -> m.DocumentPage:
    # Papra's defaults when the query leaves them out: pageIndex 0, pageSize 100.
    return m.DocumentPage.from_json(
        body,
        page_index=int(query.get("pageIndex", 0)),
        page_size=int(query.get("pageSize", 100)),
    )


def _server_config(body: Any, query: Mapping[str, str]) -> m.ServerConfig:
    config = body.get("config", body) if isinstance(body, dict) else body
    return m.ServerConfig.from_json(config)


def _ping(body: Any, query: Mapping[str, str]) -> bool:
    return isinstance(body, dict) and body.get("status") == "ok"


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    auth: str = "key"
    permissions: tuple[str, ...] = ()
    parse: Parser | None = None  # None: the body carries nothing we use (204, {"success":true})
    retry_safe: bool | None = None  # None: decided by the HTTP method
    feature: str | None = None  # what a session-only route is for, in error messages
    _regex: re.Pattern = field(init=False, repr=False, compare=False)
    _names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(self.template))
        object.__setattr__(self, "_regex", re.compile(pattern))
        object.__setattr__(self, "_names", tuple(re.findall(r"\{(\w+)\}", self.template)))

    @property
    def endpoint(self) -> str:
        """Label for logs and stats, e.g. ``GET /api/organizations/{org}/documents``."""
        return f"{self.method} {self.template}"

    @property
    def idempotent(self) -> bool:
        """Whether repeating the request after an unknown outcome cannot do harm."""
        if self.retry_safe is not None:
            return self.retry_safe
        return self.method in ("GET", "HEAD", "PUT", "DELETE")

    def path(self, *ids: str) -> str:
        """Fill the template's placeholders in order, refusing empty ids."""
        names = self._names
        if len(ids) != len(names):
            raise TypeError(f"{self.endpoint} takes {len(names)} ids, got {len(ids)}")
        out = self.template
        for name, value in zip(names, ids, strict=True):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} id must be a non-empty string, got {value!r}")
            out = out.replace("{" + name + "}", quote(value, safe=""), 1)
        return out

    def matches(self, method: str, path: str) -> bool:
        return method.upper() == self.method and self._regex.fullmatch(path) is not None


_ORG = "/api/organizations/{org}"
_DOC = _ORG + "/documents/{doc}"
_RULES_FEATURE = "tagging rules"
_WEBHOOK = _ORG + "/webhooks/{webhook}"
_WEBHOOKS_FEATURE = "webhooks"

ROUTES: dict[str, Route] = {
    # Meta and public routes.
    "ping": Route("GET", "/api/ping", auth="none", parse=_ping),
    "get_server_config": Route("GET", "/api/config", auth="none", parse=_server_config),
    "login": Route(
        "POST", "/api/auth/sign-in/email", auth="login", parse=_one("user", m.SessionUser)
    ),
    "get_current_api_key": Route("GET", "/api/api-keys/current", parse=_one("apiKey", m.ApiKey)),
    # Organizations.
    "list_organizations": Route(
        "GET",
        "/api/organizations",
        permissions=("organizations:read",),
        parse=_many("organizations", m.Organization),
    ),
    "list_deleted_organizations": Route(
        "GET",
        "/api/organizations/deleted",
        permissions=("organizations:read",),
        parse=_many("organizations", m.Organization),
    ),
    "create_organization": Route(
        "POST",
        "/api/organizations",
        permissions=("organizations:create",),
        parse=_one("organization", m.Organization),
    ),
    "get_organization": Route(
        "GET", _ORG, permissions=("organizations:read",), parse=_one("organization", m.Organization)
    ),
    "update_organization": Route(
        "PUT",
        _ORG,
        permissions=("organizations:update",),
        parse=_one("organization", m.Organization),
    ),
    "delete_organization": Route("DELETE", _ORG, permissions=("organizations:delete",)),
    # Documents.
    "upload_document": Route(
        "POST",
        _ORG + "/documents",
        permissions=("documents:create",),
        parse=_one("document", m.Document),
    ),
    "list_documents": Route(
        "GET", _ORG + "/documents", permissions=("documents:read",), parse=_document_page
    ),
    "list_deleted_documents": Route(
        "GET", _ORG + "/documents/deleted", permissions=("documents:read",), parse=_document_page
    ),
    "get_document_statistics": Route(
        "GET",
        _ORG + "/documents/statistics",
        permissions=("documents:read",),
        parse=_one("organizationStats", m.OrganizationStatistics),
    ),
    "get_document": Route(
        "GET", _DOC, permissions=("documents:read",), parse=_one("document", m.Document)
    ),
    "get_document_lenient": Route(
        "GET",
        _DOC,
        permissions=("documents:read",),
        parse=lambda body, query: m.Document.from_json(
            m.unwrap(body, "document", "Document"), lenient=True
        ),
    ),
    "get_document_content": Route(
        "GET",
        _DOC,
        permissions=("documents:read",),
        parse=lambda body, query: m.document_content(m.unwrap(body, "document", "Document")),
    ),
    "update_document": Route(
        "PATCH", _DOC, permissions=("documents:update",), parse=_one("document", m.Document)
    ),
    "delete_document": Route("DELETE", _DOC, permissions=("documents:delete",)),
    "get_document_file": Route("GET", _DOC + "/file", permissions=("documents:read",)),
    "list_document_activity": Route(
        "GET",
        _DOC + "/activity",
        permissions=("documents:read",),
        parse=_many("activities", m.Activity),
    ),
    # Batch routes: re-sending the same filter converges to the same state.
    "batch_trash_documents": Route(
        "POST", _ORG + "/documents/batch/trash", permissions=("documents:delete",), retry_safe=True
    ),
    "batch_update_document_tags": Route(
        "POST",
        _ORG + "/documents/batch/tags",
        permissions=("documents:update", "tags:read"),
        retry_safe=True,
    ),
    # Tags.
    "create_tag": Route(
        "POST", _ORG + "/tags", permissions=("tags:create",), parse=_one("tag", m.Tag)
    ),
    "list_tags": Route(
        "GET", _ORG + "/tags", permissions=("tags:read",), parse=_many("tags", m.Tag)
    ),
    "update_tag": Route(
        "PUT", _ORG + "/tags/{tag}", permissions=("tags:update",), parse=_one("tag", m.Tag)
    ),
    "delete_tag": Route("DELETE", _ORG + "/tags/{tag}", permissions=("tags:delete",)),
    "add_tag_to_document": Route(
        "POST", _DOC + "/tags", permissions=("documents:update", "tags:read")
    ),
    "remove_tag_from_document": Route(
        "DELETE", _DOC + "/tags/{tag}", permissions=("documents:update", "tags:read")
    ),
    # Custom properties.
    "list_custom_property_definitions": Route(
        "GET",
        _ORG + "/custom-properties",
        permissions=("custom-properties:read",),
        parse=_many("propertyDefinitions", m.CustomPropertyDefinition),
    ),
    "get_custom_property_definition": Route(
        "GET",
        _ORG + "/custom-properties/{cpd}",
        permissions=("custom-properties:read",),
        parse=_one("definition", m.CustomPropertyDefinition),
    ),
    "create_custom_property_definition": Route(
        "POST",
        _ORG + "/custom-properties",
        permissions=("custom-properties:create",),
        parse=_one("propertyDefinition", m.CustomPropertyDefinition),
    ),
    "update_custom_property_definition": Route(
        "PUT",
        _ORG + "/custom-properties/{cpd}",
        permissions=("custom-properties:update",),
        parse=_one("propertyDefinition", m.CustomPropertyDefinition),
    ),
    "delete_custom_property_definition": Route(
        "DELETE", _ORG + "/custom-properties/{cpd}", permissions=("custom-properties:delete",)
    ),
    "list_document_custom_properties": Route(
        "GET",
        _DOC + "/custom-properties",
        permissions=("documents:read", "custom-properties:read"),
        parse=_many("customProperties", m.DocumentCustomProperty),
    ),
    "set_document_custom_property": Route(
        "PUT",
        _DOC + "/custom-properties/{cpd}",
        permissions=("documents:update", "custom-properties:read"),
    ),
    "clear_document_custom_property": Route(
        "DELETE",
        _DOC + "/custom-properties/{cpd}",
        permissions=("documents:update", "custom-properties:read"),
    ),
    # Tagging rules: session only in this Papra version.
    "list_tagging_rules": Route(
        "GET",
        _ORG + "/tagging-rules",
        auth="session",
        feature=_RULES_FEATURE,
        parse=_many("taggingRules", m.TaggingRule),
    ),
    "apply_tagging_rule": Route(
        "POST",
        _ORG + "/tagging-rules/{rule}/apply",
        auth="session",
        feature=_RULES_FEATURE,
        parse=lambda body, query: m.TaskId.from_json(body),
    ),
    # Webhooks: session only.
    "list_webhooks": Route(
        "GET",
        _ORG + "/webhooks",
        auth="session",
        feature=_WEBHOOKS_FEATURE,
        parse=_many("webhooks", Webhook),
    ),
    "get_webhook": Route(
        "GET", _WEBHOOK, auth="session", feature=_WEBHOOKS_FEATURE, parse=_one("webhook", Webhook)
    ),
    "create_webhook": Route(
        "POST",
        _ORG + "/webhooks",
        auth="session",
        feature=_WEBHOOKS_FEATURE,
        parse=_one("webhook", Webhook),
    ),
    "update_webhook": Route(
        "PUT", _WEBHOOK, auth="session", feature=_WEBHOOKS_FEATURE, parse=_one("webhook", Webhook)
    ),
    "delete_webhook": Route("DELETE", _WEBHOOK, auth="session", feature=_WEBHOOKS_FEATURE),
}

# Routes the client does not call, listed so a 401 on them explains itself and recorded
# responses (tests/fixtures/papra-samples) can still be checked against the models.
OTHER_ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/auth/sign-up/email", auth="login", parse=_one("user", m.SessionUser)),
    Route(
        "GET",
        "/api/auth/get-session",
        auth="session",
        feature="sessions",
        parse=_one("user", m.SessionUser),
    ),
    Route(
        "GET",
        "/api/users/me",
        auth="session",
        feature="user profiles",
        parse=_one("user", m.SessionUser),
    ),
    Route(
        "POST",
        "/api/api-keys",
        auth="session",
        feature="creating API keys",
        parse=_one("apiKey", m.ApiKey),
    ),
    Route(
        "GET",
        "/api/api-keys",
        auth="session",
        feature="listing API keys",
        parse=_many("apiKeys", m.ApiKey),
    ),
    Route("DELETE", "/api/api-keys/{key}", auth="session", feature="deleting API keys"),
    Route("POST", _ORG + "/restore", auth="session", feature="restoring organizations"),
    Route("GET", _ORG + "/members", auth="session", feature="organization members"),
    Route("GET", _ORG + "/settings", permissions=("organizations:read",)),
    Route("PATCH", _ORG + "/settings", permissions=("organizations:update",)),
    Route("GET", _ORG + "/usage", auth="session", feature="usage"),
    Route("GET", _ORG + "/subscription", auth="session", feature="subscriptions"),
    Route("POST", _DOC + "/restore", auth="session", feature="restoring documents"),
    Route(
        "DELETE",
        _ORG + "/documents/trash/{doc}",
        auth="session",
        feature="deleting documents permanently",
    ),
    Route("DELETE", _ORG + "/documents/trash", auth="session", feature="emptying the trash"),
    Route("POST", _ORG + "/tagging-rules", auth="session", feature=_RULES_FEATURE),
    Route(
        "GET",
        _ORG + "/tagging-rules/{rule}",
        auth="session",
        feature=_RULES_FEATURE,
        parse=_one("taggingRule", m.TaggingRule),
    ),
    Route("PUT", _ORG + "/tagging-rules/{rule}", auth="session", feature=_RULES_FEATURE),
    Route("DELETE", _ORG + "/tagging-rules/{rule}", auth="session", feature=_RULES_FEATURE),
)


def match_route(method: str, path: str) -> Route | None:
    """Find the route for a concrete request; literal segments beat placeholders."""
    path = path.split("?", 1)[0]
    found = [r for r in (*ROUTES.values(), *OTHER_ROUTES) if r.matches(method, path)]
    return min(found, key=lambda r: r.template.count("{"), default=None)
