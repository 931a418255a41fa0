"""Session login for tagging rules, plain-http refusal, and secrets kept out of every output."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from papra_pipeline.client import (
    PapraAuthenticationError,
    PapraClient,
    PapraError,
    PapraSessionRequiredError,
)

from .conftest import (
    API_KEY,
    BASE_URL,
    EMAIL,
    ORG,
    PASSWORD,
    SESSION_TOKEN,
    Recorder,
    json_response,
    load_sample,
    no_request,
)

RULE = "tr_mabav6hdqizd9qz2j7nro97n"
UNAUTHORIZED = {"error": {"message": "Unauthorized", "code": "auth.unauthorized"}}


def login_response(token: str = SESSION_TOKEN, name: str = "better-auth.session_token"):
    return httpx.Response(
        200,
        json=load_sample("002")["body"],
        headers=[
            ("set-cookie", f"{name}={token}; Max-Age=604800; Path=/; HttpOnly"),
            ("set-cookie", "other=1; Path=/"),
        ],
    )


def rules_response():
    return json_response(200, load_sample("137")["body"])


def test_login_sends_origin_and_json_then_cookie_only(make_client):
    recorder = Recorder(login_response(), rules_response())
    client = make_client(recorder, email=EMAIL, password=PASSWORD)
    rules = client.list_tagging_rules(ORG)
    assert [r.name for r in rules] == ["PDF invoices", "Content rule"]
    assert rules[1].condition_match_mode == "any" and rules[0].actions[0]["tagId"]
    login, listing = recorder.requests
    assert login.url.path == "/api/auth/sign-in/email"
    assert login.headers["origin"] == BASE_URL
    assert login.headers["content-type"] == "application/json"
    assert json.loads(login.content) == {"email": EMAIL, "password": PASSWORD}
    assert "authorization" not in login.headers
    assert listing.headers["cookie"] == f"better-auth.session_token={SESSION_TOKEN}"
    assert "authorization" not in listing.headers


def test_session_cookie_never_rides_on_api_key_requests(make_client):
    recorder = Recorder(
        login_response(), rules_response(), json_response(200, {"organizations": []})
    )
    client = make_client(recorder, email=EMAIL, password=PASSWORD)
    client.list_tagging_rules(ORG)
    client.list_organizations()
    assert "cookie" not in recorder.requests[2].headers
    assert recorder.requests[2].headers["authorization"] == f"Bearer {API_KEY}"


def test_secure_prefixed_cookie_is_used(make_client):
    recorder = Recorder(login_response(name="__Secure-better-auth.session_token"), rules_response())
    make_client(recorder, email=EMAIL, password=PASSWORD).list_tagging_rules(ORG)
    assert recorder.requests[1].headers["cookie"].startswith("__Secure-better-auth.session_token=")


def test_expired_session_logs_in_again_once(make_client):
    recorder = Recorder(
        login_response("old"),
        json_response(401, UNAUTHORIZED),
        login_response("new"),
        rules_response(),
    )
    client = make_client(recorder, email=EMAIL, password=PASSWORD)
    assert len(client.list_tagging_rules(ORG)) == 2
    assert recorder.requests[3].headers["cookie"] == "better-auth.session_token=new"


def test_session_rejected_twice_gives_up(make_client):
    recorder = Recorder(
        login_response(),
        json_response(401, UNAUTHORIZED),
        login_response(),
        json_response(401, UNAUTHORIZED),
    )
    client = make_client(recorder, email=EMAIL, password=PASSWORD)
    with pytest.raises(PapraAuthenticationError, match="rejected the session"):
        client.list_tagging_rules(ORG)
    assert len(recorder.requests) == 4


def test_apply_with_session_returns_task_id(make_client):
    recorder = Recorder(login_response(), json_response(202, load_sample("140")["body"]))
    client = make_client(recorder, email=EMAIL, password=PASSWORD)
    assert client.apply_tagging_rule(ORG, RULE).task_id == "e0mo6b1xyjujfcis15j2bouw"
    assert "authorization" not in recorder.requests[1].headers


def test_list_rules_without_credentials_fails_without_request(make_client):
    with pytest.raises(PapraSessionRequiredError, match="PAPRA_EMAIL and PAPRA_PASSWORD"):
        make_client(no_request).list_tagging_rules(ORG)


def test_apply_without_credentials_tries_key_then_explains(make_client):
    recorder = Recorder(json_response(401, UNAUTHORIZED))
    with pytest.raises(
        PapraSessionRequiredError, match="needs a logged-in session for tagging rules.*PAPRA_EMAIL"
    ):
        make_client(recorder).apply_tagging_rule(ORG, RULE)
    assert recorder.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


def test_wrong_password(make_client):
    recorder = Recorder(
        json_response(
            401, {"message": "Invalid email or password", "code": "INVALID_EMAIL_OR_PASSWORD"}
        )
    )
    client = make_client(recorder, email=EMAIL, password=PASSWORD)
    with pytest.raises(PapraAuthenticationError, match="Invalid email or password") as e:
        client.login()
    assert e.value.code == "INVALID_EMAIL_OR_PASSWORD"


@pytest.mark.parametrize("url", ["http://papra.example.com", "http://10.0.0.5:1221"])
def test_plain_http_to_remote_host_is_refused(url):
    with pytest.raises(ValueError, match="refusing to send credentials over plain http"):
        PapraClient(url, API_KEY)
    PapraClient(url, API_KEY, allow_insecure_http=True).close()
    PapraClient(url).close()  # no credentials, nothing to leak


def test_plain_http_is_fine_for_an_in_process_mock_transport():
    PapraClient("http://papra.test", API_KEY, transport=httpx.MockTransport(no_request)).close()
    with pytest.raises(ValueError, match="plain http"):
        PapraClient("http://papra.test", API_KEY, transport=httpx.HTTPTransport())


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:1221", "http://localhost:8080", "http://[::1]:1221", "http://127.5.0.1"],
)
def test_plain_http_to_loopback_is_fine(url):
    PapraClient(url, API_KEY).close()


def test_from_env(monkeypatch):
    monkeypatch.setenv("PAPRA_API_URL", "http://papra.lan:1221/")
    monkeypatch.setenv("PAPRA_API_KEY", API_KEY)
    monkeypatch.delenv("PAPRA_EMAIL", raising=False)
    monkeypatch.delenv("PAPRA_PASSWORD", raising=False)
    monkeypatch.delenv("PAPRA_ALLOW_INSECURE_HTTP", raising=False)
    with pytest.raises(ValueError, match="PAPRA_ALLOW_INSECURE_HTTP=1"):
        PapraClient.from_env()
    monkeypatch.setenv("PAPRA_ALLOW_INSECURE_HTTP", "1")
    with PapraClient.from_env(timeout=5.0) as client:
        assert client.base_url == "http://papra.lan:1221" and client.timeout == 5.0
        assert "session_login=missing" in repr(client)


def test_only_email_without_password_is_refused():
    with pytest.raises(ValueError, match="both email and password"):
        PapraClient(BASE_URL, email=EMAIL)


def _leaky_handler(request: httpx.Request) -> httpx.Response:
    """A hostile server: echoes the credentials it received in every kind of answer."""
    echo = f"{request.headers.get('authorization')} {request.headers.get('cookie')} {PASSWORD}"
    path = request.url.path
    if path == "/api/auth/sign-in/email":
        return login_response()
    if path.endswith("/tagging-rules"):
        return json_response(401, {"error": {"code": "auth.unauthorized", "message": echo}})
    if path == "/api/organizations":
        return httpx.Response(500, text=f"<html>proxy error {echo}</html>")
    if path == "/api/api-keys/current":
        return httpx.Response(200, text=f"not json {echo}")
    if path.endswith("/tags"):
        return json_response(
            401,
            {
                "error": {
                    "code": "auth.unauthorized",
                    "message": echo,
                    "details": [{"path": "x", "message": echo}],
                }
            },
        )
    raise httpx.ConnectError(f"connection reset while sending {echo}")


def test_secrets_never_appear_in_errors_logs_or_repr(make_client, caplog):
    caplog.set_level(logging.DEBUG, logger="papra_pipeline.client")
    client = make_client(_leaky_handler, email=EMAIL, password=PASSWORD, max_retries=1)
    calls = [
        lambda: client.list_tagging_rules(ORG),  # login, 401, login again, 401
        client.list_organizations,  # HTML 500, retried
        client.get_current_api_key,  # 200 that is not JSON, retried
        lambda: client.list_tags(ORG),  # 401 with details
        lambda: client.get_document(ORG, "doc_x"),  # connection error, retried
    ]
    outputs = [repr(client)]
    for call in calls:
        with pytest.raises(PapraError) as e:
            call()
        outputs += [str(e.value), repr(e.value), repr(e.value.details)]
    outputs += [repr(client), repr(client.stats)]
    outputs += [record.getMessage() for record in caplog.records]
    outputs += [repr(record.args) for record in caplog.records]
    assert len(caplog.records) >= 10  # debug lines per request, warnings per retry
    text = "\n".join(outputs)
    for secret in (API_KEY, PASSWORD, SESSION_TOKEN):
        assert secret not in text
    assert "<redacted>" in text  # the echoes were there, and were scrubbed
