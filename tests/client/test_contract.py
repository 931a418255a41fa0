"""Every recorded Papra response against the models and the error mapping the client uses."""

from __future__ import annotations

import json

import pytest

from papra_pipeline.client import (
    Activity,
    ApiKey,
    CustomPropertyDefinition,
    Document,
    DocumentCustomProperty,
    DocumentPage,
    ExtendedTimestamp,
    Organization,
    OrganizationStatistics,
    PapraAuthenticationError,
    PapraConflictError,
    PapraForbiddenError,
    PapraNotFoundError,
    PapraOrganizationAccessError,
    PapraRateLimitError,
    PapraServerError,
    PapraSessionRequiredError,
    PapraValidationError,
    SessionUser,
    Tag,
    TaggingRule,
    TaskId,
)
from papra_pipeline.client._errormap import error_from_response
from papra_pipeline.client._routes import ROUTES, match_route

from .conftest import SAMPLES_DIR, load_sample

SAMPLE_FILES = sorted(p.name for p in SAMPLES_DIR.glob("*.json"))

# What each 2xx body must parse into: a model, or ``(model,)`` for a tuple of that model.
EXPECTED_MODEL = {
    "POST /api/auth/sign-up/email": SessionUser,
    "POST /api/auth/sign-in/email": SessionUser,
    "GET /api/auth/get-session": SessionUser,
    "GET /api/users/me": SessionUser,
    "POST /api/api-keys": ApiKey,
    "GET /api/api-keys": (ApiKey,),
    "GET /api/api-keys/current": ApiKey,
    "GET /api/organizations": (Organization,),
    "GET /api/organizations/deleted": (Organization,),
    "POST /api/organizations": Organization,
    "GET /api/organizations/{org}": Organization,
    "PUT /api/organizations/{org}": Organization,
    "POST /api/organizations/{org}/documents": Document,
    "GET /api/organizations/{org}/documents": DocumentPage,
    "GET /api/organizations/{org}/documents/deleted": DocumentPage,
    "GET /api/organizations/{org}/documents/statistics": OrganizationStatistics,
    "GET /api/organizations/{org}/documents/{doc}": Document,
    "PATCH /api/organizations/{org}/documents/{doc}": Document,
    "GET /api/organizations/{org}/documents/{doc}/activity": (Activity,),
    "POST /api/organizations/{org}/tags": Tag,
    "GET /api/organizations/{org}/tags": (Tag,),
    "PUT /api/organizations/{org}/tags/{tag}": Tag,
    "GET /api/organizations/{org}/custom-properties": (CustomPropertyDefinition,),
    "GET /api/organizations/{org}/custom-properties/{cpd}": CustomPropertyDefinition,
    "POST /api/organizations/{org}/custom-properties": CustomPropertyDefinition,
    "PUT /api/organizations/{org}/custom-properties/{cpd}": CustomPropertyDefinition,
    "GET /api/organizations/{org}/documents/{doc}/custom-properties": (DocumentCustomProperty,),
    "GET /api/organizations/{org}/tagging-rules": (TaggingRule,),
    "GET /api/organizations/{org}/tagging-rules/{rule}": TaggingRule,
    "POST /api/organizations/{org}/tagging-rules/{rule}/apply": TaskId,
}

# Session-only or settings routes the pipeline never reads; their bodies have no model.
UNMODELLED = {
    "GET /api/organizations/{org}/settings": "organization settings are not synced",
    "GET /api/organizations/{org}/members": "members are session-only and not synced",
    "GET /api/organizations/{org}/usage": "billing usage is session-only and not synced",
    "GET /api/organizations/{org}/subscription": "subscriptions are session-only, not synced",
}

# 401 answers to an API key on routes that only take a logged-in session.
SESSION_ONLY_401 = {"009", "030", "037", "132", "133", "139", "214", "221", "282"}

AUTH_KIND = {"key": "key", "session": "session", "none": "none"}


def _expected_error(number: str, status: int, code: str) -> type:
    if status == 400:
        return PapraValidationError
    if status == 401:
        return PapraSessionRequiredError if number in SESSION_ONLY_401 else PapraAuthenticationError
    if status == 403:
        if code == "user.not_in_organization":
            return PapraOrganizationAccessError
        return PapraForbiddenError
    if status == 404:
        return PapraNotFoundError
    if status == 409:
        return PapraConflictError
    if status >= 500:
        return PapraServerError
    raise AssertionError(f"no expectation for HTTP {status}")


