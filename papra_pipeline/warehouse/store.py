"""Opening the DuckDB files, applying migrations, and the bulk merges the sync engine uses.

DuckDB allows one writing process, and while any process holds a file no other can write it.
So readers and syncs never share a file: readers open ``PAPRA_DUCKDB_PATH`` read-only, syncs
write their own file beside it and publish a complete copy after each change (see
:mod:`papra_pipeline.warehouse.publish`). A sync opens its file only for the final merge
(open, write everything in one transaction, close) and retries briefly when another sync
holds it. Every write goes through a pandas frame registered with DuckDB (or a staged set)
and set-based SQL statements, never row by row; the write runs under a DuckDB memory limit,
and large sets are written in parts so that what does not fit spills to disk.
"""

from __future__ import annotations

import json
import logging
import math
import os
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
from papra_pipeline.warehouse.connections import open_duckdb
from papra_pipeline.warehouse.migrations import MIGRATIONS, SCHEMA_VERSION
from papra_pipeline.warehouse.publish import (
    Publication,
    PublishState,
    WarehouseFiles,
    copy_file,
    install_adopted,
    published_state,
    read_publish_state,
    replace_readers_file,
    write_publish_state,
)
from papra_pipeline.warehouse.schema import TABLES, Table, view_ddl
from papra_pipeline.warehouse.staging import (
    Staged,
    Staging,
    replace_lone_surrogates,
    select_typed,
)

log = logging.getLogger("papra_pipeline.warehouse")

# Windows says "being used by another process" where POSIX systems report a lock.
_LOCK_MESSAGE = re.compile(r"lock|used by another process", re.IGNORECASE)
# DuckDB 2.0: 'Conflicting lock is held in /usr/bin/python3.11 (PID 4242)'.
_HOLDER = re.compile(r"held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")
# ...followed by this hint when the holder only reads (it could be joined read-only).
_READ_ONLY_HOLDER = re.compile(r"able to open this database in read-only mode")
# What DuckDB says of a file it cannot use (truncated, overwritten, checksum mismatch).
_DAMAGED = re.compile(
    r"not a valid DuckDB database|Corrupt database|checksum|Could not read enough bytes|WAL",
    re.IGNORECASE,
)

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


class WarehouseUnreadableError(WarehouseError):
    """DuckDB cannot open the file (not a DuckDB file, damaged, unreadable)."""


