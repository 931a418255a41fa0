"""Retry policy: what is retried, how long it waits, and what is raised when it gives up."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from papra_pipeline.client import (
    PapraConnectionError,
    PapraRateLimitError,
    PapraResponseError,
    PapraServerError,
    PapraTimeoutError,
)

from .conftest import ORG, Recorder, json_response
from .test_pagination import doc_json

ORGS = {"organizations": []}
ERROR_503 = {"error": {"code": "internal.error", "message": "An error occurred"}}


def _connect_error(request=None):
    return httpx.ConnectError("connection refused")


def test_503_then_200_is_retried_with_backoff(make_client, sleeps):
    client = make_client(Recorder(json_response(503, ERROR_503), json_response(200, ORGS)))
    assert client.list_organizations() == ()
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= client.backoff_base
    assert client.stats.snapshot() == {
        "requests": 2,
        "retries": 1,
        "by_endpoint": {"GET /api/organizations": 2},
    }


def test_backoff_grows_and_is_capped(make_client, sleeps):
    steps = [json_response(502, ERROR_503)] * 6 + [json_response(200, ORGS)]
    client = make_client(Recorder(*steps), max_retries=6, backoff_base=1.0, backoff_max=4.0)
    client._random.uniform = lambda low, high: high  # take the top of each jitter window
    client.list_organizations()
    assert sleeps == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


def test_429_retry_after_seconds(make_client, sleeps):
    client = make_client(
        Recorder(
            json_response(
                429,
                {"error": {"code": "server.too_many_requests", "message": "Slow"}},
                **{"Retry-After": "7"},
            ),
            json_response(200, ORGS),
        )
    )
    client.list_organizations()
    assert sleeps == [7.0]


def test_429_retry_after_http_date(make_client, sleeps):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    client = make_client(
        Recorder(json_response(429, {}, **{"Retry-After": when}), json_response(200, ORGS))
    )
    client.list_organizations()
    assert 15 <= sleeps[0] <= 20


def test_x_retry_after_and_cap(make_client, sleeps):
    client = make_client(
        Recorder(
            httpx.Response(429, text="Too many", headers={"x-retry-after": "10"}),
            json_response(429, {}, **{"Retry-After": "3600"}),
            json_response(200, ORGS),
        ),
        retry_after_cap=30.0,
    )
    client.list_organizations()
    assert sleeps == [10.0, 30.0]


def test_429_on_a_create_post_is_retried(make_client, sleeps):
    # A 429 means the server did nothing, so even a non-idempotent POST may be repeated.
    org = {
        "organization": {
            "id": ORG,
            "name": "New org",
            "createdAt": "2026-01-01T00:00:00Z",
            "updatedAt": "2026-01-01T00:00:00Z",
        }
    }
    recorder = Recorder(json_response(429, {}, **{"Retry-After": "1"}), json_response(200, org))
    assert make_client(recorder).create_organization("New org").id == ORG
    assert len(recorder.requests) == 2


def test_500_on_a_create_post_is_not_retried(make_client, sleeps):
    recorder = Recorder(json_response(500, ERROR_503))
    with pytest.raises(PapraServerError, match="An error occurred"):
        make_client(recorder).create_tag(ORG, "Invoices", "#FF0000")
    assert len(recorder.requests) == 1 and sleeps == []


def test_read_timeout_on_a_post_upload_is_not_retried(make_client, sleeps):
    recorder = Recorder(httpx.ReadTimeout("timed out"))
    with pytest.raises(PapraTimeoutError, match="no answer within"):
        make_client(recorder).upload_document(ORG, "a.txt", b"abc", "text/plain")
    assert len(recorder.requests) == 1


def test_connection_error_then_200(make_client, sleeps):
    client = make_client(Recorder(_connect_error(), json_response(200, ORGS)))
    assert client.list_organizations() == ()
    assert client.stats.retries == 1 and len(sleeps) == 1


def test_timeouts_are_retried_for_gets(make_client, sleeps):
    client = make_client(
        Recorder(httpx.ReadTimeout("slow"), httpx.ConnectTimeout("slow"), json_response(200, ORGS))
    )
    assert client.list_organizations() == ()
    assert len(sleeps) == 2


def test_budget_exhausted_raises_last_error(make_client, sleeps, caplog):
    recorder = Recorder(*[json_response(503, ERROR_503)] * 3)
    client = make_client(recorder, max_retries=2)
    with caplog.at_level(logging.WARNING, logger="papra_pipeline.client"):
        with pytest.raises(PapraServerError) as e:
            client.list_organizations()
    assert e.value.status == 503 and len(recorder.requests) == 3 and len(sleeps) == 2
    assert client.stats.retries == 2
    assert len([r for r in caplog.records if "retrying" in r.getMessage()]) == 2


def test_connection_errors_exhausted(make_client, sleeps):
    client = make_client(Recorder(*[_connect_error() for _ in range(3)]), max_retries=2)
    with pytest.raises(PapraConnectionError, match="could not talk to Papra"):
        client.list_organizations()


def test_rate_limit_exhausted_keeps_retry_after(make_client, sleeps):
    client = make_client(
        Recorder(*[json_response(429, {}, **{"Retry-After": "2"})] * 2), max_retries=1
    )
    with pytest.raises(PapraRateLimitError) as e:
        client.list_organizations()
    assert e.value.retry_after == 2.0


def test_truncated_json_is_retried_for_gets(make_client, sleeps):
    truncated = httpx.Response(
        200,
        content=b'{"organizations": [{"id": "org_',
        headers={"content-type": "application/json"},
    )
    client = make_client(Recorder(truncated, json_response(200, ORGS)))
    assert client.list_organizations() == ()
    assert client.stats.retries == 1


def test_truncated_json_gives_response_error_when_budget_is_spent(make_client, sleeps):
    truncated = httpx.Response(200, content=b'{"organizations": [')
    client = make_client(Recorder(truncated, truncated), max_retries=1)
    with pytest.raises(PapraResponseError, match="expected JSON"):
        client.list_organizations()


def test_json_nested_too_deep_gives_response_error_not_recursion_error(make_client, sleeps):
    """orjson refuses past 1,024 levels; the standard library then ran out of stack."""
    deep = httpx.Response(200, content=b"[" * 200_000 + b"]" * 200_000)
    with pytest.raises(PapraResponseError, match="nested too deep to read"):
        make_client(Recorder(deep, deep), max_retries=1).list_organizations()


def test_missing_field_is_not_retried(make_client, sleeps):
    recorder = Recorder(json_response(200, {"organizations": [{"id": ORG}]}))
    with pytest.raises(PapraResponseError, match="Organization: missing required field 'name'"):
        make_client(recorder).list_organizations()
    assert len(recorder.requests) == 1


def test_4xx_is_not_retried(make_client, sleeps):
    recorder = Recorder(
        json_response(
            404, {"error": {"code": "document.not_found", "message": "Document not found."}}
        )
    )
    with pytest.raises(Exception, match="Document not found"):
        make_client(recorder).get_document(ORG, "doc_x")
    assert len(recorder.requests) == 1 and sleeps == []


def test_ping_is_one_attempt(make_client, sleeps):
    client = make_client(Recorder(json_response(503, ERROR_503)))
    assert client.ping() is False
    with pytest.raises(PapraConnectionError):
        make_client(Recorder(_connect_error())).ping()
    assert sleeps == []


def test_upload_from_file_is_rewound_for_a_429_retry(make_client, sleeps):
    recorder = Recorder(
        json_response(429, {}, **{"Retry-After": "1"}),
        json_response(200, {"document": doc_json(1)}),
    )
    stream = io.BytesIO(b"file body")
    make_client(recorder).upload_document(ORG, "a.txt", stream, "text/plain")
    assert len(recorder.requests) == 2
    assert all(b"file body" in r.content for r in recorder.requests)
