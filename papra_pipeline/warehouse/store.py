"""Opening the DuckDB files, applying migrations, locking and publishing: the files' life.

DuckDB allows one writing process, and while any process holds a file no other can write it.
So readers and syncs never share a file: readers open ``PAPRA_DUCKDB_PATH`` read-only, syncs
write their own file beside it and publish a complete copy after each change (see
:mod:`papra_pipeline.warehouse.publish`). A sync opens its file only for the final merge
(open, write everything in one transaction, close) and retries briefly when another sync
holds it. The write runs under a DuckDB memory limit; what it writes is
:mod:`papra_pipeline.warehouse.writes`'s.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from papra_pipeline import __version__
from papra_pipeline.settings import MEMORY_SIZE, Settings
from papra_pipeline.warehouse.connections import open_duckdb
from papra_pipeline.warehouse.diskfaults import DiskFault, disk_fault
from papra_pipeline.warehouse.errors import (
    WarehouseDiskError,
    WarehouseError,
    WarehouseLockedError,
    WarehouseMissingError,
    WarehousePublishError,
    WarehouseUnreadableError,
    WarehouseVersionError,
)
from papra_pipeline.warehouse.formats import (
    check_storage_version,
    format_for,
    rewrite,
    storage_version,
)
from papra_pipeline.warehouse.migrations import MIGRATIONS, SCHEMA_VERSION
from papra_pipeline.warehouse.publish import (
    Publication,
    PublishState,
    WarehouseFiles,
    copy_file,
    install_adopted,
    published_state,
    read_publish_state,
    remove_orphaned_adoptions,
    remove_stale_copy,
    replace_readers_file,
    write_publish_state,
)
from papra_pipeline.warehouse.schema import view_ddl
from papra_pipeline.warehouse.staging import Staging, size_in_bytes
from papra_pipeline.warehouse.writes import (
    WriteSession,
    machine_memory_ceiling,
    room_for_long_texts,
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
# The oldest DuckDB release that opens the files (see papra_pipeline.warehouse.formats).
DEFAULT_READER_STORAGE_VERSION = Settings.reader_storage_version


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
        memory_ceiling: the most memory a write may raise that limit to for the long texts it
            writes (see :meth:`WriteSession.make_room_for_long_texts`); by default DuckDB's
            own default limit, 80% of the machine's or container's memory.
        reader_storage_version: the oldest DuckDB release that must open the files, whose
            storage format the sync's file, and so the readers', is written in
            (``PAPRA_READER_STORAGE_VERSION``, see :mod:`papra_pipeline.warehouse.formats`).
        sleep: injectable for tests.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        lock_timeout: float = 30.0,
        write_memory_limit: str = DEFAULT_WRITE_MEMORY_LIMIT,
        memory_ceiling: str | None = None,
        reader_storage_version: str = DEFAULT_READER_STORAGE_VERSION,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # Checked here because the write puts it into a SET statement.
        for name, size in (
            ("write_memory_limit", write_memory_limit),
            ("memory_ceiling", memory_ceiling),
        ):
            if size is not None and not MEMORY_SIZE.fullmatch(size):
                raise WarehouseError(f"{name} {size!r} is not a size such as 96MB or 1GB.")
        try:
            self.reader_storage_version = check_storage_version(reader_storage_version)
        except ValueError as exc:
            raise WarehouseError(f"reader_storage_version {exc}.") from None
        self.path = Path(path)
        self.files = WarehouseFiles(self.path)
        self.lock_timeout = lock_timeout
        self.write_memory_limit = write_memory_limit
        self.memory_ceiling = memory_ceiling
        self._ceiling: int | None = None  # in bytes, once a write needs it
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
        return (
            state is not None
            and not state.pending
            and state.describes(files.readers)
            and not files.copy.exists()  # a failed publish's copy, removed under the lock
        )

    def _open_current_private(self) -> duckdb.DuckDBPyConnection | None:
        """The sync's file, read-only, if it holds the current schema in the readers' format;
        ``None`` when :meth:`ensure_schema` has something to do (an upgrade, a damaged file)."""
        try:
            con = self._connect(self.private_path, read_only=True)
        except WarehouseUnreadableError:
            return None
        try:
            if check_schema_version(con, self.path) == SCHEMA_VERSION and self._in_format(con):
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
        A file that cannot be written (no space, no permission) raises one
        :class:`WarehouseDiskError`; after the commit, a failed publish raises
        :class:`WarehousePublishError`.
        """
        with self._disk_faults_told():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con, owed = self._in_readers_format(*self._open_private())
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
                ceiling = self.memory_ceiling
                session = WriteSession(
                    con, memory_ceiling=size_in_bytes(ceiling) if ceiling else None
                )
                yield session
                if session.publish and not owed:
                    # Said before the commit, so a run killed between its commit and the
                    # publish is published by the next one.
                    write_publish_state(self.files, PublishState(pending=True))
                    owed = True
                con.execute("COMMIT")
                session.committed = True
            except BaseException as exc:
                _roll_back(con)
                failure = self._write_failure(exc)
                if failure is None:
                    raise
                raise failure from exc
            if owed:
                con = self._publish(con)
        finally:
            if con is not None:
                con.close()

    def check_room_for_long_texts(self, characters: int) -> None:
        """Raise :class:`WarehouseMemoryError` if a write of ``characters`` of long texts
        would need more memory than it may use (see :func:`room_for_long_texts`). A sync checks
        as texts arrive, so an archive too large for the machine fails early, not after all
        of it was fetched."""
        room_for_long_texts(
            size_in_bytes(self.write_memory_limit), characters, self._memory_ceiling()
        )

    def _memory_ceiling(self) -> int:
        """The most memory a write may use, in bytes (see ``memory_ceiling``)."""
        if self._ceiling is None:
            ceiling = self.memory_ceiling
            self._ceiling = size_in_bytes(ceiling) if ceiling else machine_memory_ceiling()
        return self._ceiling

    def ensure_schema(self) -> None:
        """Create or upgrade the warehouse without writing any data; publish what a run
        killed after its commit left unpublished."""
        with self._disk_faults_told():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con, owed = self._in_readers_format(*self._open_private())
        try:
            if self._migrate(con, owed):
                try:
                    con = self._publish(con)
                except WarehousePublishError as exc:
                    # Readers keep the previous state; this run's own write publishes again
                    # and says so if it fails again (as a second line, this would be noise).
                    log.info("%s", exc)
        finally:
            if con is not None:
                con.close()

    @contextmanager
    def _disk_faults_told(self) -> Iterator[None]:
        """A file that cannot be created or written raises one :class:`WarehouseDiskError`
        saying which, why and what to do; other errors pass as they are."""
        try:
            yield
        except (OSError, duckdb.Error) as exc:
            fault = disk_fault(exc)
            if fault is None:
                raise
            raise self._disk_error(fault) from exc

    def _disk_error(self, fault: DiskFault) -> WarehouseDiskError:
        return WarehouseDiskError(
            f"{fault}; {fault.advice(self.space_needed())}. This run changed nothing: readers "
            f"of {self.path.name} still see the last sync."
        )

    def _write_failure(self, exc: BaseException) -> WarehouseError | None:
        """What a write that failed before or at its commit raises instead of ``exc``."""
        if isinstance(exc, (OSError, duckdb.Error)) and (fault := disk_fault(exc)):
            return self._disk_error(fault)
        if isinstance(exc, duckdb.Error):
            return WarehouseError(f"Writing {self.path} failed and was rolled back: {exc}")
        return None

    def space_needed(self) -> int | None:
        """Free space a sync needs beside the files, in bytes: a copy of the sync's file for
        the publish, and as much again for what the run writes (its WAL, and the file's
        growth: DuckDB writes changed rows beside the old ones and the file never shrinks).
        Measured on 5,000 documents: a run changing a tenth of them needed 1.6 times the
        sync's file, half of them 2.5 times, every one of them 4.4 times. ``None`` before the
        first sync. See the README's "Disk space"."""
        for path in (self.private_path, self.path):
            try:
                return 2 * path.stat().st_size
            except FileNotFoundError:
                continue
        return None

    def _migrate(self, con: duckdb.DuckDBPyConnection, owed: bool) -> bool:
        """Bring the sync's file to the current schema; returns whether a publish is owed.

        Readers get an upgrade as one new file, after the transaction that follows it (a
        reader holding the old file keeps the old schema until it reconnects).
        """
        if check_schema_version(con, self.path) < SCHEMA_VERSION:
            with self._disk_faults_told():
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
        try:
            # First, now that no other sync can be making one: a copy a failed publish left
            # is as large as the warehouse, on a disk that may be full.
            removed = remove_stale_copy(files)
            freed = remove_orphaned_adoptions(files)
        except BaseException:
            con.close()
            raise
        if removed:
            log.info("removed %s (%d bytes), left by a failed publish", files.copy, removed)
        if freed:
            log.info("removed copies (%d bytes) that killed syncs left while adopting", freed)
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

    def _in_readers_format(
        self, con: duckdb.DuckDBPyConnection, owed: bool
    ) -> tuple[duckdb.DuckDBPyConnection, bool]:
        """The sync's file, rewritten first if it is not in the format readers open (one that
        a release before this one created in DuckDB 2.0's format, or the setting changed);
        the rewrite owes readers a publish. Returns the connection and whether one is owed."""
        try:
            if self._in_format(con):
                return con, owed
        except BaseException:
            con.close()
            raise
        log.info(
            "%s is in DuckDB %s's storage format: rewriting it in %s's for readers",
            self.private_path.name,
            storage_version(con),
            self.reader_storage_version,
        )
        if not owed:
            write_publish_state(self.files, PublishState(pending=True))
        rewritten = self.files.rewriting
        try:
            # The copy is one transaction, which holds every text of 64 KB or more until it
            # ends (see WriteSession.make_room_for_long_texts): under the write's limit, a
            # warehouse with 120 MB of them could not be rewritten, and no sync ran. A rewrite
            # happens once, so it may use what the machine allows a write.
            con.execute(f"SET memory_limit = '{self._memory_ceiling() // 2**20}MiB'").fetchall()
            rewrite(con, rewritten, self.reader_storage_version)
        except BaseException as exc:
            con.close()
            for leftover in (rewritten, Path(f"{rewritten}.wal")):
                leftover.unlink(missing_ok=True)
            if isinstance(exc, duckdb.Error):
                raise WarehouseError(
                    f"Rewriting {self.private_path} in DuckDB {self.reader_storage_version}'s "
                    f"storage format failed, and it is left as it was: {exc}"
                ) from exc
            raise
        return self._swap_private(con, lambda: os.replace(rewritten, self.private_path)), True

    def _in_format(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Whether ``con``'s file is in the format readers open (named as the setting names
        it, as on most runs, or the same format under another release's name)."""
        found = storage_version(con)
        return found == self.reader_storage_version or found == self._readers_format()

    def _readers_format(self) -> str:
        try:
            return format_for(self.reader_storage_version)
        except ValueError as exc:
            raise WarehouseError(f"reader_storage_version {exc}.") from None

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
        try:
            copy_file(files.readers, copy)
            wal = Path(f"{files.readers}.wal")
            if wal.exists():
                # Committed by an older version killed before it checkpointed: fold it in.
                copy_file(wal, Path(f"{copy}.wal"))
                con = open_duckdb(copy)
                con.execute("CHECKPOINT").fetchall()
                con.close()
            installed = install_adopted(copy, files.private, replace=replace)
        except BaseException:  # no partial copy left behind (the disk may be full)
            copy.unlink(missing_ok=True)
            Path(f"{copy}.wal").unlink(missing_ok=True)
            raise
        if installed:
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
        try:
            con.execute("CHECKPOINT").fetchall()
            if os.name == "nt":
                con.close()
                con = None
            method = copy_file(files.private, files.copy)
            replaced = replace_readers_file(files, timeout=self.lock_timeout, sleep=self._sleep)
        except (OSError, duckdb.Error) as exc:
            _remove_quietly(files.copy)  # a partial copy would keep a full disk full
            raise WarehousePublishError(self._unpublished(self._publish_failure(exc))) from exc
        if not replaced:
            _remove_quietly(files.copy)
            raise WarehousePublishError(
                self._unpublished(
                    f"another program kept {self.path.name} open for {self.lock_timeout:g}s "
                    "and Windows does not replace an open file. Close the notebooks, DuckDB "
                    "shells or BI tools that have it open"
                )
            )
        try:
            write_publish_state(files, published_state(files))
        except OSError as exc:
            raise WarehousePublishError(
                f"Readers of {self.path} have this sync's result, but recording that in "
                f"{files.state.name} failed: {self._publish_failure(exc)}; the next sync "
                "publishes it again."
            ) from exc
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

    def _publish_failure(self, exc: BaseException) -> str:
        fault = disk_fault(exc)
        if fault is None:
            return f"publishing failed: {exc}"
        return f"{fault}; {fault.advice(self.space_needed())}"

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
                created = None if read_only else self._format_to_create(path)
                return open_duckdb(path, read_only=read_only, storage_version=created)
            except duckdb.Error as exc:
                message = str(exc)
                fault = disk_fault(exc)
                if fault is not None:  # its text mentions the WAL: not a damaged file
                    raise WarehouseDiskError(
                        f"Cannot open {fault}; {fault.advice(self.space_needed())}."
                    ) from exc
                if not (isinstance(exc, duckdb.IOException) and _LOCK_MESSAGE.search(message)):
                    raise WarehouseUnreadableError(f"Cannot open {path}: {exc}") from exc
                if time.monotonic() + delay > deadline:
                    raise WarehouseLockedError(self._locked(path, message)) from None
                self._sleep(delay)
                delay = min(delay * 2, 1.0)

    def _format_to_create(self, path: Path) -> str | None:
        """The storage format of the sync's file when this open creates it (see formats)."""
        if path != self.private_path or path.exists():
            return None
        self._readers_format()  # refuses, in one line, a release this DuckDB cannot write for
        return self.reader_storage_version

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


def _roll_back(con: duckdb.DuckDBPyConnection) -> None:
    """ROLLBACK, unless DuckDB already ended the transaction: a COMMIT that fails (no space
    for the WAL) rolls back itself, and a second error would bury the first."""
    try:
        con.execute("ROLLBACK")
    except duckdb.Error as exc:
        log.debug("no rollback needed: %s", exc)


def _remove_quietly(path: Path) -> None:
    """Remove ``path`` if it can be; if not, the next sync removes it (see _open_private)."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.info("could not remove %s: %s", path, exc)


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
        _roll_back(con)
        raise
