"""The sync drains the webhook inbox: what the list cannot show (a content edit, a
trash-then-restore, a re-upload, a purge) reaches the warehouse at the next quick sync, through
the real path: the fake Papra delivers to the receiver on loopback, the receiver fills the
inbox, the sync re-reads what the deliveries name."""

from __future__ import annotations

import logging
import time

import pytest

from papra_pipeline.cli import main
from papra_pipeline.client import WEBHOOK_EVENTS, PapraClient, PapraServerError
from papra_pipeline.sync import SyncOptions, sync
from papra_pipeline.sync.webhooks import sync_draining_webhooks
from papra_pipeline.testing import FakePapra, populate, serve
from papra_pipeline.warehouse import Warehouse
from papra_pipeline.warehouse.inbox import InboxDelivery, WebhookInbox
from tests.sync.helpers import assert_matches_server

from .helpers import SECRET, serve_receiver

QUICK = SyncOptions(mode="quick")


@pytest.fixture
def fake():
    fake = FakePapra(auto_extract=True)
    populate(fake, organizations=2, documents=260, tags=8, custom_properties=8, seed=7)
    fake.webhooks.allowed_hostnames = {"127.0.0.1"}
    yield fake
    fake.webhooks.close()


@pytest.fixture
def papra_url(fake):
    with serve(fake) as url:
        yield url


@pytest.fixture
def client(fake, papra_url):
    with PapraClient(papra_url, fake.api_key, sleep=lambda s: None, max_retries=0) as client:
        yield client


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    monkeypatch.delenv("PAPRA_WEBHOOK_INBOX", raising=False)
    return Warehouse(tmp_path / "papra.duckdb", lock_timeout=5)


@pytest.fixture
def inbox_file(tmp_path):
    return tmp_path / "papra.webhooks.sqlite"  # the default beside papra.duckdb


@pytest.fixture
def receiver(fake, inbox_file):
    """The receiver on loopback, registered on every organization of the fake."""
    with serve_receiver(inbox_file) as base_url:
        for org in fake.list_organizations():
            fake.webhooks.create(org["id"], name="pipeline", url=f"{base_url}/webhooks/papra",
                                 events=list(WEBHOOK_EVENTS), secret=SECRET)
        yield base_url


def oldest(fake: FakePapra, org: str, count: int) -> list[str]:
    """Documents far from the newest pages, which a quick sync does not read."""
    page = fake.list_documents(org, sort_order="asc", page_size=count)
    return [d["id"] for d in page["documents"]]


def activity_ids(warehouse: Warehouse, doc: str) -> set[str]:
    with warehouse.read() as con:
        rows = con.execute("SELECT id FROM document_activity WHERE document_id = ?", [doc])
        return {row[0] for row in rows.fetchall()}


def server_activity_ids(fake: FakePapra, org: str, doc: str) -> set[str]:
    return {a["id"] for a in fake.activities(org, doc, page_size=1000)}


def stored(warehouse: Warehouse, doc: str) -> tuple:
    with warehouse.read() as con:
        return con.execute(
            "SELECT content, is_deleted, purged_at IS NOT NULL FROM documents WHERE id = ?", [doc]
        ).fetchone()


def pending(inbox_file) -> list:
    with WebhookInbox(inbox_file) as inbox:
        return inbox.pending()


def test_edits_the_list_cannot_show_reach_the_warehouse_at_the_next_quick_sync(
    fake, client, warehouse, receiver, inbox_file
):
    org = fake.list_organizations()[0]["id"]
    sync(client, warehouse)
    edited, restored, reuploaded, purged = oldest(fake, org, 4)
    fake.update_document(org, edited, content="rewritten by hand")
    fake.trash_document(org, restored)
    fake.restore_document(org, restored)
    fake.trash_document(org, reuploaded)
    fake.upload_document(org, "uploaded again.txt", fake.document_bytes(org, reuploaded))
    fake.trash_document(org, purged)
    fake.purge_document(org, purged)
    assert all(d.status == 200 for d in fake.webhooks.wait())

    # What a quick sync sees without the deliveries: none of it.
    sync(client, warehouse, QUICK)
    assert stored(warehouse, edited)[0] != "rewritten by hand"
    assert activity_ids(warehouse, restored) != server_activity_ids(fake, org, restored)
    assert stored(warehouse, purged)[2] is False

    result = sync_draining_webhooks(client, warehouse, QUICK)

    assert result.mode == "quick"
    assert_matches_server(fake, warehouse)  # text, trash state, tags, values; the purge too
    assert stored(warehouse, edited)[0] == "rewritten by hand"
    assert stored(warehouse, purged)[2] is True
    for doc in (edited, restored, reuploaded):
        assert activity_ids(warehouse, doc) == server_activity_ids(fake, org, doc), doc
    assert pending(inbox_file) == []


