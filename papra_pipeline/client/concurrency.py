"""Thread-pool helpers mixed into ``PapraClient``.

They are not Papra API: they run any callable (typically client calls) on a bounded pool
sized by the client's ``max_concurrency``, so the sync can fetch pages and documents side by
side over one connection pool.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_END = object()


class ConcurrencyMethods:
    """``map_concurrent`` and ``iter_concurrent``, mixed into ``PapraClient`` (which provides
    ``max_concurrency``)."""

    def map_concurrent(
        self, func: Callable[[T], R], items: Iterable[T], *, max_workers: int | None = None
    ) -> list[R]:
        """``[func(item) for item in items]`` on a bounded thread pool, results in input order.

        All workers share this client's connection pool (sized ``max_concurrency``). Items are
        submitted a few at a time, so the first exception stops the rest from starting; it is
        re-raised once the calls already running have finished.
        """
        return list(self.iter_concurrent(func, items, max_workers=max_workers))

    def iter_concurrent(
        self, func: Callable[[T], R], items: Iterable[T], *, max_workers: int | None = None
    ) -> Iterator[R]:
        """Like :meth:`map_concurrent`, but yields each result, in input order, as soon as it
        and those before it are done: a caller can fold pages while later ones are in flight,
        and at most ``2 * max_workers`` results are held at once.
        """
        workers = self.max_concurrency if max_workers is None else max_workers
        if workers < 1:
            raise ValueError("max_workers must be >= 1")
        pending = iter(items)
        window: deque[Future[R]] = deque()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="papra-client") as pool:
            try:
                # A few rounds ahead keep every worker busy while a slow item holds back the
                # ones after it; waiting on the oldest keeps the order and costs one wait each.
                for item in islice(pending, workers * 2):
                    window.append(pool.submit(func, item))
                while window:
                    result = window.popleft().result()
                    following = next(pending, _END)
                    if following is not _END:
                        window.append(pool.submit(func, following))
                    yield result
            finally:
                for future in window:
                    future.cancel()
