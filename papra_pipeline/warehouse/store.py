"""Opening the DuckDB file, applying migrations, and the bulk merges the sync engine uses.

DuckDB allows one writing process, and while it holds the file no other process can open it.
So writers open the file only for the final merge (open, write everything in one transaction,
close) and retry briefly when another process holds the lock; readers open it read-only.
Every write goes through a pandas frame registered with DuckDB (or a staged set) and set-based
SQL statements, never row by row; the write runs under a DuckDB memory limit, and large sets are
written in parts so that what does not fit spills to disk.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from papra_pipeline import __version__
from papra_pipeline.settings import MEMORY_SIZE, Settings
from papra_pipeline.warehouse.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    TABLES,
    Table,
    view_ddl,
)
from papra_pipeline.warehouse.staging import STAGING_ALIAS, Staged, Staging

log = logging.getLogger("papra_pipeline.warehouse")

_LOCK_MESSAGE = re.compile(r"lock", re.IGNORECASE)
_PID = re.compile(r"PID (\d+)")

# DuckDB's default (80% of RAM) let a first sync of 20,000 documents reach 800 MB; under this
# limit what does not fit spills to ``<warehouse>.tmp``. A full sync of 100,000 documents
# (2 KB of text each) peaked at ~300 MB with it (394 MB under 192MB), and a write changing
# every one of 200,000 documents and texts fits. A higher limit (PAPRA_WRITE_MEMORY_LIMIT)
# trades memory for a little speed.
DEFAULT_WRITE_MEMORY_LIMIT = Settings.write_memory_limit
# Rows per statement when a large set is merged in parts (see WriteSession._parts): a part of
# documents joined to their text must fit the default limit (25,000 failed under 96MB).
ROWS_PER_STATEMENT = 8_000


class WarehouseError(Exception):
    """Base class for warehouse problems a user can act on."""


class WarehouseLockedError(WarehouseError):
    """Another process holds the DuckDB file open for writing."""


class WarehouseVersionError(WarehouseError):
    """The file was written by a newer papra-pipeline with a schema this version cannot read."""


class WarehouseMissingError(WarehouseError):
    """A read was asked of a warehouse file that does not exist yet."""


@dataclass
class MergeCounts:
    """What one merge did to a table."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0

    def __add__(self, other: MergeCounts) -> MergeCounts:
        return MergeCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.removed + other.removed,
        )

    @property
    def written(self) -> int:
        return self.inserted + self.updated + self.removed