def test_a_failed_run_leaves_the_deliveries_for_the_next_one(
    fake, client, warehouse, receiver, inbox_file
):
    org = fake.list_organizations()[0]["id"]
    sync(client, warehouse)
    [edited] = oldest(fake, org, 1)
    fake.update_document(org, edited, content="edited before a failing run")
    fake.webhooks.wait()
    fake.faults.add("500", route="GET /api/organizations/{org}/documents/{doc}", times=1)
    with pytest.raises(PapraServerError):
        sync_draining_webhooks(client, warehouse, QUICK)
    assert [p.document_id for p in pending(inbox_file)] == [edited]
    assert stored(warehouse, edited)[0] != "edited before a failing run"

    sync_draining_webhooks(client, warehouse, QUICK)
    assert stored(warehouse, edited)[0] == "edited before a failing run"
    assert pending(inbox_file) == []


def test_deliveries_for_an_organization_the_key_cannot_see_are_ignored_with_a_warning(
    fake, client, warehouse, inbox_file, caplog
):
    sync(client, warehouse)
    unseen = "org_zzzzzzzzzzzzzzzzzzzzzzzz"
    with WebhookInbox(inbox_file) as inbox:
        inbox.add([InboxDelivery("msg_1", "document:updated", unseen, "doc_x", 0)])
    with caplog.at_level(logging.WARNING, logger="papra_pipeline.sync"):
        sync_draining_webhooks(client, warehouse, QUICK)
    assert unseen in caplog.text
    assert pending(inbox_file) == []


def test_a_run_limited_to_some_organizations_leaves_the_others_pending(
    fake, client, warehouse, receiver, inbox_file
):
    first, second = (o["id"] for o in fake.list_organizations())
    sync(client, warehouse)
    [a] = oldest(fake, first, 1)
    [b] = oldest(fake, second, 1)
    fake.update_document(first, a, content="first org edit")
    fake.update_document(second, b, content="second org edit")
    fake.webhooks.wait()
    sync_draining_webhooks(client, warehouse, SyncOptions(mode="quick", organization_ids=(first,)))
    assert stored(warehouse, a)[0] == "first org edit"
    assert [p.document_id for p in pending(inbox_file)] == [b]


def test_the_sync_command_drains_the_inbox(
    fake, papra_url, warehouse, receiver, inbox_file, monkeypatch, capsys
):
    monkeypatch.setenv("PAPRA_API_URL", papra_url)
    monkeypatch.setenv("PAPRA_API_KEY", fake.api_key)
    monkeypatch.setenv("PAPRA_DUCKDB_PATH", str(warehouse.path))
    assert main(["sync"]) == 0
    org = fake.list_organizations()[0]["id"]
    [edited] = oldest(fake, org, 1)
    fake.update_document(org, edited, notes="a note", content="edited text")
    fake.webhooks.wait()
    assert main(["sync", "--quick"]) == 0
    assert stored(warehouse, edited)[0] == "edited text"
    assert pending(inbox_file) == []


def test_a_failing_run_stops_reading_ahead_before_it_returns(fake, client, warehouse, inbox_file):
    """The named documents are read in the background from the run's start; a run that fails
    meanwhile stops that before it raises, and leaves every delivery pending."""
    sync(client, warehouse)
    named = [
        (org["id"], doc)
        for org in fake.list_organizations()
        for doc in oldest(fake, org["id"], 260)
    ]
    with WebhookInbox(inbox_file) as inbox:
        inbox.add(
            [
                InboxDelivery(f"msg_{i}", "document:updated", org, doc, 0)
                for i, (org, doc) in enumerate(named)
            ]
        )
    # Activity answers slowly, so most of it is still to read when the run fails.
    fake.faults.add("slow", route="GET /api/organizations/{org}/documents/{doc}/activity",
                    delay=0.05)
    fake.faults.add("500", route="GET /api/organizations/{org}/documents/statistics", times=1)
    before = fake.request_count()

    with pytest.raises(PapraServerError):
        sync_draining_webhooks(client, warehouse, QUICK)
    sent = fake.request_count() - before
    time.sleep(0.3)

    assert fake.request_count() - before == sent
    assert sent < 2 * len(named)  # it stopped before reading them all
    assert len(pending(inbox_file)) == len(named)
