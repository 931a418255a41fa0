"""Read the documents a run was asked to re-read (webhook deliveries name them) from its start.

Their ids are known before the first request, so there is no reason to wait for the list,
the trash and the other organizations before asking for them: their details, then their new
activity, are fetched in the background on the client's connections while the run opens the
warehouse, reads its snapshot, the statistics, the newest pages and the trash, and the
organizations before theirs.
Read one phase after another, organization after organization, a drain of 100 deliveries took
about 3x its HTTP floor (``python -m benchmarks.webhooks``). Their requests count in the run's
total; in the per-stream figures they fall where the run was when they were sent.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from papra_pipeline.client import Activity, Document

# (organization id, document id) -> its detail, or None when Papra answers 404
ReadDetail = Callable[[str, str], "Document | None"]
# document ids -> what the warehouse holds of their activity
ReadStoredActivity = Callable[[Sequence[str]], dict]
# (organization id, what the warehouse holds, document id) -> the activity it lacks
ReadNewActivity = Callable[[str, dict, str], "list[Activity]"]


class ReadAhead:
    """Details, then new activity, of ``documents``, fetched in the background.

    The details start on creation; the activity once :meth:`read_activity` is given what the
    warehouse holds (the new activity is what comes after it). :meth:`close` cancels what
    has not started and waits for the rest.
    """

    def __init__(
        self, documents: Collection[tuple[str, str]], *, workers: int, read_detail: ReadDetail
    ) -> None:
        self._ordered = sorted(documents)  # organization by organization, as the run goes
        self._details: dict[tuple[str, str], Future[Document | None]] = {}
        self._activity: dict[tuple[str, str], Future[list[Activity]]] = {}
        self._pool: ThreadPoolExecutor | None = None
        if self._ordered:
            self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="papra-reread")
            for key in self._ordered:
                self._details[key] = self._pool.submit(read_detail, *key)

    def read_activity(
        self, read_stored: ReadStoredActivity, read_new_activity: ReadNewActivity
    ) -> None:
        """Queue the activity reads behind the details. ``read_stored`` runs in the caller's
        thread while the details are in flight (on the run's one read connection to its
        file)."""
        if self._pool is None:
            return
        stored = read_stored([doc_id for _org, doc_id in self._ordered])

        def read(key: tuple[str, str]) -> list[Activity]:
            if self._details[key].result() is None:
                return []  # gone: nothing to read, and the run confirms the purge
            return read_new_activity(key[0], stored, key[1])

        for key in self._ordered:
            self._activity[key] = self._pool.submit(read, key)

    def detail(self, org: str, doc_id: str) -> Document | None:
        """The document's detail (None: 404); waits for it."""
        return self._details[org, doc_id].result()

    def activity_of(self, org: str) -> dict[str, Future[list[Activity]]]:
        """The organization's documents read ahead, each with its new activity to wait for."""
        return {doc_id: future for (o, doc_id), future in self._activity.items() if o == org}

    def close(self) -> None:
        """Cancel what has not started and wait for the rest; safe to call twice."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
