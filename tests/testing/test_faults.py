"""Every fault kind, observed through a plain httpx.Client in-process and over loopback."""

from __future__ import annotations

import httpx
import pytest

from papra_pipeline.testing import FakePapra, serve
from tests.testing.conftest import BASE_URL

ROUTE = "GET /api/organizations/{org}/documents"


def _status_faults(fake: FakePapra, client: httpx.Client, org_id: str) -> None:
    url = f"/api/organizations/{org_id}/documents"
    fake.faults.add("429", route=ROUTE, times=1, retry_after=2)
    throttled = client.get(url)
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "2"
    for kind in ("500", "502", "503"):
        fake.faults.add(kind, route=ROUTE, times=1)
        assert client.get(url).status_code == int(kind)
    fake.faults.add("proxy_html", route=ROUTE, times=1)
    html = client.get(url)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    fake.faults.add("proxy_html", route=ROUTE, times=1, status=502)
    assert client.get(url).status_code == 502
    fake.faults.add("truncate", route=ROUTE, times=1)
    truncated = client.get(url)
    assert truncated.status_code == 200
    with pytest.raises(ValueError):
        truncated.json()
    fake.faults.add("slow", route=ROUTE, times=1, delay=0.05)
    assert client.get(url).status_code == 200
    assert client.get(url).json()["documentsCount"] == 1


def test_status_faults_in_process(fake: FakePapra, org_id: str, client: httpx.Client) -> None:
    fake.upload_document(org_id, "a.txt", "a")
    _status_faults(fake, client, org_id)
    assert fake.faults.total == 8 and fake.faults.injected["proxy_html"] == 2


def test_connection_faults_in_process(fake: FakePapra, org_id: str, client: httpx.Client) -> None:
    fake.faults.add("drop", on_requests=[1])
    fake.faults.add("timeout", on_requests=[2])
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/api/ping")
    with pytest.raises(httpx.ReadTimeout):
        client.get("/api/ping")
    assert client.get("/api/ping").json() == {"status": "ok"}
    assert [r.fault for r in fake.requests] == ["drop", "timeout", None]


def test_faulted_requests_do_not_change_state(
    fake: FakePapra, org_id: str, client: httpx.Client
) -> None:
    fake.faults.add("500", route="POST /api/organizations/{org}/tags", times=1)
    body = {"name": "T", "color": "#000000"}
    assert client.post(f"/api/organizations/{org_id}/tags", json=body).status_code == 500
    assert fake.list_tags(org_id) == []
    assert client.post(f"/api/organizations/{org_id}/tags", json=body).status_code == 200


def test_probability_faults_are_seeded() -> None:
    def run() -> list[int]:
        fake = FakePapra(seed=3)
        fake.faults.add("503", probability=0.5)
        with httpx.Client(transport=fake.transport(), base_url=BASE_URL) as c:
            return [c.get("/api/ping").status_code for _ in range(20)]

    first = run()
    assert first == run() and 200 in first and 503 in first


def test_faults_over_loopback(fake: FakePapra, org_id: str) -> None:
    fake.upload_document(org_id, "a.txt", "a")
    # Only the hang outlasts the client's timeout, however slow a busy machine answers the rest.
    fake.faults.hang_seconds = 5.0
    with serve(fake) as url, httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {fake.api_key}"}, timeout=30
    ) as client:
        _status_faults(fake, client, org_id)
        fake.faults.add("drop", route="GET /api/ping", times=1)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.get("/api/ping")
        fake.faults.add("timeout", route="GET /api/ping", times=1)
        with pytest.raises(httpx.ReadTimeout):
            client.get("/api/ping", timeout=1)
        assert client.get("/api/ping").json() == {"status": "ok"}
