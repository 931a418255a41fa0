"""map_concurrent ordering and failure handling, and thread-safe stats."""

from __future__ import annotations

import threading

import httpx
import pytest

from .conftest import ORG, json_response, no_request


def test_results_keep_input_order_when_completion_is_reversed(make_client):
    client = make_client(no_request)
    done = {i: threading.Event() for i in range(5)}

    def work(i: int) -> int:
        if i < 4:  # each item waits for the next one: completion order is 4, 3, 2, 1, 0
            assert done[i + 1].wait(timeout=60)
        done[i].set()
        return i * 10

    assert client.map_concurrent(work, range(5), max_workers=5) == [0, 10, 20, 30, 40]


def test_iter_concurrent_yields_in_order_and_holds_only_a_few_rounds(make_client):
    client = make_client(no_request)
    started: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            started.append(i)
        return i

    results = client.iter_concurrent(work, range(1_000), max_workers=2)
    first = [next(results) for _ in range(3)]
    # While the caller holds on after three results, at most four rounds of two are started.
    assert first == [0, 1, 2]
    assert len(started) <= 3 + 2 * 4
    assert list(results) == list(range(3, 1_000))


def test_first_exception_is_raised_and_pending_work_cancelled(make_client):
    client = make_client(no_request)
    ran: list[int] = []

    def work(i: int) -> int:
        if i == 0:
            raise LookupError("item 0 failed")
        ran.append(i)
        return i

    with pytest.raises(LookupError, match="item 0 failed"):
        client.map_concurrent(work, range(20_000), max_workers=2)
    assert len(ran) < 19_999


def test_empty_input_and_bad_worker_count(make_client):
    client = make_client(no_request)
    assert client.map_concurrent(str, []) == []
    with pytest.raises(ValueError, match="max_workers"):
        client.map_concurrent(str, [1], max_workers=0)


class InFlight:
    """Counts the requests a handler serves at once. :meth:`hold` makes a request wait for a
    cohort of ``together`` requests in flight at the same time, so that they overlap however
    busy the machine. A request left waiting ``patience`` seconds goes on alone instead of
    failing every request after it, as a broken barrier does (a 60 s barrier broke in CI once,
    its cause unknown): the assertion on :attr:`max` then says whether requests overlapped."""

    def __init__(self, patience: float = 10.0) -> None:
        self.now = self.max = 0
        self.patience = patience
        self._changed = threading.Condition()
        self._cohort = self._waiting = 0

    def hold(self, together: int) -> None:
        with self._changed:
            self.now += 1
            self.max = max(self.max, self.now)
            if together > 1:
                cohort = self._cohort
                self._waiting += 1
                if self._waiting == together:
                    self._waiting, self._cohort = 0, cohort + 1
                    self._changed.notify_all()
                elif not self._changed.wait_for(lambda: self._cohort != cohort, self.patience):
                    self._waiting -= 1
            self.now -= 1


def test_concurrent_pages_share_client_and_count_requests(make_client):
    in_flight = InFlight()

    def handle(request: httpx.Request) -> httpx.Response:
        # The first four requests must be in flight together.
        in_flight.hold(4 if int(request.url.params["pageIndex"]) < 4 else 1)
        return json_response(200, {"documents": [], "documentsCount": 0})

    client = make_client(handle, max_concurrency=4)
    pages = client.map_concurrent(
        lambda i: client.list_documents(
            ORG, page_index=i, sort_field="createdAt", sort_order="asc"
        ),
        range(40),
    )
    assert [p.page_index for p in pages] == list(range(40))
    assert in_flight.max == 4
    snapshot = client.stats.snapshot()
    assert snapshot["requests"] == 40
    assert snapshot["by_endpoint"] == {"GET /api/organizations/{org}/documents": 40}
    client.reset_stats()
    assert client.stats.snapshot() == {"requests": 0, "retries": 0, "by_endpoint": {}}


def test_threads_beyond_max_concurrency_wait_before_the_connection_pool(make_client):
    """A sync's read-ahead and its own fan-outs together ask with more threads than there are
    connections; httpcore's pool, with requests queued in it, can close a connection it has
    just handed out (encode/httpcore#1110), so the extra threads wait before httpx."""
    in_flight = InFlight()

    def handle(request: httpx.Request) -> httpx.Response:
        in_flight.hold(2)  # every request waits for another to be in flight
        return json_response(200, {"documents": [], "documentsCount": 0})

    client = make_client(handle, max_concurrency=2)
    pages = client.map_concurrent(
        lambda i: client.list_documents(ORG, page_index=i), range(24), max_workers=8
    )
    assert len(pages) == 24
    assert in_flight.max == 2
