"""HTTP layer of the fake Papra server, assembled: importing it registers every route.

``routing`` matches a request, checks its API key or session and answers errors the way
Papra does; each ``*_routes`` module holds the handlers of one resource (webhook routes
register from ``fake.py``). The imports below run in the order the routes were declared in
before, which ``match_route`` relies on to break ties.
"""

# isort: off
from papra_pipeline.testing import (  # noqa: F401 (importing a module registers its routes)
    public_routes,
    account_routes,
    organization_routes,
    document_routes,
    tag_routes,
    custom_property_routes,
    tagging_rule_routes,
)

# isort: on
from papra_pipeline.testing.routing import (
    KEY_ONLY,
    MAX_FILE_SIZE,
    PARAMS,
    PUBLIC,
    ROUTES,
    SESSION,
    SESSION_COOKIE,
    SIGN_IN_LIMIT,
    SIGN_IN_WINDOW_S,
    Auth,
    Ctx,
    Handler,
    Route,
    SignInLimiter,
    authenticate,
    check_params,
    check_route_auth,
    error_response,
    id_pattern,
    json_response,
    match_route,
    no_content,
    respond,
    route,
)

__all__ = [
    "KEY_ONLY",
    "MAX_FILE_SIZE",
    "PARAMS",
    "PUBLIC",
    "ROUTES",
    "SESSION",
    "SESSION_COOKIE",
    "SIGN_IN_LIMIT",
    "SIGN_IN_WINDOW_S",
    "Auth",
    "Ctx",
    "Handler",
    "Route",
    "SignInLimiter",
    "authenticate",
    "check_params",
    "check_route_auth",
    "error_response",
    "id_pattern",
    "json_response",
    "match_route",
    "no_content",
    "respond",
    "route",
]