class WarehousePublishError(WarehouseError):
    """A sync's result is saved in its own file, but readers could not be given it yet."""


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
    """The DuckDB files holding the analytics copy of Papra.

    ``path`` is the readers' file: people, tools and the Dagster checks open it read-only,
    and nothing writes it in place. Syncs write their own file beside it and, after each
    transaction that changed what readers see, publish a complete copy over ``path`` (see
    :mod:`papra_pipeline.warehouse.publish`), so readers never block a sync.

    Args:
        path: the readers' file (``PAPRA_DUCKDB_PATH``); created with its schema by the first
            write.
        lock_timeout: how long to keep retrying while another process holds the sync's file
            (and, on Windows, while readers keep the readers' file from being replaced).
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
        self.files = WarehouseFiles(self.path)
        self.lock_timeout = lock_timeout
        self.write_memory_limit = write_memory_limit
        self._sleep = sleep
        self.last_publication: Publication | None = None

    def __repr__(self) -> str:
        return f"Warehouse({str(self.path)!r})"

    @property
    def private_path(self) -> Path:
        """The sync's own file, beside the readers' (``.papra.duckdb.sync``)."""
        return self.files.private

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection to the readers' file: the last sync that changed something."""
        with self._read(self.path) as con:
            yield con

    @contextmanager
    def read_private(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection to the sync's own file, for what a sync needs to know (its
        cursors, what it stored) and for the run log of syncs that changed nothing, which are
        not published. Before the first sync of this version there is only the readers' file.
        """
        source = self.private_path if self.private_path.exists() else self.path
        with self._read(source) as con:
            yield con

    def open_for_sync(self) -> duckdb.DuckDBPyConnection:
        """:meth:`ensure_schema`, then a read-only connection to the sync's file (as from
        :meth:`read_private`; the caller closes it), opening the file once when there is
        nothing to create, upgrade, recover or publish, as on most runs, instead of twice. An
        open costs ~15 ms of CPU, a tenth of what a quick sync with nothing to do costs.
        """
        con = self._open_current_private() if self._nothing_owed() else None
        if con is not None:
            return con
        self.ensure_schema()
        con = self._connect(self.private_path, read_only=True)
        try:
            check_schema_version(con, self.path)
        except BaseException:
            con.close()
            raise
        return con

    def _nothing_owed(self) -> bool:
        """Whether :meth:`ensure_schema` would find nothing to recover or publish, short of
        reading the schema version (see :meth:`_open_private`)."""
        files = self.files
        if not files.private.exists():
            return False
        state = read_publish_state(files)
        return state is not None and not state.pending and state.describes(files.readers)

    def _open_current_private(self) -> duckdb.DuckDBPyConnection | None:
        """The sync's file, read-only, if it holds the current schema; ``None`` when
        :meth:`ensure_schema` has something to do (an upgrade, a damaged file)."""
        try:
            con = self._connect(self.private_path, read_only=True)
        except WarehouseUnreadableError:
            return None
        try:
            if check_schema_version(con, self.path) == SCHEMA_VERSION:
                return con
        except BaseException:
            con.close()
            raise
        con.close()
        return None

    @contextmanager
    def _read(self, source: Path) -> Iterator[duckdb.DuckDBPyConnection]:
        if not source.exists():
            raise WarehouseMissingError(
                f"No warehouse at {self.path}: run `papra-pipeline sync` first."
            )
        con = self._connect(source, read_only=True)
        try:
            check_schema_version(con, self.path)
            yield con
        finally:
            con.close()

    @contextmanager
    def write(self, staging: Staging | None = None) -> Iterator[WriteSession]:
        """One transaction on the sync's file: everything written inside commits together or
        not at all. Then readers get it, unless the session's ``publish`` was cleared.

        ``staging``'s sets are attached (see :meth:`Staging.attach`) to be merged by name.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con, owed = self._open_private()
        try:
            # Bounded memory: joins, sorts and temporary tables beyond the limit spill to the
            # file's default temp directory (``.papra.duckdb.sync.tmp``), removed on close.
            con.execute(f"SET memory_limit = '{self.write_memory_limit}'").fetchall()
            con.execute("SET preserve_insertion_order = false").fetchall()
            # Statements of a large write run for seconds; no progress bars in a sync's output.
            con.execute("SET enable_progress_bar = false").fetchall()
            owed = self._migrate(con, owed)
            if staging is not None:
                staging.attach(con)
            con.execute("BEGIN TRANSACTION")
            try:
                session = WriteSession(con)
                yield session
                if session.publish and not owed:
                    # Said before the commit, so a run killed between its commit and the
                    # publish is published by the next one.
                    write_publish_state(self.files, PublishState(pending=True))
                    owed = True
                con.execute("COMMIT")
            except BaseException as exc:
                con.execute("ROLLBACK")
                if isinstance(exc, duckdb.Error):
                    raise WarehouseError(
                        f"Writing {self.path} failed and was rolled back: {exc}"
                    ) from exc
                raise
            if owed:
                con = self._publish(con)
        finally:
            if con is not None:
                con.close()

    def ensure_schema(self) -> None:
        """Create or upgrade the warehouse without writing any data; publish what a run
        killed after its commit left unpublished."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con, owed = self._open_private()
        try:
            if self._migrate(con, owed):
                try:
                    con = self._publish(con)
                except WarehousePublishError as exc:
                    # Readers keep the previous state; this run's own publish tries again.
                    log.warning("%s", exc)
        finally:
            if con is not None:
                con.close()

    def _migrate(self, con: duckdb.DuckDBPyConnection, owed: bool) -> bool:
        """Bring the sync's file to the current schema; returns whether a publish is owed.

        Readers get an upgrade as one new file, after the transaction that follows it (a
        reader holding the old file keeps the old schema until it reconnects).
        """
        if check_schema_version(con, self.path) < SCHEMA_VERSION:
            if not owed:
                write_publish_state(self.files, PublishState(pending=True))
                owed = True
            migrate(con, self.path)
        return owed

    def _open_private(self) -> tuple[duckdb.DuckDBPyConnection, bool]:
        """Open the sync's file for writing, recovering it first where needed.

        Returns the connection and whether readers are owed a publish (a run was killed
        between its commit and its publish, or nothing was published yet). Recovery always
        keeps what the readers' file holds: a file from an older version (readers' file
        only) becomes the sync's file on the first run; a readers' file an older version
        wrote since (its newest run is unknown to the sync's file) replaces the sync's file;
        a sync's file DuckDB cannot open is set aside and rebuilt from the readers' file.
        """
        files = self.files
        if not files.private.exists() and files.readers.exists():
            self._adopt(replace=False)
        con = self._connect_private()
        state = read_publish_state(files)
        if state is None or state.pending or not files.readers.exists():
            return con, True
        if not state.describes(files.readers):
            if self._readers_file_is_newer(con):
                log.warning(
                    "%s was written since the last publish (by an older papra-pipeline?) and "
                    "is newer than %s: the sync continues from it",
                    self.path,
                    files.private.name,
                )
                con = self._swap_private(con, lambda: self._adopt(replace=True))
            else:  # the same file, copied or touched: remember it as it is now
                write_publish_state(files, published_state(files))
        return con, False

    def _connect_private(self) -> duckdb.DuckDBPyConnection:
        try:
            return self._connect(self.private_path, read_only=False)
        except WarehouseUnreadableError as exc:
            if not (self.path.exists() and _DAMAGED.search(str(exc))):
                raise
            aside = self.private_path.with_name(self.private_path.name + ".unreadable")
            log.warning(
                "%s cannot be opened (%s); set aside as %s and rebuilt from %s",
                self.private_path.name,
                exc,
                aside.name,
                self.path.name,
            )
            os.replace(self.private_path, aside)
            Path(f"{self.private_path}.wal").unlink(missing_ok=True)
            self._adopt(replace=False)
            return self._connect(self.private_path, read_only=False)

    def _readers_file_is_newer(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Whether the readers' file has a newer schema than the sync's file, or records a
        successful sync the sync's file does not."""
        try:
            readers = open_duckdb(self.path, read_only=True)
        except duckdb.Error:  # held for writing by someone: cannot tell, keep the sync's
            return False
        try:
            theirs = _version_and_newest_run(readers)
        finally:
            readers.close()
        ours = _version_and_newest_run(con)
        if theirs is None or ours is None:
            return ours is None and theirs is not None
        if theirs[0] != ours[0]:
            return theirs[0] > ours[0]
        newest = theirs[1]
        if newest is None:
            return False
        known = con.execute("SELECT count(*) FROM _papra_sync_runs WHERE run_id = ?", [newest])
        return not known.fetchall()[0][0]

    def _adopt(self, *, replace: bool) -> None:
        """Make a copy of the readers' file the sync's file (see :meth:`_open_private`)."""
        files = self.files
        copy = files.adopting()
        copy_file(files.readers, copy)
        wal = Path(f"{files.readers}.wal")
        if wal.exists():
            # Committed by an older version killed before it checkpointed: fold it in.
            copy_file(wal, Path(f"{copy}.wal"))
            con = open_duckdb(copy)
            con.execute("CHECKPOINT").fetchall()
            con.close()
        if install_adopted(copy, files.private, replace=replace):
            write_publish_state(files, published_state(files))

    def _swap_private(
        self, con: duckdb.DuckDBPyConnection, swap: Callable[[], None]
    ) -> duckdb.DuckDBPyConnection:
        """Replace the sync's file while holding its lock, so no other sync writes the file
        being replaced (Windows cannot replace a file DuckDB holds: there it is closed first).
        """
        con.execute("CHECKPOINT").fetchall()
        if os.name == "nt":
            con.close()
            swap()
        else:
            swap()
            con.close()
        return self._connect(self.private_path, read_only=False)

    def _publish(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection | None:
        """Make a complete copy of the sync's file the readers' file.

        Returns the connection, or ``None`` once closed (Windows). The copy is made while the
        sync's file is still locked, so no other sync changes it meanwhile: a checkpoint first
        puts every committed change in the file (its WAL is then empty), and nothing writes it
        until the connection is closed. Windows does not let another handle read a file
        DuckDB holds for writing, so there the connection is closed first, and the copy's own
        handle keeps DuckDB writers out while it reads.
        """
        files = self.files
        started = time.perf_counter()
        con.execute("CHECKPOINT").fetchall()
        if os.name == "nt":
            con.close()
            con = None
        try:
            method = copy_file(files.private, files.copy)
            replaced = replace_readers_file(files, timeout=self.lock_timeout, sleep=self._sleep)
        except OSError as exc:
            raise WarehousePublishError(self._unpublished(f"copying it failed: {exc}")) from exc
        if not replaced:
            raise WarehousePublishError(
                self._unpublished(
                    f"another program kept {self.path.name} open for {self.lock_timeout:g}s "
                    "and Windows does not replace an open file. Close the notebooks, DuckDB "
                    "shells or BI tools that have it open"
                )
            )
        write_publish_state(files, published_state(files))
        self.last_publication = Publication(
            seconds=time.perf_counter() - started,
            size_bytes=files.readers.stat().st_size,
            method=method,
        )
        log.info(
            "published %s (%.1f MB, %s) in %.2fs",
            self.path,
            self.last_publication.size_bytes / 1e6,
            method,
            self.last_publication.seconds,
        )
        return con

    def _unpublished(self, reason: str) -> str:
        return (
            f"The sync's result is saved in {self.private_path}, but readers of {self.path} "
            f"still see the previous sync: {reason}; the next sync publishes it."
        )

    def _connect(self, path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.05
        while True:
            try:
                return open_duckdb(path, read_only=read_only)
            except duckdb.Error as exc:
                message = str(exc)
                if not (isinstance(exc, duckdb.IOException) and _LOCK_MESSAGE.search(message)):
                    raise WarehouseUnreadableError(f"Cannot open {path}: {exc}") from exc
                if time.monotonic() + delay > deadline:
                    raise WarehouseLockedError(self._locked(path, message)) from None
                self._sleep(delay)
                delay = min(delay * 2, 1.0)

    def _locked(self, path: Path, message: str) -> str:
        """Who holds ``path`` (with the pid and program DuckDB names) and what to do."""
        holder = _HOLDER.search(message)
        who = f"process {holder['pid']} ({holder['program']})" if holder else "another process"
        waited = f"waited {self.lock_timeout:g}s"
        if path != self.private_path:
            return (
                f"The DuckDB file {path} is locked by {who}, which opened it for writing; "
                f"{waited}. Nothing should write it (papra-pipeline replaces it after each "
                "sync): open it read-only, e.g. duckdb.connect(path, read_only=True) or "
                "`duckdb -readonly`."
            )
        if _READ_ONLY_HOLDER.search(message):
            what = (
                "it has the file open read-only: a sync reading it, or a program that opened "
                f"the sync's own file (readers should open {self.path.name} instead)"
            )
        else:
            what = "it is writing the file, so it is most likely another sync"
        return (
            f"The sync's file {path} is locked by {who}: {what}; {waited}. Run again when it "
            "is done (Dagster runs queue for it through the papra_duckdb pool), or stop that "
            f"process if it hangs. Readers of {self.path.name} never block a sync."
        )


def _version_and_newest_run(con: duckdb.DuckDBPyConnection) -> tuple[int, str | None] | None:
    """A warehouse file's schema version and newest successful run; ``None`` if it is not
    one (no run log yet)."""
    try:
        version = con.execute("SELECT max(version) FROM _papra_schema_version").fetchall()
        newest = con.execute(
            "SELECT run_id FROM _papra_sync_runs WHERE status = 'succeeded' "
            "ORDER BY finished_at DESC LIMIT 1"
        ).fetchall()
    except duckdb.CatalogException:
        return None
    return int(version[0][0] or 0), newest[0][0] if newest else None


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
            for statement in MIGRATIONS[version - 1]:
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
        # Whether readers get this transaction (a copy of the whole file) once it commits: a
        # sync that changed no rows clears it, and its run log reaches readers with the next.
        self.publish = True

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
        replaced = replace_lone_surrogates(frame)  # these frames are small: searched always
        if replaced:
            log.warning(
                "%s %s: text holds lone UTF-16 surrogates; stored with U+FFFD in their place",
                table.name,
                ", ".join(replaced),
            )
        casts = select_typed(frame, table, columns)
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
            # In parts too: `sync --verify` re-reads the text of every document, and comparing
            # 100,000 texts with the table in one statement ran out of the default 96 MB.
            for part, where in self._parts(table, texts):
                condition = " AND ".join(c for c in (others, where) if c) or None
                source, _, _ = self._source(table, part, condition)
                columns = ["id", "content", "_content_synced_at"]
                written += self._update_from(table, source, columns)
                self._run(f"DROP TABLE {source}")
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

    def drop_cascaded_links(self, rebuilt_document_ids: Sequence[str]) -> tuple[int, int]:
        """Drop what Papra deleted along with a tag or a definition; returns the tag links and
        the values dropped.

        Papra deletes a tag's links and a definition's values on every document, trashed ones
        included, and the trash list shows neither. So links to a removed tag go, and values
        of a removed definition go on documents that are trashed or purged; the values of live
        documents are linked again instead (see :meth:`link_values_to_current_definitions`).
        Documents rebuilt in this run (``rebuilt_document_ids``) hold what Papra sent now.
        """
        rebuilt = self._register(
            pd.DataFrame({"id": pd.Series(list(dict.fromkeys(rebuilt_document_ids)), dtype=object)})
        )
        links = self._run(
            f"""DELETE FROM document_tags dt USING tags t
                WHERE t.id = dt.tag_id AND t.is_removed
                  AND dt.document_id NOT IN (SELECT id FROM {rebuilt})"""
        )[0]
        removed_definitions = "SELECT id FROM custom_property_definitions WHERE is_removed"
        values = 0
        # Usually there is nothing to drop: ask that first, without reading the documents.
        if self._run(
            f"""SELECT EXISTS (SELECT 1 FROM document_custom_property_values
                WHERE property_definition_id IN ({removed_definitions}))"""
        )[0]:
            values = self._run(
                f"""DELETE FROM document_custom_property_values v USING documents d
                    WHERE v.property_definition_id IN ({removed_definitions})
                      AND d.id = v.document_id AND (d.is_deleted OR d.purged_at IS NOT NULL)
                      AND v.document_id NOT IN (SELECT id FROM {rebuilt})"""
            )[0]
        return links, values

    def follow_current_definitions(
        self, organization_ids: Sequence[str], rebuilt_document_ids: Sequence[str]
    ) -> tuple[int, int]:
        """Make stored values read as Papra reads them now; returns the values updated and
        the values dropped.

        Papra joins a document's values to the current definition (its name, and its key,
        which a rename regenerates) and option (its name), and deletes the values of a
        removed option. The trash list carries no values, so trashed documents keep what they
        had when last read: call this once the definitions and options of
        ``organization_ids`` are written. Documents rebuilt in this run hold what Papra sent;
        purged ones are left as they were last seen.
        """
        scope = self._register(
            pd.DataFrame({"id": pd.Series(list(organization_ids), dtype=object)})
        )
        rebuilt = self._register(
            pd.DataFrame({"id": pd.Series(list(dict.fromkeys(rebuilt_document_ids)), dtype=object)})
        )
        # Live documents need none of this: their list items carry the values as Papra reads
        # them, so a rename or a removed option changes their fingerprint and rebuilds them.
        stale = f"""v.document_id IN (
                        SELECT id FROM documents WHERE is_deleted AND purged_at IS NULL
                          AND organization_id IN (SELECT id FROM {scope})
                          AND id NOT IN (SELECT id FROM {rebuilt}))"""
        renamed = self._run(
            f"""UPDATE document_custom_property_values v
                SET property_name = d.name, property_key = d.key
                FROM custom_property_definitions d
                WHERE d.id = v.property_definition_id AND NOT d.is_removed AND {stale}
                  AND (v.property_name IS DISTINCT FROM d.name
                       OR v.property_key IS DISTINCT FROM d.key)"""
        )[0]
        options = self._name()
        self._run(
            f"""CREATE TEMP TABLE {options} AS
                WITH stored AS (
                    SELECT v.document_id, v.property_definition_id, v.option_ids,
                           v.option_names, unnest(v.option_ids) AS option_id,
                           generate_subscripts(v.option_ids, 1) AS position
                    FROM document_custom_property_values v
                    WHERE v.property_type IN ('select', 'multi_select') AND {stale}
                )
                SELECT s.document_id, s.property_definition_id,
                       coalesce(list(o.id ORDER BY s.position)
                                FILTER (WHERE o.id IS NOT NULL), []) AS ids,
                       coalesce(list(o.name ORDER BY s.position)
                                FILTER (WHERE o.id IS NOT NULL), []) AS names
                FROM stored s
                LEFT JOIN custom_property_options o
                  ON o.id = s.option_id AND NOT o.is_removed
                 AND o.property_definition_id = s.property_definition_id
                GROUP BY s.document_id, s.property_definition_id, s.option_ids, s.option_names
                HAVING ids IS DISTINCT FROM s.option_ids OR names IS DISTINCT FROM s.option_names"""
        )
        try:
            dropped = self._run(
                f"""DELETE FROM document_custom_property_values v USING {options} c
                    WHERE c.document_id = v.document_id
                      AND c.property_definition_id = v.property_definition_id
                      AND len(c.ids) = 0"""
            )[0]
            renamed_options = self._run(
                f"""UPDATE document_custom_property_values v
                    SET option_ids = c.ids, option_names = c.names,
                        raw_value = CASE v.property_type
                            WHEN 'select'
                                THEN json_object('name', c.names[1], 'optionId', c.ids[1])
                            ELSE to_json(list_transform(
                                generate_series(1, len(c.ids)),
                                lambda i: json_object('name', c.names[i], 'optionId', c.ids[i])))
                        END
                    FROM {options} c
                    WHERE c.document_id = v.document_id
                      AND c.property_definition_id = v.property_definition_id"""
            )[0]
        finally:
            self._run(f"DROP TABLE {options}")
        return renamed + renamed_options, dropped

    def link_values_to_current_definitions(self) -> int:
        """Values name their property by key only. Link those with no definition yet, or a
        removed one, to the organization's current definition of that key: a definition
        deleted and re-created under the same name keeps the key and gets a new id, and a
        value set again under it looks unchanged in the document list."""
        return self._run(
            """UPDATE document_custom_property_values v SET property_definition_id = d.id
               FROM custom_property_definitions d
               WHERE NOT d.is_removed
                 AND d.organization_id = v.organization_id AND d.key = v.property_key
                 AND (v.property_definition_id IS NULL OR v.property_definition_id IN (
                      SELECT id FROM custom_property_definitions WHERE is_removed))"""
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
                    (run_id, stream, inserted, updated, unchanged, trashed, restored, purged,
                     removed, requests, retries, duration_seconds, untyped)
                    SELECT run_id, stream, inserted, updated, unchanged, trashed, restored,
                           purged, removed, requests, retries, duration_seconds, untyped
                    FROM {frame}"""
            )

    def untyped_values(self, organization_ids: Sequence[str]) -> list[tuple]:
        """``(organization_id, document_id, field, raw_value, reason)`` of each value still
        listed as untyped for documents of these organizations that Papra has not purged."""
        if not organization_ids:
            return []
        return self.con.execute(
            """SELECT u.organization_id, u.document_id, u.field, u.raw_value, u.reason
               FROM _papra_untyped_values u JOIN documents d ON d.id = u.document_id
               WHERE d.purged_at IS NULL AND u.organization_id IN (SELECT unnest(?))
               ORDER BY ALL""",
            [list(organization_ids)],
        ).fetchall()

    def replace_untyped_values(
        self, document_ids: Sequence[str], rows: Sequence[dict[str, Any]]
    ) -> None:
        """Make the list of values that could not be typed equal ``rows`` for these documents
        (those written this run): what a later run types or no longer sees leaves the list."""
        if document_ids:
            ids = self._register(pd.DataFrame({"id": list(dict.fromkeys(document_ids))}))
            self._run(
                f"DELETE FROM _papra_untyped_values WHERE document_id IN (SELECT id FROM {ids})"
            )
        if rows:
            frame = self._register(pd.DataFrame(list(rows)))
            self._run(
                f"""INSERT OR REPLACE INTO _papra_untyped_values
                    (document_id, organization_id, field, raw_value, reason, run_id, found_at)
                    SELECT document_id, organization_id, field, raw_value, reason, run_id,
                           found_at FROM {frame}"""
            )


def read_state(con: duckdb.DuckDBPyConnection, stream: str, organization_id: str) -> dict:
    """The last committed cursor of a stream for one organization ({} when none)."""
    rows = con.execute(
        "SELECT state FROM _papra_sync_state WHERE stream = ? AND organization_id = ?",
        [stream, organization_id],
    ).fetchall()
    return json.loads(rows[0][0]) if rows and rows[0][0] else {}
