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


ROW_ERRORS = (ValueError, OverflowError, sqlite3.InterfaceError, sqlite3.IntegrityError)
"""What one delivery's values can raise (a lone surrogate, an integer past 64 bits): that
delivery is refused, the others of its commit are stored."""

MIN_FREE_BYTES = 1_000_000
"""Below this much free disk space the inbox counts as full (a row takes ~200 bytes)."""


class InboxMovedError(OSError):
    """The file at the inbox's path is not the one written: deleted or replaced meanwhile."""


class WebhookInbox:
    """One inbox file; thread-safe (one connection behind a lock), cheap to open."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._con, self._file_id = self._connect()

    def _connect(self) -> tuple[sqlite3.Connection, tuple[int, int] | None]:
        # isolation_level=None: transactions are explicit below, never opened behind our back.
        con = sqlite3.connect(
            self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            con.executescript(_SCHEMA)
        except BaseException:
            con.close()
            raise
        return con, _file_id(self.path)

    def _reopen_if_moved(self) -> None:
        """Open the file at ``path`` again when the one open was deleted or replaced, so that
        what is committed is what a sync reads; never recreate a removed folder (a volume
        that is gone must not be replaced by a folder on another disk). Holds ``_lock``."""
        if _file_id(self.path) == self._file_id:
            return
        if not self.path.parent.is_dir():
            raise InboxMovedError(f"the inbox's folder {self.path.parent} is gone")
        # Closed first: the old file's -wal and -shm carry the same names as the new one's.
        self._con.close()
        self._con, self._file_id = self._connect()

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
        with self._lock, self._transaction_locked() as con:
            yield con

    @contextmanager
    def _transaction_locked(self) -> Iterator[sqlite3.Connection]:
        self._con.execute("BEGIN IMMEDIATE")
        try:
            yield self._con
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    def add(self, deliveries: Sequence[InboxDelivery]) -> list[bool | Exception]:
        """Store deliveries in one durable commit into the file at ``path`` (reopened if it
        was deleted or replaced). Per delivery: whether it was new (a ``delivery_id`` already
        stored is left as it is), or the error that refused its values alone (``ROW_ERRORS``).
        Raises when nothing was stored, ``InboxMovedError`` when the file was deleted or
        replaced during the commit."""
        received_at = _now()
        added: list[bool | Exception] = []
        with self._lock:
            self._reopen_if_moved()
            with self._transaction_locked() as con:
                for d in deliveries:
                    try:
                        cursor = con.execute(
                            "INSERT INTO deliveries (delivery_id, event, organization_id, "
                            "document_id, sent_at, received_at) VALUES (?, ?, ?, ?, ?, ?) "
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
                    except ROW_ERRORS as exc:  # refused before it was written: the rest goes on
                        added.append(exc)
                    else:
                        added.append(cursor.rowcount == 1)
            if _file_id(self.path) != self._file_id:
                raise InboxMovedError(f"{self.path} was deleted or replaced during the commit")
        return added

    def write_problem(self) -> str | None:
        """Why a delivery could not be stored at ``path`` now, from the file system alone (no
        lock taken): its folder gone, the file or folder read-only, the disk full."""
        folder = self.path.parent
        if not folder.is_dir():
            return f"the inbox's folder {folder} is gone"
        if not os.access(folder, os.W_OK | os.X_OK) and not self.path.exists():
            return f"the inbox's folder {folder} is read-only"
        for name in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            if name.exists() and not os.access(name, os.R_OK | os.W_OK):
                return f"{name} is read-only"
        stats = os.statvfs(folder)
        if stats.f_bavail * stats.f_frsize < MIN_FREE_BYTES:
            return f"the disk of {folder} is full"
        return None

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


def peek_pending(path: str | os.PathLike[str], *, timeout: float = 0.25) -> int | None:
    """How many deliveries are pending, read through a connection of its own (a reader never
    waits for a writer in WAL mode); None when the file cannot be read within ``timeout``."""
    try:
        con = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=timeout)
    except sqlite3.Error:
        return None
    try:
        row = con.execute("SELECT count(*) FROM deliveries WHERE consumed_at IS NULL").fetchone()
        return row[0]
    except sqlite3.Error:
        return None
    finally:
        con.close()


def _file_id(path: Path) -> tuple[int, int] | None:
    """Which file is at ``path`` (device and inode), None if none."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