class Warehouse:
    """The DuckDB file holding the analytics copy of Papra.

    Args:
        path: the DuckDB file; created with its schema on the first write.
        lock_timeout: how long to keep retrying while another process holds the file.
        write_memory_limit: DuckDB's memory limit for a write (``PAPRA_WRITE_MEMORY_LIMIT``).
        sleep: injectable for tests.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        lock_timeout: float = 30.0,
        write_memory_limit: str = DEFAULT_WRITE_MEMORY_LIMIT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # Checked here because the write puts it into a SET statement.
        if not MEMORY_SIZE.fullmatch(write_memory_limit):
            raise WarehouseError(
                f"write_memory_limit {write_memory_limit!r} is not a size such as 96MB or 1GB."
            )
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self.write_memory_limit = write_memory_limit
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"Warehouse({str(self.path)!r})"

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection, for analytics and for the sync's look at what it has."""
        if not self.path.exists():
            raise WarehouseMissingError(
                f"No warehouse at {self.path}: run `papra-pipeline sync` first."
            )
        con = self._connect(read_only=True)
        try:
            check_schema_version(con, self.path)
            yield con
        finally:
            con.close()

    @contextmanager
    def write(self, staging: Staging | None = None) -> Iterator[WriteSession]:
        """One transaction: everything written inside commits together or not at all.

        ``staging`` (closed) is attached read-only so its sets can be merged by name.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._connect(read_only=False)
        try:
            # Bounded memory: joins, sorts and temporary tables beyond the limit spill to the
            # file's default temp directory (``<warehouse>.tmp``), removed on close.
            con.execute(f"SET memory_limit = '{self.write_memory_limit}'").fetchall()
            con.execute("SET preserve_insertion_order = false").fetchall()
            # Statements of a large write run for seconds; no progress bars in a sync's output.
            con.execute("SET enable_progress_bar = false").fetchall()
            migrate(con, self.path)
            if staging is not None:
                staging.close()
                if not staging.empty:
                    con.execute(
                        f"ATTACH '{staging.path}' AS {STAGING_ALIAS} (READ_ONLY)"
                    ).fetchall()
            con.execute("BEGIN TRANSACTION")
            try:
                yield WriteSession(con)
                con.execute("COMMIT")
            except BaseException as exc:
                con.execute("ROLLBACK")
                if isinstance(exc, duckdb.Error):
                    raise WarehouseError(
                        f"Writing {self.path} failed and was rolled back: {exc}"
                    ) from exc
                raise
        finally:
            con.close()

    def ensure_schema(self) -> None:
        """Create or upgrade the file without writing any data.

        A current file is only opened read-only, so readers are not locked out for nothing.
        """
        if self.path.exists():
            con = self._connect(read_only=True)
            try:
                if check_schema_version(con, self.path) == SCHEMA_VERSION:
                    return
            finally:
                con.close()
        with self.write():
            pass

    def _connect(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.05
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.IOException as exc:
                if not _LOCK_MESSAGE.search(str(exc)):
                    raise WarehouseError(f"Cannot open {self.path}: {exc}") from exc
                if time.monotonic() + delay > deadline:
                    holder = _PID.search(str(exc))
                    who = f"process {holder.group(1)}" if holder else "another process"
                    raise WarehouseLockedError(
                        f"The DuckDB file {self.path} is locked by {who} (probably another "
                        f"sync); waited {self.lock_timeout:.0f}s. Try again when it finishes."
                    ) from None
                self._sleep(delay)
                delay = min(delay * 2, 1.0)


def check_schema_version(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """The file's schema version (0 when empty); refuses a file from a newer version."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = '_papra_schema_version'"
    ).fetchall()[0][0]
    if not exists:
        return 0
    version = con.execute("SELECT coalesce(max(version), 0) FROM _papra_schema_version").fetchall()
    found = int(version[0][0])
    if found > SCHEMA_VERSION:
        raise WarehouseVersionError(
            f"{path} was written by a newer papra-pipeline (schema version {found}); this "
            f"version ({__version__}) understands up to {SCHEMA_VERSION}. Upgrade papra-pipeline "
            "or point PAPRA_DUCKDB_PATH at another file."
        )
    return found


