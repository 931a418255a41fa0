"""Walking a paged document list (documents or trash), in one place for the client's
``iter_*`` methods and the sync's page streams.

Papra pages by offset (``pageIndex`` x ``pageSize``) and announces ``documentsCount`` on every
page. A walk ends on an empty or short page, or, when asked, once it has seen as many
documents as the page announces. Two guards keep a walk from running forever:

- a page repeating the ids of the page before it means the server ignores ``pageIndex``:
  ``PapraResponseError``, always;
- more pages than the first page announced, plus ``EXTRA_PAGES``: ``PagesKeptComing``. Uploads
  or trashes during the walk can honestly cause it, so the caller picks the policy: let it
  raise, or catch it and keep what it read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from .errors import PapraResponseError
from .models import DocumentPage

EXTRA_PAGES = 10
"""Pages read beyond those the first page announced before a walk counts as runaway."""

FetchPage = Callable[[int], DocumentPage]
FetchPages = Callable[[FetchPage, Iterable[int]], Iterator[DocumentPage]]


class PagesKeptComing(PapraResponseError):
    """Full pages kept coming past the guard.

    ``pages_read`` pages were read; the first announced ``announced`` documents (``None``
    when a ``max_pages`` of 0 stopped the walk before any page), the last ``latest``.
    """

    def __init__(
        self, message: str, *, pages_read: int, announced: int | None, latest: int | None
    ) -> None:
        super().__init__(message)
        self.pages_read = pages_read
        self.announced = announced
        self.latest = latest


def walk_pages(
    fetch: FetchPage,
    page_size: int,
    *,
    max_pages: int | None = None,
    fetch_announced: FetchPages | None = None,
    until_count: bool = True,
    check_repeats: bool = True,
) -> Iterator[DocumentPage]:
    """Pages 0, 1, 2... of one list, each yielded as it comes (an empty one too).

    - ``max_pages``: the guard; by default ``ceil(documentsCount / page_size) + EXTRA_PAGES``
      from the first page.
    - ``fetch_announced``: fetches the pages the first one announces together (e.g.
      ``PapraClient.iter_concurrent``), yielded in order, all of them; the end rules then
      apply to the last, and later pages are read one by one.
    - ``until_count``: also end once ``documentsCount`` documents were seen. Off where the
      list grows at its end during the walk (creation order, ascending).
    - ``check_repeats``: off where a page may honestly repeat the one before: newest first,
      exactly one page of new documents arriving between two requests shifts the list by a
      page, so the next request answers the previous page again.
    """
    seen = 0
    limit = max_pages
    index = 0
    first: DocumentPage | None = None
    last: DocumentPage | None = None
    while True:
        if limit is not None and index >= limit:
            raise PagesKeptComing(
                f"server keeps returning full pages after {index} pages of {page_size} "
                f"({seen} documents); stopping instead of looping forever",
                pages_read=index,
                announced=None if first is None else first.documents_count,
                latest=None if last is None else last.documents_count,
            )
        if index == 1 and fetch_announced is not None and first.documents_count > page_size:
            indexes = range(1, -(-first.documents_count // page_size))
            batch = zip(indexes, fetch_announced(fetch, indexes), strict=True)
            index = indexes.stop
        else:
            batch = iter(((index, fetch(index)),))
            index += 1
        for page_index, page in batch:
            if check_repeats and page.items and last is not None and page.ids == last.ids:
                raise PapraResponseError(
                    f"page {page_index} repeats the document ids of page {page_index - 1}; "
                    "the server ignores pageIndex, so paging would never end"
                )
            yield page
            seen += len(page.items)
            if first is None:
                first = page
            last = page
        if len(last.items) < page_size or (until_count and seen >= last.documents_count):
            return
        if limit is None:
            limit = -(-first.documents_count // page_size) + EXTRA_PAGES
