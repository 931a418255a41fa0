"""``papra-pipeline webhooks register | unregister | list`` against a loopback fake Papra, and
deliveries from that fake reaching the inbox through a real receiver."""

from __future__ import annotations

import pytest

from papra_pipeline.cli import main
from papra_pipeline.client import WEBHOOK_EVENTS
from papra_pipeline.testing import FakePapra, serve
from papra_pipeline.warehouse.inbox import WebhookInbox

from .helpers import SECRET, serve_receiver

RECEIVER_URL = "http://127.0.0.1:8787/webhooks/papra"


@pytest.fixture
def fake():
    fake = FakePapra(seed=5)
    fake.create_organization("One")
    fake.create_organization("Two")
    fake.webhooks.allowed_hostnames = {"127.0.0.1"}
    yield fake
    fake.webhooks.close()


@pytest.fixture
def papra(fake, monkeypatch, tmp_path):
    with serve(fake) as base_url:
        monkeypatch.setenv("PAPRA_API_URL", base_url)
        monkeypatch.setenv("PAPRA_API_KEY", fake.api_key)
        monkeypatch.setenv("PAPRA_EMAIL", fake.email)
        monkeypatch.setenv("PAPRA_PASSWORD", fake.password)
        monkeypatch.setenv("PAPRA_WEBHOOK_SECRET", SECRET)
        monkeypatch.setenv("PAPRA_DUCKDB_PATH", str(tmp_path / "papra.duckdb"))
        monkeypatch.delenv("PAPRA_WEBHOOK_INBOX", raising=False)
        yield base_url


def hooks(fake: FakePapra) -> list[tuple[str, str]]:
    return sorted((h.organization_id, h.url) for h in fake.webhooks.hooks.values())


def test_register_twice_updates_and_never_duplicates(fake, papra, capsys):
    orgs = sorted(o["id"] for o in fake.list_organizations())
    assert main(["webhooks", "register", "--url", RECEIVER_URL]) == 0
    assert capsys.readouterr().out.count("created ") == 2
    assert main(["webhooks", "register", "--url", RECEIVER_URL]) == 0
    assert capsys.readouterr().out.count("updated ") == 2
    assert hooks(fake) == [(org, RECEIVER_URL) for org in orgs]
    for hook in fake.webhooks.hooks.values():
        assert set(hook.events) == set(WEBHOOK_EVENTS) and hook.secret == SECRET


def test_register_repairs_a_hook_missing_events_and_removes_duplicates(fake, papra, capsys):
    org = fake.list_organizations()[0]["id"]
    for _ in range(2):
        fake.webhooks.create(org, name="old", url=RECEIVER_URL, events=["document:created"])
    assert main(["webhooks", "register", "--url", RECEIVER_URL, "--organization", org]) == 0
    assert "recreated " in capsys.readouterr().out
    [hook] = fake.webhooks.hooks.values()
    assert set(hook.events) == set(WEBHOOK_EVENTS)


def test_a_private_address_refusal_names_the_setting(fake, papra, capsys):
    fake.webhooks.allowed_hostnames = set()
    assert main(["webhooks", "register", "--url", RECEIVER_URL]) == 1
    assert "WEBHOOK_URL_ALLOWED_HOSTNAMES" in capsys.readouterr().err
    assert hooks(fake) == []


def test_registering_needs_a_login_and_a_secret(papra, monkeypatch):
    monkeypatch.delenv("PAPRA_PASSWORD")
    with pytest.raises(SystemExit, match="PAPRA_EMAIL and PAPRA_PASSWORD"):
        main(["webhooks", "register", "--url", RECEIVER_URL])
    monkeypatch.delenv("PAPRA_WEBHOOK_SECRET")
    with pytest.raises(SystemExit, match="PAPRA_WEBHOOK_SECRET"):
        main(["webhooks", "serve"])


def test_list_and_unregister(fake, papra, capsys):
    assert main(["webhooks", "register", "--url", RECEIVER_URL]) == 0
    capsys.readouterr()
    assert main(["webhooks", "list"]) == 0
    listed = capsys.readouterr().out
    assert listed.count(RECEIVER_URL) == 2 and "enabled" in listed
    assert SECRET not in listed
    assert main(["webhooks", "unregister", "--url", RECEIVER_URL]) == 0
    assert capsys.readouterr().out.count("deleted ") == 2
    assert hooks(fake) == []


def test_list_says_so_when_there_is_no_webhook(fake, papra, capsys):
    assert main(["webhooks", "list"]) == 0
    assert capsys.readouterr().out.startswith("no webhooks (`papra-pipeline webhooks register")


def test_changes_on_papra_reach_the_inbox(fake, papra, tmp_path, capsys):
    inbox = tmp_path / "papra.webhooks.sqlite"
    org = fake.list_organizations()[0]["id"]
    with serve_receiver(inbox) as base_url:
        assert main(["webhooks", "register", "--url", f"{base_url}/webhooks/papra"]) == 0
        doc = fake.upload_document(org, "a.txt", "hello")["id"]
        fake.extract_pending()
        fake.update_document(org, doc, name="renamed.txt")
        fake.trash_document(org, doc)
        fake.restore_document(org, doc)  # Papra sends nothing for this one
        sent = fake.webhooks.wait()
    assert all(d.status == 200 for d in sent)
    with WebhookInbox(inbox) as stored:
        pending = stored.pending()
    # Papra sends concurrently, without ordering: compare as multisets.
    events = ("document:created", "document:updated", "document:updated", "document:deleted")
    assert sorted((p.event, p.document_id, p.organization_id) for p in pending) == sorted(
        (event, doc, org) for event in events
    )