def test_every_sample_is_collected():
    assert len(SAMPLE_FILES) == 300


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_sample_matches_client_contract(name: str):
    sample = load_sample(name)
    request, status, body = sample["request"], sample["status"], sample["body"]
    if status is None:
        pytest.skip(f"note, not a response: {request.get('note') or sample.get('exception')}")
    if 200 <= status < 300:
        route = match_route(request["method"], request["path"])
        assert route is not None, f"no route for {request['method']} {request['path']}"
        if isinstance(body, dict) and body.get("_binary"):
            assert route is ROUTES["get_document_file"]
            assert int(sample["headers"]["content-length"]) == body["length"]
            return
        if route.endpoint in UNMODELLED:
            assert route.parse is None
            pytest.skip(UNMODELLED[route.endpoint])
        if route.parse is None:
            # 204 without a body, or DELETE document's 200 {"success": true}
            assert body in (None, {"success": True}), body
            return
        parsed = route.parse(body, request.get("query", {}))
        if isinstance(parsed, DocumentPage):
            assert all(isinstance(d, Document) for d in parsed.documents)  # items parse too
        expected = EXPECTED_MODEL[route.endpoint]
        if isinstance(expected, tuple):
            assert isinstance(parsed, tuple)
            assert all(isinstance(item, expected[0]) for item in parsed)
        else:
            assert isinstance(parsed, expected)
        return

    error = error_from_response(
        status=status,
        headers=sample["headers"],
        content=json.dumps(body).encode(),
        method=request["method"],
        path=request["path"],
        auth=AUTH_KIND[request["auth"]],
    )
    code, message = body["error"]["code"], body["error"]["message"]
    assert type(error) is _expected_error(name[:3], status, code)
    assert (error.status, error.code, error.message) == (status, code, message)
    assert message in str(error)
    if status == 400 and "details" in body["error"]:
        assert error.details == body["error"]["details"]


# Dates Papra sent with years Python's datetime cannot hold: (sample, field path, text).
EXTENDED_YEARS = [
    ("300", "documentDate", "+020244-05-01T00:00:00.000Z"),  # typed as 20244-05-01
    ("302", "documentDate", "+020244-05-01T00:00:00.000Z"),
    ("302", "customProperties.duedate", "0000-01-01T00:00:00.000Z"),  # year zero
    ("303", "documentDate", "+020244-05-01T00:00:00.000Z"),  # a list item
    ("303", "customProperties.duedate", "0000-01-01T00:00:00.000Z"),
    ("304", "documentDate", "-000500-06-15T00:00:00.000Z"),  # a negative year
    ("306", "documentDate", "-000500-06-15T00:00:00.000Z"),
    ("306", "customProperties.duedate", "+033658-09-27T01:46:40.000Z"),  # set as 1e15
]


@pytest.mark.parametrize(("number", "path", "text"), EXTENDED_YEARS)
def test_extended_years_parse_to_the_same_instant(number, path, text):
    """Strictly parsed (no lenient fallback), to the instant JavaScript means, exactly."""
    sample = load_sample(number)
    request = sample["request"]
    parsed = match_route(request["method"], request["path"]).parse(
        sample["body"], request.get("query", {})
    )
    document = parsed.documents[0] if isinstance(parsed, DocumentPage) else parsed
    if path == "documentDate":
        value = document.document_date
    else:
        key = path.split(".")[1]
        value = next(p.value for p in document.custom_properties if p.key == key)
    assert isinstance(value, ExtendedTimestamp)
    assert value.isoformat() == text
    assert not document.untyped


def test_login_layer_429_is_text_plain_with_x_retry_after():
    example = load_sample("287")["body"]["auth_sign_in_bad_password_12"]["example_429"]
    error = error_from_response(
        status=example["status"],
        headers=example["headers"],
        content=example["body"].encode(),
        method="POST",
        path="/api/auth/sign-in/email",
        auth="login",
    )
    assert isinstance(error, PapraRateLimitError)
    assert error.retry_after == 10
    assert error.message == "Too many requests. Please try again later."


@pytest.mark.parametrize(
    ("status", "body", "cls", "hint"),
    [
        # better-auth: wrong password, no "error" wrapper
        (
            401,
            {"message": "Invalid email or password", "code": "INVALID_EMAIL_OR_PASSWORD"},
            PapraAuthenticationError,
            "PAPRA_EMAIL",
        ),
        # better-auth: login without an Origin header
        (
            403,
            {"message": "Missing or null Origin", "code": "MISSING_OR_NULL_ORIGIN"},
            PapraForbiddenError,
            "Origin header",
        ),
    ],
)
def test_login_layer_errors_keep_code_and_message(status, body, cls, hint):
    error = error_from_response(
        status=status,
        headers={"content-type": "application/json"},
        content=json.dumps(body).encode(),
        method="POST",
        path="/api/auth/sign-in/email",
        auth="login",
    )
    assert type(error) is cls
    assert (error.code, error.message) == (body["code"], body["message"])
    assert hint in str(error)


def test_html_proxy_page_gives_capped_excerpt():
    page = "<html><body>" + "Bad gateway " * 100 + "</body></html>"
    error = error_from_response(
        status=502,
        headers={"content-type": "text/html"},
        content=page.encode(),
        method="GET",
        path="/api/organizations",
    )
    assert isinstance(error, PapraServerError)
    assert error.code is None
    assert "text/html" in error.message and "<html><body>Bad gateway" in error.message
    assert len(error.message) < 300
