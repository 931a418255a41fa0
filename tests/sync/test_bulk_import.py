"""A bulk import while a full scan runs (Papra's ingestion folder uploads thousands of files),
or a bulk trash while the trash is read, must not fail the run: it stores what it saw, and
the next run reads the rest."""

from __future__ import annotations

import itertools
import logging

import httpx
import pytest

from papra_pipeline.client import PapraClient, PapraResponseError
from papra_pipeline.sync import SyncOptions, sync
from tests.sync.helpers import assert_matches_server

FULL = SyncOptions(mode="full")
QUICK = SyncOptions(mode="quick")
LIST_ROUTE = "GET /api/organizations/{org}/documents"
TRASH_ROUTE = "GET /api/organizations/{org}/documents/deleted"


def _stored(warehouse, org: str) -> int:
    with warehouse.read() as con:
        return con.execute(
            "SELECT count(*) FROM documents WHERE organization_id = ?", [org]
        ).fetchall()[0][0]


def test_a_bulk_import_during_a_full_scan_is_read_by_the_next_run(fake, client, warehouse):
    org = fake.list_organizations()[0]["id"]
    sync(client, warehouse, FULL)
    known = _stored(warehouse, org)
    list_requests = itertools.count(1)

    def bulk_import(record) -> None:
        """1,500 uploads land between the first and the second page of the scan."""
        if record.route == LIST_ROUTE and org in record.path and next(list_requests) == 2:
            for n in range(1500):
                fake.upload_document(org, f"imported-{n:04d}.txt", f"imported {n}", extract=True)

    fake.add_hook(bulk_import)
    result = sync(client, warehouse, FULL)
    fake.clear_hooks()

    server = len(fake.documents(org))
    seen = _stored(warehouse, org)
    assert known < seen < server  # what the scan saw is stored; the rest was left for later
    assert result.streams["documents"].inserted == seen - known
    sync(client, warehouse, FULL)
    assert _stored(warehouse, org) == server
    assert_matches_server(fake, warehouse)


@pytest.mark.parametrize("options", [FULL, QUICK], ids=["full", "quick"])
def test_a_bulk_trash_while_the_trash_is_read_is_read_by_the_next_run(
    fake, client, warehouse, caplog, options
):
    org = fake.list_organizations()[0]["id"]
    for n in range(1200):
        fake.upload_document(org, f"bulk-{n:04d}.txt", f"bulk {n}", extract=True)
    for document in fake.documents(org, include_deleted=False)[:100]:
        fake.trash_document(org, document["id"])  # the trash's first page is full
    sync(client, warehouse, FULL)
    to_trash = [d["id"] for d in fake.documents(org, include_deleted=False)]
    fake.trash_document(org, to_trash.pop())  # news on the first page: quick mode reads on
    trash_requests = itertools.count(1)

    def bulk_trash(record) -> None:
        """Every document lands in the trash between its first and its second page: the
        trash keeps offering full pages well past the two its first page announced."""
        if record.route == TRASH_ROUTE and org in record.path and next(trash_requests) == 2:
            for doc_id in to_trash:
                fake.trash_document(org, doc_id)

    fake.add_hook(bulk_trash)
    with caplog.at_level(logging.WARNING, logger="papra_pipeline.sync"):
        result = sync(client, warehouse, options)
    fake.clear_hooks()

    assert any(org in message and "trash" in message for message in caplog.messages)
    assert result.streams["documents"].purged == 0  # an incomplete trash read proves nothing
    with warehouse.read() as con:
        trashed = con.execute(
            "SELECT count(*) FROM documents WHERE organization_id = ? AND is_deleted", [org]
        ).fetchall()[0][0]
    assert trashed >= 1000  # what the trash read saw is stored
    sync(client, warehouse, FULL)
    assert_matches_server(fake, warehouse)


def test_a_page_of_uploads_between_two_newest_pages_is_no_repeated_page_error(
    fake, client, warehouse
):
    """Newest first, exactly one page of uploads between two requests makes the second page
    repeat the first: Papra answering honestly, so the quick read goes on."""
    org = fake.list_organizations()[0]["id"]
    sync(client, warehouse, FULL)
    for n in range(150):
        fake.upload_document(org, f"new-{n:03d}.txt", f"new {n}", extract=True)
    list_requests = itertools.count(1)
    pages = []

    def a_page_of_uploads(record) -> None:
        if record.route == LIST_ROUTE and org in record.path:
            pages.append(record.query["pageIndex"])
            if next(list_requests) == 2:
                for n in range(100):
                    fake.upload_document(org, f"late-{n:03d}.txt", f"late {n}", extract=True)

    fake.add_hook(a_page_of_uploads)
    result = sync(client, warehouse, QUICK)
    fake.clear_hooks()

    assert pages == ["0", "1", "2", "3"]  # page 1 repeated page 0; 2 and 3 held the rest
    assert result.streams["documents"].inserted == 150  # the late ones: next run
    sync(client, warehouse, QUICK)
    assert_matches_server(fake, warehouse)


def test_a_server_that_ignores_the_page_index_still_fails_the_run(fake, warehouse):
    """Every page is page 0: paging would never end, and this is not how Papra answers."""

    def first_page_only(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/documents") and request.method == "GET":
            request = httpx.Request(
                request.method, request.url.copy_set_param("pageIndex", "0"),
                headers=request.headers,
            )
        return fake.handle(request)

    with PapraClient("http://papra.test", fake.api_key,
                     transport=httpx.MockTransport(first_page_only),
                     sleep=lambda seconds: None) as client, \
            pytest.raises(PapraResponseError, match="ignores pageIndex"):
        sync(client, warehouse, FULL)
