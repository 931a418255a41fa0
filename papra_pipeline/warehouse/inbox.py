"""The webhook inbox: a small SQLite file of deliveries waiting for the next sync.

The receiver and a sync run in different processes, and DuckDB lets one process open its file
at a time, so deliveries go to a file of their own. SQLite in WAL mode takes a writer beside
readers, and ``synchronous=FULL`` makes a commit survive a crash of the process or the machine:
the receiver answers 2xx only after its delivery is committed. Each row names the document to
re-read; the sync marks rows consumed after its own DuckDB commit, so a run that dies in
between reads them again next time.

No HTTP and no DuckDB here: plain rows in, plain rows out.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

INBOX_SUFFIX = ".webhooks.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,  -- arrival order; the high-water mark
    delivery_id     TEXT NOT NULL UNIQUE,               -- webhook-id: duplicates are stored once
    event           TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    document_id     TEXT NOT NULL,
    sent_at         INTEGER NOT NULL,                   -- webhook-timestamp, Unix seconds
    received_at     TEXT NOT NULL,
    consumed_at     TEXT,                               -- NULL while pending
    outcome         TEXT                                -- what the sync did with it
);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (seq) WHERE consumed_at IS NULL;
"""


def inbox_path(duckdb_path: str | os.PathLike[str], explicit: str | None = None) -> Path:
    """``explicit`` (``PAPRA_WEBHOOK_INBOX``), else beside the DuckDB file: ``papra.duckdb`` ->
    ``papra.webhooks.sqlite``."""
    if explicit:
        return Path(explicit)
    return Path(duckdb_path).with_suffix(INBOX_SUFFIX)


@dataclass(frozen=True, slots=True)
class InboxDelivery:
    """A delivery as the receiver stores it."""

    delivery_id: str
    event: str
    organization_id: str
    document_id: str
    sent_at: int


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    seq: int
    delivery_id: str
    event: str
    organization_id: str
    document_id: str


class WebhookInbox:
    """One inbox file; thread-safe (one connection behind a lock), cheap to open."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit below, never opened behind our back.
        self._con = sqlite3.connect(
            self.path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.Lock()
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA synchronous=FULL")
        self._con.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> WebhookInbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WebhookInbox({str(self.path)!r})"

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield self._con
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

    def add(self, deliveries: Sequence[InboxDelivery]) -> list[bool]:
        """Store deliveries in one durable commit; per delivery, whether it was new (a
        ``delivery_id`` already stored is left as it is)."""
        received_at = _now()
        added = []
        with self._transaction() as con:
            for d in deliveries:
                cursor = con.execute(
                    "INSERT INTO deliveries (delivery_id, event, organization_id, document_id, "
                    "sent_at, received_at) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (delivery_id) DO NOTHING",
                    (
                        d.delivery_id,
                        d.event,
                        d.organization_id,
                        d.document_id,
                        d.sent_at,
                        received_at,
                    ),
                )
                added.append(cursor.rowcount == 1)
        return added

    def pending(self) -> list[PendingDelivery]:
        """Every delivery no sync has consumed yet, in arrival order."""
        with self._lock:
            rows = self._con.execute(
                "SELECT seq, delivery_id, event, organization_id, document_id FROM deliveries "
                "WHERE consumed_at IS NULL ORDER BY seq"
            ).fetchall()
        return [PendingDelivery(*row) for row in rows]

    def pending_summary(self) -> tuple[int, int | None]:
        """How many deliveries are pending and the highest pending ``seq`` (None if none)."""
        with self._lock:
            count, high = self._con.execute(
                "SELECT count(*), max(seq) FROM deliveries WHERE consumed_at IS NULL"
            ).fetchone()
        return count, high

    def mark_consumed(self, outcomes: Mapping[int, str] | Iterable[int], outcome: str = "") -> int:
        """Mark deliveries consumed, by ``seq``; ``outcomes`` may map each seq to what was done."""
        items = (
            outcomes.items() if isinstance(outcomes, Mapping) else ((s, outcome) for s in outcomes)
        )
        now = _now()
        with self._transaction() as con:
            marked = 0
            for seq, text in items:
                marked += con.execute(
                    "UPDATE deliveries SET consumed_at = ?, outcome = ? "
                    "WHERE seq = ? AND consumed_at IS NULL",
                    (now, text, seq),
                ).rowcount
        return marked

    def count(self) -> int:
        with self._lock:
            return self._con.execute("SELECT count(*) FROM deliveries").fetchone()[0]

    def delivery_ids(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._con.execute("SELECT delivery_id FROM deliveries")}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
