"""Paging stop rules and guards for documents, trash and activity."""

from __future__ import annotations

import httpx
import pytest

from papra_pipeline.client import DocumentPage, PagesKeptComing, PapraResponseError, walk_pages

from .conftest import DOC, ORG, Recorder, json_response, no_request


def doc_json(i: int) -> dict:
    return {
        "id": f"doc_{i:024d}",
        "organizationId": ORG,
        "name": f"file-{i}.txt",
        "originalName": f"file-{i}.txt",
        "mimeType": "text/plain",
        "originalSize": i,
        "originalSha256Hash": f"{i:064x}",
        "createdAt": "2026-01-01T00:00:00.000Z",
        "updatedAt": "2026-01-01T00:00:00.000Z",
        "isDeleted": False,
        "tags": [],
        "customProperties": [],
    }


def activity_json(i: int) -> dict:
    return {
        "id": f"doc_act_{i:024d}",
        "documentId": DOC,
        "createdAt": "2026-01-01T00:00:00Z",
        "event": "created",
        "eventData": None,
        "userId": None,
        "tagId": None,
        "user": None,
        "tag": None,
    }


def server(total: int, *, count=None, repeat: bool = False, kind: str = "documents"):
    """A paging server over ``total`` items; ``count(page_index)`` overrides documentsCount."""
    requests = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        index = 0 if repeat else int(request.url.params["pageIndex"])
        size = int(request.url.params["pageSize"])
        ids = range(index * size, min(total, (index + 1) * size))
        if kind == "activities":
            return json_response(200, {"activities": [activity_json(i) for i in ids]})
        documents_count = total if count is None else count(index)
        return json_response(
            200, {"documents": [doc_json(i) for i in ids], "documentsCount": documents_count}
        )

    handle.requests = requests
    return handle


def test_short_page_stops(make_client):
    handler = server(5)
    docs = list(make_client(handler).iter_documents(ORG, page_size=2))
    assert len(docs) == 5 and len(handler.requests) == 3


def test_documents_count_reached_stops_without_an_empty_page(make_client):
    handler = server(4)
    docs = list(make_client(handler).iter_documents(ORG, page_size=2))
    assert len(docs) == 4 and len(handler.requests) == 2


def test_empty_page_stops(make_client):
    # The count claims more than the server has (a deletion between pages).
    handler = server(4, count=lambda index: 10)
    docs = list(make_client(handler).iter_documents(ORG, page_size=2))
    assert len(docs) == 4 and len(handler.requests) == 3


def test_server_always_returning_full_pages_hits_max_pages(make_client):
    handler = server(10**6, count=lambda index: 10**9)
    with pytest.raises(PapraResponseError, match="server keeps returning full pages"):
        list(make_client(handler).iter_documents(ORG, page_size=2, max_pages=5))
    assert len(handler.requests) == 5


def test_default_guard_comes_from_first_count(make_client):
    # documentsCount keeps growing, so "seen >= count" never fires: ceil(4/2) + 10 pages max.
    handler = server(10**6, count=lambda index: (index + 2) * 2)
    with pytest.raises(PapraResponseError, match="after 12 pages"):
        list(make_client(handler).iter_documents(ORG, page_size=2))


def test_repeated_page_raises(make_client):
    handler = server(100, repeat=True)
    with pytest.raises(PapraResponseError, match="repeats the document ids"):
        list(make_client(handler).iter_documents(ORG, page_size=2))
    assert len(handler.requests) == 2


def test_iter_documents_sends_exact_query(make_client):
    handler = server(1)
    list(make_client(handler).iter_documents(ORG))
    assert handler.requests[0].url.query == (
        b"pageIndex=0&pageSize=100&sortField=createdAt&sortOrder=asc"
    )


