"""The document pages a run reads: every page in creation order (full mode), the newest
pages until one holds only known documents (quick mode), and the trash. How a list is walked
(end rules, guards) is the client's ``walk_pages``; what to do when a walk runs away is
decided here."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

from papra_pipeline.client import (
    DocumentPage,
    PagesKeptComing,
    PapraClient,
    walk_pages,
)
from papra_pipeline.sync.results import ProgressCallback
from papra_pipeline.sync.snapshot import Snapshot, StoredDocument

log = logging.getLogger("papra_pipeline.sync")

PAGE_SIZE = 100
PROGRESS_EVERY_PAGES = 20


def scan_all_pages(
    client: PapraClient, org: str, progress: ProgressCallback
) -> Iterator[DocumentPage]:
    """Every page in ascending creation order; pages after the first fetched concurrently.

    New uploads append at the end, so pages keep coming until a short page, however many
    ``documentsCount`` announced at the start, but only for ten pages more: a bulk import
    (Papra's ingestion folder uploads thousands) can outrun the scan. The scan then ends
    with what it saw, which is complete for every document the warehouse already knew
    (they come first in this order); the next run reads the rest.
    """
    pages = walk_pages(
        lambda index: _list_page(client, org, index, "asc"),
        PAGE_SIZE,
        fetch_announced=client.iter_concurrent,
        until_count=False,
    )
    total_pages = 1
    try:
        for done, page in enumerate(pages, start=1):
            if done == 1:
                total_pages = max(1, math.ceil(page.documents_count / PAGE_SIZE))
            yield page
            if done == 1 or (
                done <= total_pages and (done % PROGRESS_EVERY_PAGES == 0 or done == total_pages)
            ):
                progress("documents", org, done, total_pages)
    except PagesKeptComing as runaway:
        log.warning(
            "documents of %s kept arriving during the scan (%d announced at its start, "
            "%d now): this run stops at page %d, the next one reads the rest",
            org,
            runaway.announced,
            runaway.latest,
            runaway.pages_read,
        )


def _list_page(client: PapraClient, org: str, index: int, order: str) -> DocumentPage:
    return client.list_documents(
        org, page_index=index, page_size=PAGE_SIZE, sort_field="createdAt", sort_order=order
    )


def newest_pages(
    client: PapraClient,
    org: str,
    known: dict[str, StoredDocument],
    progress: ProgressCallback,
) -> Iterator[DocumentPage]:
    """Newest first, until a page holds only known documents (or is the last one).

    Uploads during the read shift later pages, so a page may repeat the one before; past
    the guard the read stops like the scan, and the next run goes on.
    """
    pages = walk_pages(
        lambda index: _list_page(client, org, index, "desc"),
        PAGE_SIZE,
        until_count=False,
        check_repeats=False,
    )
    try:
        for done, page in enumerate(pages, start=1):
            yield page
            progress("documents", org, done, None)
            if all(doc_id in known for doc_id in page.ids):
                return
    except PagesKeptComing as runaway:
        log.warning(
            "documents of %s kept arriving while the newest were read (%d at the start, "
            "%d now): this run stops at page %d, the next one goes on",
            org,
            runaway.announced,
            runaway.latest,
            runaway.pages_read,
        )


def read_trash(
    client: PapraClient, org: str, snapshot: Snapshot, *, complete: bool
) -> tuple[dict[str, dict[str, Any]], bool]:
    """The trash, newest deletion first; quick mode stops at a page it already knows.

    Returns the documents and whether the whole trash was read. A bulk trash during the read
    pushes full pages past the guard: the read then keeps what it saw, and counts as not
    whole, so no absence is concluded from it; the next run reads the rest.
    """
    known = {} if complete else snapshot.known(org)
    trash: dict[str, dict[str, Any]] = {}
    try:
        for page in _trash_pages(client, org, concurrent=complete):
            trash.update(zip(page.ids, page.items, strict=True))
            if len(page.items) < PAGE_SIZE or len(trash) >= page.documents_count:
                break
            if not complete and all(
                doc_id in known and known[doc_id].is_deleted for doc_id in page.ids
            ):
                return trash, False
    except PagesKeptComing as runaway:
        log.warning(
            "the trash of %s kept growing while it was read (%d trashed documents announced "
            "at the start, %d now): this run stops at page %d, the next one reads the rest",
            org,
            runaway.announced,
            runaway.latest,
            runaway.pages_read,
        )
        return trash, False
    return trash, True


def _trash_pages(client: PapraClient, org: str, *, concurrent: bool) -> Iterator[DocumentPage]:
    """Trash pages in order; with ``concurrent`` the pages the first one announces are
    fetched together, as the scan does. Trashes during the read shift later pages, so a
    page may repeat the one before."""
    return walk_pages(
        lambda index: client.list_deleted_documents(org, page_index=index, page_size=PAGE_SIZE),
        PAGE_SIZE,
        fetch_announced=client.iter_concurrent if concurrent else None,
        until_count=False,
        check_repeats=False,
    )