def migrate(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Bring the file to SCHEMA_VERSION in one transaction, views included.

    A current file is left alone, so a sync's write changes nothing but data (a view change
    therefore comes with a new schema version, even one with no table statement).
    """
    current = check_schema_version(con, path)
    if current == SCHEMA_VERSION:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version]:
                con.execute(statement)
            con.execute(
                "INSERT INTO _papra_schema_version VALUES (?, now(), ?)", [version, __version__]
            )
            log.info("warehouse %s migrated to schema version %d", path, version)
        for statement in view_ddl():
            con.execute(statement)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


Rows = pd.DataFrame | Staged | None
"""What a merge reads: a frame, a set staged during the run, or nothing."""


def _is_empty(rows: Rows) -> bool:
    return rows is None or (isinstance(rows, pd.DataFrame) and rows.empty)


class WriteSession:
    """Bulk writes inside one open transaction.

    Each method takes rows as a pandas frame (columns named after the table's) or as a
    :class:`Staged` set, deduplicated on the table's key (the last row written wins), and
    writes them with one statement.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._sources = 0

    def _run(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> tuple:
        """Execute and drain one statement (DuckDB refuses new work while a result is open).

        Returns the first row; for DML that is the number of rows affected.
        """
        rows = self.con.execute(sql, params).fetchall()
        return rows[0] if rows else ()

    def _name(self) -> str:
        self._sources += 1
        return f"_papra_source_{self._sources}"

    def _register(self, frame: pd.DataFrame) -> str:
        name = self._name()
        self.con.register(name, frame)
        return name

    def _select(
        self, table: Table, rows: pd.DataFrame | Staged, where: str | None = None
    ) -> tuple[str, list[str]]:
        """A SELECT of the rows, one per key and typed like the table (only those matching
        ``where``, a condition on the columns), and its columns."""
        keys = _quoted(table.key)
        if isinstance(rows, Staged):
            # The last row per key, found on narrow columns first: a window over the wide rows
            # (document text) would have to hold them all in memory. ``where`` goes on both
            # scans, so a part of a large set only ever holds its own keys.
            part = f" WHERE {where}" if where is not None else ""
            select = (
                f"SELECT {', '.join(f's.{_quoted([c])}' for c in rows.columns)} "
                f"FROM {rows.qualified} s JOIN (SELECT {keys}, max(_seq) AS _seq "
                f"FROM {rows.qualified}{part} GROUP BY ALL) latest USING ({keys}, _seq){part}"
            )
            return select, list(rows.columns)
        unknown = set(rows.columns) - set(table.column_names)
        unknown |= set(rows.columns) & {"_first_seen_at", "_last_changed_at"}
        if unknown:
            raise ValueError(f"{table.name}: unknown columns {sorted(unknown)}")
        columns = [c for c in table.column_names if c in rows.columns]
        frame = rows.drop_duplicates(subset=list(table.key), keep="last")
        casts = ", ".join(f'CAST("{c}" AS {table.column_type(c)}) AS "{c}"' for c in columns)
        select = f"SELECT {casts} FROM {self._register(frame)}"
        if where is not None:
            select = f"SELECT * FROM ({select}) WHERE {where}"
        return select, columns

    def _source(
        self, table: Table, rows: pd.DataFrame | Staged, where: str | None = None
    ) -> tuple[str, list[str], int]:
        """Materialize the rows as a temporary table, for merges that read them more than once.

        Returns its name, its columns and its row count.
        """
        select, columns = self._select(table, rows, where)
        name = self._name()
        count = self._run(f"CREATE TEMP TABLE {name} AS {select}")[0]
        return name, columns, count

    def _empty(self, table: Table) -> bool:
        """Whether the table holds no row yet (a first sync), in this transaction's view.

        Then every row is new: one streaming INSERT replaces the temporary tables and joins of
        a merge, which is faster and keeps a large first sync within the memory limit.
        """
        return not self._run(f"SELECT EXISTS (SELECT 1 FROM {table.name})")[0]

    def _insert_parts(self, table: Table, columns: list[str]) -> tuple[list[str], list[str]]:
        """Columns and values (three ``?`` for the tracking timestamps) of a new row."""
        names = [*columns, "_first_seen_at", "_last_changed_at", "_synced_at"]
        values = [*(f's."{c}"' for c in columns), "?", "?", "?"]
        if "is_removed" in table.column_names and "is_removed" not in columns:
            names.append("is_removed")
            values.append("false")
        return names, values

    def upsert(
        self, table_name: str, rows: Rows, now: datetime, *, update: bool = True
    ) -> MergeCounts:
        """Insert new rows and rewrite rows whose ``_hash`` changed (or that come back).

        Columns missing from the rows keep their stored values, so a scan that does not carry
        ``content`` never blanks it. ``_first_seen_at`` is kept; ``_last_changed_at`` moves only
        when the hash changes. With ``update=False`` existing rows are left alone (a partial
        view of a record, such as a tag embedded in a document, must not overwrite the full one).
        """
        table = TABLES[table_name]
        if _is_empty(rows):
            return MergeCounts()
        if self._empty(table):
            select, columns = self._select(table, rows)
            names, values = self._insert_parts(table, columns)
            inserted = self._run(
                f"INSERT INTO {table.name} ({_quoted(names)}) "
                f"SELECT {', '.join(values)} FROM ({select}) s",
                [now] * 3,
            )[0]
            return MergeCounts(inserted=inserted)
        counts = MergeCounts()
        for part, where in self._parts(table, rows):
            source, columns, total = self._source(table, part, where)
            counts += self._merge(table, source, columns, total, now, update=update)
            self._run(f"DROP TABLE {source}")
        return counts

    def _merge(
        self,
        table: Table,
        source: str,
        columns: list[str],
        total: int,
        now: datetime,
        *,
        update: bool = True,
        keep_when_null: tuple[str, ...] = (),
    ) -> MergeCounts:
        """The merge behind :meth:`upsert`; ``keep_when_null`` columns keep the stored value
        where the source has none.

        A changed row is deleted and inserted again rather than updated in place: DuckDB holds
        in-place updates in memory it cannot spill until the commit (about 6 KB per document,
        so a run that changes 100,000 documents needed 600 MB), while new rows and temporary
        tables spill to disk under the memory limit.
        """
        on = " AND ".join(f't."{k}" = s."{k}"' for k in table.key)
        changed = 't."_hash" IS DISTINCT FROM s."_hash"'
        if "is_removed" in table.column_names:
            changed = f"({changed} OR t.is_removed)"
        if not update:
            changed = "false"
        reset_removal = "is_removed" in table.column_names and "is_removed" not in columns

        def value(c: str) -> str:
            if c in table.key or (c in columns and c not in keep_when_null):
                return f's."{c}"'
            if c in columns:
                return f'coalesce(s."{c}", t."{c}")'
            if c in ("_last_changed_at", "_synced_at"):
                return "?"
            if reset_removal and c in ("is_removed", "removed_at"):
                return "false" if c == "is_removed" else "NULL"
            return f't."{c}"'

        row = [f'CAST({value(c)} AS {table.column_type(c)}) AS "{c}"' for c in table.column_names]
        # The rewritten rows first, so that they are found against the table as it was.
        rewritten = self._name()
        updated = self._run(
            f"""CREATE TEMP TABLE {rewritten} AS SELECT {", ".join(row)}
                FROM {source} s JOIN {table.name} t ON {on} WHERE {changed}""",
            [now] * 2,
        )[0]
        names, values = self._insert_parts(table, columns)
        inserted = self._run(
            f"""INSERT INTO {table.name} ({_quoted(names)}) SELECT {", ".join(values)}
                FROM {source} s WHERE NOT EXISTS (SELECT 1 FROM {table.name} t WHERE {on})""",
            [now] * 3,
        )[0]
        if updated:
            self._run(f"DELETE FROM {table.name} t USING {rewritten} s WHERE {on}")
            self._run(
                f"INSERT INTO {table.name} ({_quoted(table.column_names)}) "
                f"SELECT * FROM {rewritten}"
            )
        self._run(f"DROP TABLE {rewritten}")
        return MergeCounts(inserted=inserted, updated=updated, unchanged=total - inserted - updated)

    def upsert_documents(
        self, documents: Rows, texts: Rows, now: datetime
    ) -> tuple[MergeCounts, int]:
        """Documents and their text, returning the document counts and the texts written.

        New and changed documents carry their text into the same statement: updating the text
        of a large initial sync afterwards would hold every string in the transaction's memory.
        Large sets go in parts (:meth:`_parts`), each with its own texts. Texts of documents
        that did not otherwise change (re-verified, extracted late) are updated on their own;
        there are few of them.
        """
        table = TABLES["documents"]
        first = self._empty(table)
        counts, written = MergeCounts(), 0
        if not _is_empty(documents):
            for part, where in self._parts(table, documents):
                if first:
                    counts += self._insert_documents(part, texts, now, where)
                else:
                    part_counts, part_written = self._merge_documents(part, texts, now, where)
                    counts, written = counts + part_counts, written + part_written
            if first and not _is_empty(texts):  # every row is new: its text was written
                written = self._run("SELECT count(content) FROM documents")[0]
        if not _is_empty(texts) and not first:
            others = None
            if not _is_empty(documents):
                select, _ = self._select(table, documents)
                others = f"id NOT IN (SELECT id FROM ({select}))"
            source, _, _ = self._source(table, texts, others)
            written += self._update_from(table, source, ["id", "content", "_content_synced_at"])
        return counts, written

    def _parts(
        self, table: Table, rows: pd.DataFrame | Staged
    ) -> list[tuple[pd.DataFrame | Staged, str | None]]:
        """A large set as parts of about ``ROWS_PER_STATEMENT`` rows, each written by its own
        statements in the same transaction, with the condition selecting it (if any).

        A join of documents with their text holds one side's rows in memory: with 2 KB of text
        and 2 KB of ``_raw`` per document, 200,000 new documents in one statement exceeded a
        192 MB limit, in parts they stay under the default. A frame is sliced (it is scanned
        only once); a staged set is split on a hash of the key, which also picks the texts of
        the part's documents.
        """
        if isinstance(rows, pd.DataFrame):
            frame = rows.drop_duplicates(subset=list(table.key), keep="last")
            size = math.ceil(len(frame) / math.ceil(len(frame) / ROWS_PER_STATEMENT))
            return [(frame.iloc[at : at + size], None) for at in range(0, len(frame), size)]
        total = self._run(f"SELECT count(*) FROM {rows.qualified}")[0]
        parts = math.ceil(total / ROWS_PER_STATEMENT)
        if parts <= 1:
            return [(rows, None)]
        keys = _quoted(table.key)
        return [(rows, f"hash({keys}) % {parts} = {part}") for part in range(parts)]

    def _insert_documents(
        self, documents: pd.DataFrame | Staged, texts: Rows, now: datetime, where: str | None
    ) -> MergeCounts:
        """One part of :meth:`upsert_documents` into a table that was empty (see :meth:`_empty`):
        one INSERT joining each document to its text (texts of other documents have no row)."""
        table = TABLES["documents"]
        select, columns = self._select(table, documents, where)
        names, values = self._insert_parts(table, columns)
        source = f"({select}) s"
        if not _is_empty(texts):
            text_select, _ = self._select(table, texts, where)
            source += f" LEFT JOIN ({text_select}) x USING (id)"
            names += ["content", "_content_synced_at"]
            values += ["x.content", "x._content_synced_at"]
        inserted = self._run(
            f"INSERT INTO documents ({_quoted(names)}) SELECT {', '.join(values)} FROM {source}",
            [now] * 3,
        )[0]
        return MergeCounts(inserted=inserted)

    def _merge_documents(
        self, documents: pd.DataFrame | Staged, texts: Rows, now: datetime, where: str | None
    ) -> tuple[MergeCounts, int]:
        """One part of :meth:`upsert_documents` into a table that has rows (see :meth:`_merge`)."""
        table = TABLES["documents"]
        source, columns, total = self._source(table, documents, where)
        written = 0
        if not _is_empty(texts):
            text_select, _ = self._select(table, texts, where)
            joined = self._name()
            self._run(
                f"""CREATE TEMP TABLE {joined} AS
                    SELECT d.*, x.content, x._content_synced_at
                    FROM {source} d LEFT JOIN ({text_select}) x USING (id)"""
            )
            self._run(f"DROP TABLE {source}")
            written = self._run(
                f"""SELECT count(*) FROM {joined} s LEFT JOIN documents t USING (id)
                    WHERE s.content IS NOT NULL AND s.content IS DISTINCT FROM t.content"""
            )[0]
            source, columns = joined, [*columns, "content", "_content_synced_at"]
        counts = self._merge(
            table, source, columns, total, now, keep_when_null=("content", "_content_synced_at")
        )
        self._run(f"DROP TABLE {source}")
        return counts, written

    def update_columns(self, table_name: str, rows: Rows) -> int:
        """Set the rows' non-key columns on existing rows where a data column differs."""
        table = TABLES[table_name]
        if _is_empty(rows):
            return 0
        source, columns, _ = self._source(table, rows)
        return self._update_from(table, source, columns)

    def _update_from(self, table: Table, source: str, columns: list[str]) -> int:
        # Bookkeeping columns (``_content_synced_at``...) are written along, never compared.
        data = [c for c in columns if c not in table.key and not c.startswith("_")]
        on = " AND ".join(f't."{k}" = s."{k}"' for k in table.key)
        differs = " OR ".join(f't."{c}" IS DISTINCT FROM s."{c}"' for c in data)
        sets = ", ".join(f'"{c}" = s."{c}"' for c in columns if c not in table.key)
        count = self._run(
            f"SELECT count(*) FROM {source} s JOIN {table.name} t ON {on} WHERE {differs}"
        )[0]
        if count:
            self._run(
                f"MERGE INTO {table.name} t USING {source} s ON {on} "
                f"WHEN MATCHED AND ({differs}) THEN UPDATE SET {sets}"
            )
        return count

    def replace_children(
        self,
        table_name: str,
        parent_column: str,
        parent_ids: Sequence[str],
        rows: Rows,
        now: datetime,
    ) -> MergeCounts:
        """Make the rows of ``parent_ids`` equal to ``rows``, touching only what differs.

        Used for a document's tags and custom-property values, which are rebuilt from the scan
        whenever the document changes: rows no longer present are deleted, new ones inserted,
        changed ones rewritten, identical ones left alone.
        """
        table = TABLES[table_name]
        if not parent_ids:
            return MergeCounts()
        parents = self._register(pd.DataFrame({"parent_id": list(dict.fromkeys(parent_ids))}))
        if _is_empty(rows):
            rows = pd.DataFrame(columns=[c for c in table.column_names if c != "_synced_at"])
        elif isinstance(rows, pd.DataFrame):
            rows = rows.drop(columns=["_synced_at"], errors="ignore")
        if self._empty(table):
            select, columns = self._select(table, rows)
            columns = [c for c in columns if c != "_synced_at"]
            inserted = self._run(
                f"INSERT INTO {table.name} ({_quoted([*columns, '_synced_at'])}) "
                f"SELECT {_quoted(columns)}, ? FROM ({select}) s",
                [now],
            )[0]
            return MergeCounts(inserted=inserted)
        source, columns, total = self._source(table, rows)
        columns = [c for c in columns if c != "_synced_at"]
        key_match = " AND ".join(f't."{k}" = s."{k}"' for k in table.key)
        scope = f't."{parent_column}" IN (SELECT parent_id FROM {parents})'
        removed = self._run(
            f"""DELETE FROM {table.name} t WHERE {scope}
                AND NOT EXISTS (SELECT 1 FROM {source} s WHERE {key_match})"""
        )[0]
        data = [c for c in columns if c not in table.key]
        differs = " OR ".join(f't."{c}" IS DISTINCT FROM s."{c}"' for c in data) or "false"
        inserted, updated = self._run(
            f"""SELECT count(*) FILTER (WHERE t."{table.key[0]}" IS NULL),
                       count(*) FILTER (WHERE t."{table.key[0]}" IS NOT NULL AND ({differs}))
                FROM {source} s LEFT JOIN {table.name} t ON {key_match}"""
        )
        if inserted or updated:
            sets = [f'"{c}" = s."{c}"' for c in data] + ['"_synced_at" = ?']
            self._run(
                f"""MERGE INTO {table.name} t USING {source} s ON {key_match}
                    WHEN MATCHED AND ({differs}) THEN UPDATE SET {", ".join(sets)}
                    WHEN NOT MATCHED THEN INSERT ({_quoted([*columns, "_synced_at"])})
                         VALUES ({", ".join(f's."{c}"' for c in columns)}, ?)""",
                [now, now],
            )
        return MergeCounts(
            inserted=inserted,
            updated=updated,
            unchanged=total - inserted - updated,
            removed=removed,
        )

    def insert_new(self, table_name: str, rows: Rows) -> MergeCounts:
        """Append rows whose key is not stored yet (activity entries never change)."""
        table = TABLES[table_name]
        if _is_empty(rows):
            return MergeCounts()
        if self._empty(table):
            select, columns = self._select(table, rows)
            inserted = self._run(
                f"INSERT INTO {table.name} ({_quoted(columns)}) SELECT {_quoted(columns)} "
                f"FROM ({select}) s"
            )[0]
            return MergeCounts(inserted=inserted)
        source, columns, total = self._source(table, rows)
        on = " AND ".join(f't."{k}" = s."{k}"' for k in table.key)
        inserted = self._run(
            f"""INSERT INTO {table.name} ({_quoted(columns)})
                SELECT {_quoted(columns)} FROM {source} s
                WHERE NOT EXISTS (SELECT 1 FROM {table.name} t WHERE {on})"""
        )[0]
        return MergeCounts(inserted=inserted, unchanged=total - inserted)

    def mark_removed(
        self,
        table_name: str,
        scope_column: str | None,
        scope_value: str | None,
        present_ids: Iterable[str],
        now: datetime,
    ) -> int:
        """Flag rows (of one scope, or all) that Papra no longer lists; nothing is deleted."""
        table = TABLES[table_name]
        present = self._register(pd.DataFrame({"id": pd.Series(list(present_ids), dtype=object)}))
        scope, params = "true", [now, now]
        if scope_column is not None:
            scope, params = f'"{scope_column}" = ?', [now, now, scope_value]
        return self._run(
            f"""UPDATE {table.name} SET is_removed = true, removed_at = ?, _synced_at = ?
                WHERE {scope} AND NOT is_removed
                AND id NOT IN (SELECT id FROM {present})""",
            params,
        )[0]

    def mark_purged(self, document_ids: Sequence[str], now: datetime) -> int:
        """Papra purged these documents (confirmed by a 404): keep the rows, set purged_at."""
        if not document_ids:
            return 0
        ids = self._register(pd.DataFrame({"id": list(document_ids)}))
        return self._run(
            f"""UPDATE documents SET purged_at = ?, _synced_at = ?
                WHERE purged_at IS NULL AND id IN (SELECT id FROM {ids})""",
            [now, now],
        )[0]

    def fill_definition_ids(self) -> int:
        """Values name their property by key; link those whose definition arrived later."""
        return self._run(
            """UPDATE document_custom_property_values v SET property_definition_id = d.id
               FROM custom_property_definitions d
               WHERE v.property_definition_id IS NULL AND NOT d.is_removed
                 AND d.organization_id = v.organization_id AND d.key = v.property_key"""
        )[0]

    def append(self, table_name: str, rows: Rows) -> int:
        """Append rows as they are (statistics snapshots, tagging-rule applications)."""
        return self.insert_new(table_name, rows).inserted

    def write_state(self, stream: str, organization_id: str, state: dict[str, Any]) -> None:
        """Sync cursors, written in the same transaction as the rows they describe."""
        self._run(
            """INSERT INTO _papra_sync_state VALUES (?, ?, ?, now())
               ON CONFLICT (stream, organization_id)
               DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at""",
            [stream, organization_id, json.dumps(state, sort_keys=True, default=str)],
        )

    def record_run(self, run: dict[str, Any], streams: Sequence[dict[str, Any]]) -> None:
        """One row for the run and one per stream, for the run log."""
        self._run(
            """INSERT INTO _papra_sync_runs VALUES
               ($run_id, $mode, $started_at, $finished_at, $status, $organizations,
                $requests, $retries, $duration_seconds, $error)""",
            run,
        )
        if streams:
            frame = self._register(pd.DataFrame([{"run_id": run["run_id"], **s} for s in streams]))
            self._run(
                f"""INSERT INTO _papra_sync_run_streams
                    SELECT run_id, stream, inserted, updated, unchanged, trashed, restored,
                           purged, removed, requests, retries, duration_seconds FROM {frame}"""
            )


def read_state(con: duckdb.DuckDBPyConnection, stream: str, organization_id: str) -> dict:
    """The last committed cursor of a stream for one organization ({} when none)."""
    rows = con.execute(
        "SELECT state FROM _papra_sync_state WHERE stream = ? AND organization_id = ?",
        [stream, organization_id],
    ).fetchall()
    return json.loads(rows[0][0]) if rows and rows[0][0] else {}
