"""The document pages a run reads: every page in creation order (full mode), the newest
pages until one holds only known documents (quick mode), and the trash."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

from papra_pipeline.client import DocumentPage, PapraClient, PapraResponseError
from papra_pipeline.sync.results import ProgressCallback
from papra_pipeline.sync.snapshot import _Snapshot, _StoredDocument

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
    first = _list_page(client, org, 0, "asc")
    yield first
    total_pages = max(1, math.ceil(first.documents_count / PAGE_SIZE))
    progress("documents", org, 1, total_pages)
    last, index = first, total_pages
    rest = client.iter_concurrent(
        lambda i: _list_page(client, org, i, "asc"), range(1, total_pages)
    )
    for done, page in enumerate(rest, start=2):
        yield page
        last = page
        if done % PROGRESS_EVERY_PAGES == 0 or done == total_pages:
            progress("documents", org, done, total_pages)
    guard = total_pages + 10
    while len(last.items) == PAGE_SIZE:
        if index > guard:
            log.warning(
                "documents of %s kept arriving during the scan (%d announced at its start, "
                "%d now): this run stops at page %d, the next one reads the rest",
                org,
                first.documents_count,
                last.documents_count,
                index,
            )
            return
        page = _list_page(client, org, index, "asc")
        if page.ids == last.ids:
            raise PapraResponseError(
                f"document page {index} of {org} repeats page {index - 1}: the server "
                "ignores pageIndex, so paging would never end"
            )
        yield page
        last = page
        index += 1


def _list_page(client: PapraClient, org: str, index: int, order: str) -> DocumentPage:
    return client.list_documents(
        org, page_index=index, page_size=PAGE_SIZE, sort_field="createdAt", sort_order=order
    )


def newest_pages(
    client: PapraClient,
    org: str,
    known: dict[str, _StoredDocument],
    progress: ProgressCallback,
) -> Iterator[DocumentPage]:
    """Newest first, until a page holds only known documents (or is the last one)."""
    index = 0
    while True:
        page = _list_page(client, org, index, "desc")
        yield page
        progress("documents", org, index + 1, None)
        if len(page.items) < PAGE_SIZE or all(doc_id in known for doc_id in page.ids):
            return
        index += 1


def read_trash(
    client: PapraClient, org: str, snapshot: _Snapshot, *, complete: bool
) -> tuple[dict[str, dict[str, Any]], bool]:
    """The trash, newest deletion first; quick mode stops at a page it already knows.

    Returns the documents and whether the whole trash was read.
    """
    known = {} if complete else snapshot.known(org)
    trash: dict[str, dict[str, Any]] = {}
    pages = _trash_pages(client, org, concurrent=complete)  # ends only by raising
    while True:
        page = next(pages)
        trash.update(zip(page.ids, page.items, strict=True))
        if len(page.items) < PAGE_SIZE or len(trash) >= page.documents_count:
            return trash, True
        if not complete and all(
            doc_id in known and known[doc_id].is_deleted for doc_id in page.ids
        ):
            return trash, False


def _trash_pages(client: PapraClient, org: str, *, concurrent: bool) -> Iterator[DocumentPage]:
    """Trash pages in order; with ``concurrent`` the pages the first one announces are
    fetched together, as the scan does. Pages keep coming until the reader stops."""
    first = client.list_deleted_documents(org, page_index=0, page_size=PAGE_SIZE)
    yield first
    index = 1
    if concurrent:
        announced = math.ceil(first.documents_count / PAGE_SIZE)
        yield from client.iter_concurrent(
            lambda i: client.list_deleted_documents(org, page_index=i, page_size=PAGE_SIZE),
            range(1, announced),
        )
        index = max(index, announced)
    guard = first.documents_count // PAGE_SIZE + 10
    while True:
        if index > guard:
            raise PapraResponseError(
                f"Papra kept returning full trash pages past page {guard} for {org} "
                f"although it announced {first.documents_count} trashed documents; stopping."
            )
        yield client.list_deleted_documents(org, page_index=index, page_size=PAGE_SIZE)
        index += 1