@pytest.mark.parametrize(
    ("kwargs", "query"),
    [
        ({}, b"pageIndex=0&pageSize=100"),
        (
            {"page_index": 3, "page_size": 7, "search_query": "tag:receipts created:>2024-01-01"},
            b"pageIndex=3&pageSize=7&searchQuery=tag%3Areceipts+created%3A%3E2024-01-01",
        ),
        ({"sort_order": "desc"}, b"pageIndex=0&pageSize=100&sortOrder=desc"),
    ],
)
def test_list_documents_never_sends_none_params(make_client, kwargs, query):
    recorder = Recorder(json_response(200, {"documents": [], "documentsCount": 0}))
    make_client(recorder).list_documents(ORG, **kwargs)
    assert recorder.requests[0].url.query == query


def test_trash_iteration_and_query(make_client):
    handler = server(3)
    docs = list(make_client(handler).iter_deleted_documents(ORG, page_size=2))
    assert len(docs) == 3
    assert handler.requests[0].url.path.endswith("/documents/deleted")
    assert handler.requests[0].url.query == b"pageIndex=0&pageSize=2"


@pytest.mark.parametrize("page_size", [0, 101])
def test_bad_page_size_rejected_without_request(make_client, page_size):
    client = make_client(no_request)
    with pytest.raises(ValueError, match="page_size"):
        client.list_documents(ORG, page_size=page_size)
    with pytest.raises(ValueError, match="page_size"):
        client.iter_documents(ORG, page_size=page_size)
    with pytest.raises(ValueError, match="page_size"):
        client.iter_document_activity(ORG, DOC, page_size=page_size)


def test_activity_is_lazy_and_can_stop_early(make_client):
    handler = server(1000, kind="activities")
    client = make_client(handler)
    seen = []
    for activity in client.iter_document_activity(ORG, DOC, page_size=10):
        seen.append(activity.id)
        if len(seen) == 15:
            break
    assert len(handler.requests) == 2  # the second page was needed, the third never fetched


def test_activity_stops_on_short_page(make_client):
    handler = server(25, kind="activities")
    assert len(list(make_client(handler).iter_document_activity(ORG, DOC, page_size=10))) == 25
    assert len(handler.requests) == 3


def test_activity_repeated_page_and_max_pages(make_client):
    with pytest.raises(PapraResponseError, match="repeats"):
        list(
            make_client(server(100, repeat=True, kind="activities")).iter_document_activity(
                ORG, DOC, page_size=10
            )
        )
    with pytest.raises(PapraResponseError, match="full activity pages after 3 pages"):
        list(
            make_client(server(100, kind="activities")).iter_document_activity(
                ORG, DOC, page_size=10, max_pages=3
            )
        )


def _page(index: int, ids: range, count: int) -> DocumentPage:
    items = tuple({"id": f"doc_{i}"} for i in ids)
    return DocumentPage(items=items, documents_count=count, page_index=index, page_size=2)


def test_walk_fetches_the_announced_pages_together_then_one_by_one():
    """Pages 1 and 2 of the three announced go to ``fetch_announced`` at once; the list grew
    meanwhile (``until_count`` off), so pages 3 and 4 follow one by one up to a short one."""
    fetched, together = [], []

    def fetch(index: int) -> DocumentPage:
        fetched.append(index)
        return _page(index, range(index * 2, min(9, index * 2 + 2)), 6 if index == 0 else 9)

    def fetch_announced(fetch_one, indexes):
        together.append(list(indexes))
        return iter([fetch_one(i) for i in indexes])

    pages = list(walk_pages(fetch, 2, fetch_announced=fetch_announced, until_count=False))

    assert [p.page_index for p in pages] == [0, 1, 2, 3, 4]
    assert together == [[1, 2]] and fetched == [0, 1, 2, 3, 4]


def test_walk_without_repeat_check_allows_a_repeated_page_but_not_a_runaway():
    """Newest first, one page of arrivals between two requests repeats a page honestly; a
    list that never ends still stops, with what the caller needs to say so."""
    pages = walk_pages(
        lambda index: _page(index, range(2), 4), 2, until_count=False, check_repeats=False
    )
    with pytest.raises(PagesKeptComing) as raised:
        list(pages)
    assert (raised.value.pages_read, raised.value.announced, raised.value.latest) == (12, 4, 4)
    assert isinstance(raised.value, PapraResponseError)  # raises like any bad answer
