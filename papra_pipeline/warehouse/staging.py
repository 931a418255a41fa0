"""A scratch DuckDB file that holds one run's rows until the final merge.

A full sync of a large Papra fetches far more than fits comfortably in Python objects (text,
activity, ten custom-property values per document). Rows are flushed here in batches while
the sync fetches, so memory stays bounded; the warehouse's single write transaction then
attaches this file and merges each set with one statement. The file is deleted afterwards; a
killed run leaves only its scratch directory behind, never a half-written warehouse, and the
next run in the same temporary directory removes it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import os
import queue
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from papra_pipeline.warehouse.connections import open_duckdb
from papra_pipeline.warehouse.processes import running
from papra_pipeline.warehouse.schema import TABLES, Table

log = logging.getLogger("papra_pipeline.warehouse")

STAGING_ALIAS = "papra_staging"
# A staging directory's name: the creating process's pid, then mkdtemp's suffix (eight
# characters from [a-z0-9_]). Names from before the pid was added never match.
_DIRECTORY = re.compile(r"papra-staging-([1-9][0-9]{0,8})-[a-z0-9_]{8}")


def size_in_bytes(size: str) -> int:
    """A DuckDB memory size (``96MB``, ``1GiB``; see ``settings.MEMORY_SIZE``) in bytes."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT])(i?)B", size.strip(), re.IGNORECASE)
    if match is None:
        raise ValueError(f"{size!r} is not a memory size such as 96MB or 1GB")
    base = 1024 if match[3] else 1000
    return int(float(match[1]) * base ** ("KMGT".index(match[2].upper()) + 1))


def _remove_orphans(directory: Path) -> None:
    """Remove the staging directories in ``directory`` whose process no longer runs.

    A sync removes its own directory when it ends, but one that is SIGKILLed (the OOM killer,
    a terminated Dagster run) cannot, and the next run's directory has another name: without
    this, killed runs pile up in the temporary directory. Directories of running processes
    (a concurrent sync) and names without a pid are left alone; errors are ignored (another
    process may be removing the same directory).
    """
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return
    with contextlib.suppress(OSError):
        for entry in directory.iterdir():
            match = _DIRECTORY.fullmatch(entry.name)
            if match and not running(int(match[1])):
                shutil.rmtree(entry, ignore_errors=True)


class EpochMicroseconds:
    """A TIMESTAMPTZ value as microseconds since 1970-01-01 UTC, for the instants Python's
    ``datetime`` cannot hold (years before 1 or after 9999, which Papra's dates can reach;
    DuckDB's TIMESTAMPTZ holds about 290,000 years either side of 1970). Rows mix them
    freely with datetimes. Not an ``int``: pandas would make a column of them and ``None``
    floats, which cannot hold every such number exactly."""

    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EpochMicroseconds) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return f"EpochMicroseconds({self.value})"


def select_typed(frame: pd.DataFrame, table: Table, columns: Iterable[str]) -> str:
    """The SELECT list that reads ``columns`` of ``frame`` as ``table`` types them.

    A timestamp column holding an :class:`EpochMicroseconds` (pandas leaves it an object
    column) is rewritten in ``frame`` as epoch microseconds and read with ``make_timestamptz``:
    DuckDB 2.0 reads a pandas datetime64 column through nanoseconds, so it would turn such a
    year into another instant, and it cannot read the value as a Python datetime at all.
    """
    parts = []
    for column in columns:
        sql_type = table.column_type(column)
        values = frame[column]
        if (
            sql_type == "TIMESTAMPTZ"
            and values.dtype == object
            and any(isinstance(v, EpochMicroseconds) for v in values)
        ):
            frame[column] = pd.array([_epoch_us(v) for v in values], dtype="Int64")
            parts.append(f'make_timestamptz("{column}") AS "{column}"')
        else:
            parts.append(f'CAST("{column}" AS {sql_type}) AS "{column}"')
    return ", ".join(parts)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def replace_lone_surrogates(frame: pd.DataFrame) -> list[str]:
    """Replace each lone UTF-16 surrogate in the frame's text with U+FFFD, in place.

    A JavaScript string can hold half of a surrogate pair and Papra sends it (escaped in its
    JSON); UTF-8, and so DuckDB, cannot store one, and refuses the whole batch. The
    replacement is what a UTF-8 decoder shows for it; ``_raw`` keeps the exact text as a JSON
    escape. Returns the ids (``id`` or ``document_id``) of the rows changed.
    """
    changed: set[int] = set()
    for column in frame.columns:
        if frame[column].dtype.kind in "biufcmM":  # numbers, booleans, timestamps
            continue
        values = frame[column].tolist()
        touched = False
        for row, value in enumerate(values):
            fixed = _without_lone_surrogates(value)
            if fixed is not value:
                values[row] = fixed
                changed.add(row)
                touched = True
        if touched:
            frame[column] = pd.Series(values, index=frame.index, dtype=object)
    key = next((c for c in ("id", "document_id") if c in frame.columns), None)
    return sorted({str(frame[key].iloc[row]) if key else f"row {row}" for row in changed})


