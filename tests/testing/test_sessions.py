"""Session login, session-only routes (tagging rules, restore, purge) and session expiry."""

from __future__ import annotations

import httpx

from papra_pipeline.testing import FakePapra
from tests.testing.conftest import BASE_URL


def _login(fake: FakePapra, session: httpx.Client, **headers: str) -> httpx.Response:
    return session.post(
        "/api/auth/sign-in/email", json={"email": fake.email, "password": fake.password},
        headers={"Origin": BASE_URL, **headers},
    )


def test_sign_in_needs_origin_and_sets_cookie(fake: FakePapra) -> None:
    with httpx.Client(transport=fake.transport(), base_url=BASE_URL) as session:
        missing = session.post("/api/auth/sign-in/email",
                               json={"email": fake.email, "password": fake.password})
        assert missing.status_code == 403
        assert missing.json() == {"message": "Missing or null Origin",
                                  "code": "MISSING_OR_NULL_ORIGIN"}
        wrong = session.post("/api/auth/sign-in/email", headers={"Origin": BASE_URL},
                             json={"email": fake.email, "password": "nope"})
        assert wrong.status_code == 401 and "error" not in wrong.json()
        ok = _login(fake, session)
        assert ok.status_code == 200
        assert set(ok.json()) == {"redirect", "token", "user"}
        assert "better-auth.session_token=" in ok.headers["set-cookie"]
        assert session.get("/api/users/me").status_code == 200


def test_sign_in_rate_limit(fake: FakePapra) -> None:
    with httpx.Client(transport=fake.transport(), base_url=BASE_URL) as session:
        statuses = []
        for _ in range(5):
            response = session.post(
                "/api/auth/sign-in/email", json={"email": fake.email, "password": "bad"},
                headers={"Origin": BASE_URL, "X-Forwarded-For": "203.0.113.7"},
            )
            statuses.append(response.status_code)
        assert statuses == [401, 401, 401, 429, 429]
        assert response.headers["content-type"].startswith("text/plain")
        assert int(response.headers["x-retry-after"]) > 0


def test_tagging_rules_are_session_only_and_apply_really_tags(
    fake: FakePapra, org_id: str, client: httpx.Client
) -> None:
    invoice = fake.upload_document(org_id, "invoice-42.pdf", "ACME invoice", extract=True)
    other = fake.upload_document(org_id, "holiday.jpg", "beach", extract=True)
    tag = fake.create_tag(org_id, "Invoices")
    rules_url = f"/api/organizations/{org_id}/tagging-rules"
    body = {"name": "Invoices", "conditions": [
        {"field": "name", "operator": "contains", "value": "INVOICE"}], "tagIds": [tag["id"]]}
    assert client.post(rules_url, json=body).status_code == 401
    with httpx.Client(transport=fake.transport(), base_url=BASE_URL) as session:
        _login(fake, session)
        assert session.post(rules_url, json=body).status_code == 204
        rule = session.get(rules_url).json()["taggingRules"][0]
        applied = session.post(f"{rules_url}/{rule['id']}/apply")
        assert applied.status_code == 202 and set(applied.json()) == {"taskId"}
    docs = {d["id"]: d for d in fake.documents(org_id)}
    assert [t["id"] for t in docs[invoice["id"]]["tags"]] == [tag["id"]]
    assert docs[other["id"]]["tags"] == []
    activity = client.get(
        f"/api/organizations/{org_id}/documents/{invoice['id']}/activity"
    ).json()["activities"][0]
    assert (activity["event"], activity["userId"], activity["tagId"]) == ("tagged", None, tag["id"])


def test_enabled_rules_run_after_extraction(fake: FakePapra, org_id: str) -> None:
    tag = fake.create_tag(org_id, "Budget")
    fake.create_tagging_rule(
        org_id, "budget", [{"field": "content", "operator": "contains", "value": "budget"}],
        [tag["id"]],
    )
    doc = fake.upload_document(org_id, "plan.txt", "The 2025 budget")
    assert fake.get_document(org_id, doc["id"])["tags"] == []
    fake.extract_pending()
    assert [t["name"] for t in fake.get_document(org_id, doc["id"])["tags"]] == ["Budget"]


def test_expired_sessions_must_log_in_again(fake: FakePapra, org_id: str) -> None:
    doc = fake.upload_document(org_id, "a.txt", "a")
    fake.trash_document(org_id, doc["id"])
    restore = f"/api/organizations/{org_id}/documents/{doc['id']}/restore"
    with httpx.Client(transport=fake.transport(), base_url=BASE_URL) as session:
        _login(fake, session)
        fake.expire_sessions()
        assert session.post(restore).status_code == 401
        _login(fake, session)
        assert session.post(restore).status_code == 204
        assert session.post(restore).json()["error"]["code"] == "document.not_deleted"