def _without_lone_surrogates(value: Any) -> Any:
    """The value with lone surrogates replaced, or the very same object when it has none."""
    if isinstance(value, str):
        if value.isascii() or not _LONE_SURROGATE.search(value):
            return value
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list | tuple):
        fixed = [_without_lone_surrogates(item) for item in value]
        return value if all(a is b for a, b in zip(fixed, value, strict=True)) else fixed
    return value


# How DuckDB 2.0 words running out of its limit: a commit or a checkpoint that cannot pin a
# block raises a TransactionException or a FatalException, not an OutOfMemoryException.
_OUT_OF_MEMORY = re.compile(r"Out of Memory|failed to (pin|allocate)|could not allocate")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether DuckDB ran out of its memory limit, here or in what ``exc`` was raised from."""
    while exc is not None:
        if isinstance(exc, duckdb.OutOfMemoryException) or (
            isinstance(exc, duckdb.Error) and _OUT_OF_MEMORY.search(str(exc))
        ):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def is_lone_surrogate_error(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.InvalidInputException) and "surrogate" in str(exc)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch_us(value: datetime | EpochMicroseconds | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, EpochMicroseconds):
        return value.value
    return (value - _EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class Staged:
    """One set of staged rows for a warehouse table: the staging table and its columns, and
    the tables that each hold one batch of long texts (see :meth:`Staging._write`)."""

    name: str
    table: str
    columns: tuple[str, ...]
    long_parts: tuple[tuple[str, int, int], ...] = ()  # (table, first and last _seq)
    main: bool = True  # False when every batch went to a table of long texts
    main_text: int = 0  # characters of text in the rows of the main table (wide tables)

    @property
    def qualified(self) -> str:
        """The rows, as a table or a subquery to read them from."""
        if not self.long_parts:
            return f'{STAGING_ALIAS}."{self.name}"'
        # DuckDB scans 2,048 rows at a time: read from one table of texts of any length, a
        # scan would hold 2,048 of them at once. Each batch of long texts is a table of its
        # own, so a scan holds one batch at most.
        names = [self.name] if self.main else []
        names += [name for name, _, _ in self.long_parts]
        tables = [f'{STAGING_ALIAS}."{name}"' for name in names]
        return "(" + " UNION ALL ".join(f"SELECT * FROM {t}" for t in tables) + ")"


# Tables whose rows carry texts of any length (a document's extracted text, its ``_raw``):
# their batches are bounded by bytes too. Other rows are small enough for a bound on rows.
WIDE_TABLES = frozenset({"documents"})
# DuckDB cannot spill a string of this size or more before the statement or transaction that
# writes it ends (shorter ones go to disk beyond the memory limit): measured with DuckDB 2.0,
# 40 KB texts committed 200 MB under a 96MB limit, 80 KB ones failed. See :attr:`long_text_bytes`.
LONG_TEXT = 64 * 1024
# DuckDB stores a string longer than this outside its column's blocks; a checkpoint of a table
# appended to re-reads every such string of its last row group (20,000 texts of 20 KB appended
# batch after batch failed the staging file's 32MB limit at the automatic checkpoint).
OVERFLOW_TEXT = 4096

# The staging file's DuckDB memory limit. Its batches hold at most ``batch_bytes`` (8 MB) of
# text, yet 2,000 documents of 5 KB, a seventh of them with 12 KB of name and ``_raw``, failed
# 32MB (one 16 MiB allocation on top of 16.5 MiB used). The write runs after the staging
# closes, under a larger limit, so this does not raise a sync's peak.
STAGING_MEMORY_LIMIT = "64MB"


class Staging:
    """Buffers rows per named set and appends them to a scratch DuckDB file in batches.

    Each row gets a ``_seq`` so the merge can keep the last one written for a key. A set is
    flushed every ``batch_rows`` rows, or every ``batch_rows_by_table[table]`` rows: each flush
    costs a few milliseconds whatever its size, so narrow rows are worth larger batches. Rows of
    :data:`WIDE_TABLES` are also flushed once they hold ``batch_bytes`` of text: DuckDB holds
    what one statement inserts in memory until it ends, so 2,000 texts of 16 KB (32 MB) broke
    the 32MB limit while 2,000 of 12 KB passed; a bound on bytes keeps a batch of documents
    within it whatever their texts' length. A batch ends with the row that brings it to that
    size, so it holds at most ``batch_bytes`` plus one text, and is written under a limit
    raised for that text if it needs more. The file is created with the first full batch: a
    run that stages nothing (a no-op sync), or less than a batch per set (see :meth:`attach`),
    has none.
    """

    def __init__(
        self,
        directory: str | Path | None = None,
        *,
        batch_rows: int = 5000,
        batch_rows_by_table: Mapping[str, int] | None = None,
        batch_bytes: int = 8 * 2**20,
        memory_limit: str = STAGING_MEMORY_LIMIT,
    ) -> None:
        self.directory = Path(
            tempfile.mkdtemp(prefix=f"papra-staging-{os.getpid()}-", dir=directory)
        )
        _remove_orphans(self.directory.parent)
        self.path = self.directory / "staging.duckdb"
        self.batch_rows = batch_rows
        self.batch_rows_by_table = dict(batch_rows_by_table or {})
        self.batch_bytes = batch_bytes
        self.long_text_bytes = 0  # characters staged in texts of LONG_TEXT or more
        self.largest_text = ("", 0)  # (row id, characters) of the longest text of a document
        self._memory_limit = memory_limit
        self._limit_raised = False
        self._bytes: dict[str, int] = {}  # set -> characters of text buffered (wide tables)
        self._con: duckdb.DuckDBPyConnection | None = None  # opened by the first write
        self._closed = False
        self._buffers: dict[str, dict[str, list[Any]]] = {}  # set -> column -> values
        self._sets: dict[str, Staged] = {}
        self._created: set[str] = set()  # sets with a table in the file
        self._seq = itertools.count()
        # Full batches are written by a thread of their own. DuckDB takes the GIL back many
        # times while it reads a frame of Python strings, each time waiting behind the HTTP
        # threads: written inline, a 2,000-row batch of text held the caller for ~130 ms
        # instead of ~20, and the requests it should have been handing out ran dry meanwhile.
        self._batches: queue.Queue[tuple[str, pd.DataFrame] | None] = queue.Queue(maxsize=1)
        self._writer: threading.Thread | None = None
        self._failure: BaseException | None = None

    def add(self, name: str, table: str, rows: Iterable[dict[str, Any]]) -> None:
        """Stage rows (dicts keyed by the table's column names) in set ``name``.

        Rows are buffered column by column, which builds a batch's frame faster than a list
        of dicts would.
        """
        target = None
        batch_rows = self.batch_rows_by_table.get(table, self.batch_rows)
        wide = table in WIDE_TABLES
        for row in rows:
            if target is None:
                columns, sequence = target = self._buffer(name, table, row)
            for column, values in columns:
                values.append(row.get(column))
            sequence.append(next(self._seq))
            full = wide and self._count_text(name, row) >= self.batch_bytes
            if full or len(sequence) >= batch_rows:
                self._flush(name)
                target = None

    def _count_text(self, name: str, row: dict[str, Any]) -> int:
        """Add the row's text to the set's buffered size (characters: a bound on bytes good
        enough for batching) and return that size."""
        size = 0
        for value in row.values():
            if isinstance(value, str):
                length = len(value)
                size += length
                if length >= LONG_TEXT:
                    self.long_text_bytes += length
                if length > self.largest_text[1]:
                    self.largest_text = (str(row.get("id", "")), length)
        buffered = self._bytes[name] = self._bytes.get(name, 0) + size
        return buffered

    def _buffer(
        self, name: str, table: str, row: dict[str, Any]
    ) -> tuple[list[tuple[str, list[Any]]], list[int]]:
        """The set's column buffers; the first row staged in a set names its columns."""
        staged = self._sets.get(name)
        if staged is None:
            columns = tuple(c for c in TABLES[table].column_names if c in row)
            staged = self._sets[name] = Staged(name, table, columns)
        buffer = self._buffers.get(name)
        if buffer is None:
            buffer = self._buffers[name] = {c: [] for c in (*staged.columns, "_seq")}
        return [(c, buffer[c]) for c in staged.columns], buffer["_seq"]

    def staged(self, name: str) -> Staged | None:
        """The set, once :meth:`close` has flushed it; ``None`` when nothing was staged."""
        return self._sets.get(name)

    @property
    def empty(self) -> bool:
        """Nothing was staged, so there is no file to attach."""
        return not self._sets

    def _flush(self, name: str) -> None:
        """Hand the set's full batch to the writer thread (started on first use)."""
        frame = self._frame(name)
        if frame is None:
            return
        self._raise_failure()
        if self._writer is None:
            self._writer = threading.Thread(
                target=self._write_batches, name="papra-staging", daemon=True
            )
            self._writer.start()
        self._batches.put((name, frame))

    def _frame(self, name: str) -> pd.DataFrame | None:
        self._bytes.pop(name, None)
        columns = self._buffers.pop(name, None)
        if not columns or not columns["_seq"] or self._closed:
            return None
        return pd.DataFrame(columns)

    def _write_batches(self) -> None:
        while (batch := self._batches.get()) is not None:
            if self._failure is None:  # after a failure, only drain the queue
                try:
                    self._write(*batch)
                except BaseException as exc:  # raised in the caller's thread, see _raise_failure
                    self._failure = exc

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = open_duckdb(self.path)
            self._con.execute(f"SET memory_limit = '{self._memory_limit}'").fetchall()
            self._con.execute("SET preserve_insertion_order = false").fetchall()
        return self._con

    def _write(self, name: str, frame: pd.DataFrame) -> None:
        con = self._connection()
        longest, total = self._text_size(name, frame)
        if not self._fit_limit(con, longest):
            self._write_into(con, f'"{name}"', name, frame)
            staged = self._sets[name]
            self._sets[name] = dataclasses.replace(staged, main_text=staged.main_text + total)
            return
        # A batch holding a text longer than OVERFLOW_TEXT goes to a table of its own,
        # checkpointed at once: DuckDB keeps committed long texts in memory until a checkpoint
        # writes them, and a checkpoint rewrites the whole last row group of a table appended
        # to (batch after batch, it re-read every text staged so far, and failed at ~30 MB).
        staged = self._sets[name]
        part = f"{name}#{len(staged.long_parts) + 1}"
        sequence = frame["_seq"]
        long_part = (part, int(sequence.min()), int(sequence.max()))
        self._sets[name] = dataclasses.replace(staged, long_parts=(*staged.long_parts, long_part))
        self._write_into(con, f'"{part}"', name, frame, create=True)
        con.execute("CHECKPOINT").fetchall()

    def _text_size(self, name: str, frame: pd.DataFrame) -> tuple[int, int]:
        """Characters of the batch's longest row of text (the longest value of each text
        column, summed) and of all its text; zeros outside :data:`WIDE_TABLES`."""
        longest = total = 0
        if self._sets[name].table in WIDE_TABLES:
            for column in frame.columns:
                if frame[column].dtype.kind not in "biufcmM":  # text, in whatever dtype
                    lengths = [len(v) for v in frame[column] if isinstance(v, str)]
                    longest += max(lengths, default=0)
                    total += sum(lengths)
        return longest, total

    def _fit_limit(self, con: duckdb.DuckDBPyConnection, longest: int) -> bool:
        """Raise the file's memory limit for a batch holding a text too long for it (a batch
        of one row: see the class), and lower it again after: the insert holds the batch's
        text, about once, in memory until it ends. Returns whether the batch holds a text
        longer than :data:`OVERFLOW_TEXT` (``longest`` characters, see :meth:`_text_size`)."""
        if longest <= OVERFLOW_TEXT:
            if self._limit_raised:
                con.execute(f"SET memory_limit = '{self._memory_limit}'").fetchall()
                self._limit_raised = False
            return False
        needed = 3 * longest + 16 * 2**20
        if needed > size_in_bytes(self._memory_limit):
            con.execute(f"SET memory_limit = '{needed // 2**20 + 1}MB'").fetchall()
            self._limit_raised = True
        elif self._limit_raised:
            con.execute(f"SET memory_limit = '{self._memory_limit}'").fetchall()
            self._limit_raised = False
        return True

    def _write_into(
        self,
        con: duckdb.DuckDBPyConnection,
        target: str,
        name: str,
        frame: pd.DataFrame,
        *,
        create: bool = False,
    ) -> None:
        """Append a batch of set ``name`` to table ``target`` of ``con`` (created first, or
        always with ``create``)."""
        staged = self._sets[name]
        table = TABLES[staged.table]
        casts = select_typed(frame, table, staged.columns)
        select = f'SELECT {casts}, CAST("_seq" AS BIGINT) AS "_seq" FROM _papra_batch'
        if name in self._created and not create:
            statement = f"INSERT INTO {target} {select}"
        else:
            statement = f"CREATE TABLE {target} AS {select}"
        con.register("_papra_batch", frame)
        try:
            con.execute(statement).fetchall()
        except duckdb.InvalidInputException as exc:
            if not is_lone_surrogate_error(exc):
                raise
            # Rare, so searched for only once DuckDB refuses a batch.
            changed = replace_lone_surrogates(frame)
            log.warning(
                "%s %s: text holds lone UTF-16 surrogates (half of a character pair, which "
                "UTF-8 cannot store); stored with U+FFFD in their place",
                staged.table,
                ", ".join(changed),
            )
            con.register("_papra_batch", frame)
            con.execute(statement).fetchall()
        if not create:
            self._created.add(name)
        con.unregister("_papra_batch")

    def attach(self, con: duckdb.DuckDBPyConnection) -> None:
        """Make every staged set readable from ``con`` as ``papra_staging."<set>"``; nothing
        when nothing was staged.

        When no batch was full, nothing was written yet and there is no file: the rows go
        straight into an in-memory database attached to ``con``. A small run (a quick sync,
        a drain of webhook deliveries) so spares creating, checkpointing and attaching a file,
        ~20 ms of CPU; its rows are fewer than a batch per set, so memory stays bounded.
        Otherwise the rest is written to the file, which is attached read-only.
        """
        if self._writer is not None or self._con is not None or self._closed:
            self.close()
            if not self.empty:
                con.execute(f"ATTACH '{self.path}' AS {STAGING_ALIAS} (READ_ONLY)").fetchall()
            return
        self._closed = True  # whatever happens next, nothing goes to the file any more
        buffers = self._buffers.items()
        frames = {name: pd.DataFrame(columns) for name, columns in buffers if columns["_seq"]}
        self._buffers.clear()
        if not frames:
            return
        con.execute(f"ATTACH ':memory:' AS {STAGING_ALIAS}").fetchall()
        for name, frame in frames.items():
            self._write_into(con, f'{STAGING_ALIAS}."{name}"', name, frame)

    def close(self) -> None:
        """Write every batch and release the file so the warehouse can attach it.

        Raises what writing a batch raised, if anything did.
        """
        if self._closed:
            return
        try:
            if self._writer is not None:
                self._batches.put(None)
                self._writer.join()
                self._writer = None
            self._raise_failure()
            for name in list(self._buffers):  # what is left is written here, nothing runs now
                frame = self._frame(name)
                if frame is not None:
                    self._write(name, frame)
            for name, staged in list(self._sets.items()):
                if name not in self._created:
                    self._sets[name] = dataclasses.replace(staged, main=False)
        finally:
            self._closed = True
            if self._con is not None:
                self._con.close()
                self._con = None

    def remove(self) -> None:
        """Close and delete the directory. A failure to write is not raised again here: a
        run that fails has its own error, which this must not replace."""
        with contextlib.suppress(Exception):
            self.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
