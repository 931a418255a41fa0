"""The readers' file and the sync's own: how a sync's result becomes what readers open.

DuckDB lets one process hold a file for writing and no other process open it meanwhile, and
a process that has it open read-only keeps every writer out. So nothing ever writes the file
readers open (``PAPRA_DUCKDB_PATH``, say ``papra.duckdb``). Syncs write a private sibling no
reader opens (``.papra.duckdb.sync``); after a transaction that changed what readers see, a
complete copy of it replaces the readers' file by a rename in the same directory. The rename
is atomic: a new connection gets the old state or the new one, never a mix, and a reader that
holds the old file keeps reading it until it reconnects (Linux and macOS keep an open file's
data until the last process closes it).

A small JSON file beside them (``.papra.duckdb.published``) says whether the sync's file holds
a state readers have not got yet (``pending``: set before the commit, cleared once the copy is
in place, so a run killed in between is published by the next one) and what the readers' file
looked like when it was published (size, modification time), so a readers' file written by
something else since (an older papra-pipeline) is noticed.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from papra_pipeline.warehouse.processes import running

# Linux's FICLONE ioctl (``_IOW(0x94, 9, int)``; Python's fcntl names it only from 3.12).
_FICLONE = 0x40049409
# A copy that cannot share blocks: copy_file_range and read/write fall back on these.
_NO_CLONE = {errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EPERM}
# What Windows says when a rename's target is open in a program that did not allow deleting
# it, as DuckDB opens its files: ERROR_ACCESS_DENIED or ERROR_SHARING_VIOLATION.
_HELD_OPEN = {5, 32}


@dataclass(frozen=True)
class WarehouseFiles:
    """Where everything lives, all in the readers' file's directory (a rename is atomic only
    within one file system)."""

    readers: Path

    def _sibling(self, suffix: str) -> Path:
        return self.readers.with_name(f".{self.readers.name}.{suffix}")

    @property
    def private(self) -> Path:
        """The sync's own file: written by syncs only, never opened by readers."""
        return self._sibling("sync")

    @property
    def copy(self) -> Path:
        """A copy of the sync's file on its way to becoming the readers' file."""
        return self._sibling("publishing")

    @property
    def rewriting(self) -> Path:
        """The sync's file being rewritten in the readers' storage format (see formats)."""
        return self._sibling("rewriting")

    @property
    def state(self) -> Path:
        """Whether a publish is owed, and the readers' file as last published."""
        return self._sibling("published")

    def adopting(self) -> Path:
        """A copy of the readers' file on its way to becoming the sync's (one per process:
        two syncs may adopt at once, and only one copy is kept)."""
        return self._sibling(f"adopting-{os.getpid()}")


@dataclass(frozen=True)
class Publication:
    """What the last publish cost: from the checkpoint to the copy in place."""

    seconds: float
    size_bytes: int
    method: str


@dataclass(frozen=True)
class PublishState:
    """What ``WarehouseFiles.state`` records."""

    pending: bool
    readers_size: int | None = None
    readers_mtime_ns: int | None = None

    def describes(self, path: Path) -> bool:
        """Whether ``path`` is still the file this state says was published."""
        try:
            stat = path.stat()
        except FileNotFoundError:
            return False
        return (stat.st_size, stat.st_mtime_ns) == (self.readers_size, self.readers_mtime_ns)


def read_publish_state(files: WarehouseFiles) -> PublishState | None:
    """The recorded state; ``None`` when there is none (a first run, an older version)."""
    try:
        data = json.loads(files.state.read_text())
        return PublishState(
            bool(data["pending"]), data.get("readers_size"), data.get("readers_mtime_ns")
        )
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def write_publish_state(files: WarehouseFiles, state: PublishState) -> None:
    """Replace the state file atomically and durably (it decides what the next run does)."""
    temporary = files.state.with_name(files.state.name + ".tmp")
    try:
        with _naming(files.state), open(temporary, "w") as out:
            json.dump(vars(state), out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, files.state)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    sync_directory(files.state.parent)


def published_state(files: WarehouseFiles) -> PublishState:
    """The state saying the readers' file, as it is now, is up to date."""
    stat = files.readers.stat()
    return PublishState(False, stat.st_size, stat.st_mtime_ns)


def copy_file(source: Path, target: Path) -> str:
    """Copy ``source`` to ``target`` and flush the copy to disk, the cheapest way the file
    system offers. Returns the way: ``reflink`` (btrfs, XFS, bcachefs: the copy shares the
    blocks until either file changes them, so it costs next to nothing), ``copy_file_range``
    (Linux copies inside the kernel; NFS and SMB servers copy server-side) or ``copy``."""
    with open(source, "rb") as src, open(target, "wb") as dst, _naming(target):
        method = "reflink" if _clone(src, dst) else _copy_bytes(src, dst)
        dst.flush()
        os.fsync(dst.fileno())
    return method


@contextmanager
def _naming(path: Path) -> Iterator[None]:
    """Name ``path`` in an ``OSError`` that names no file (a failed write or fsync does not),
    so the user learns which file could not be written."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None:
            raise
        raise OSError(exc.errno, exc.strerror, os.fspath(path)) from exc


def _clone(src: BinaryIO, dst: BinaryIO) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        return False
    try:
        fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
    except OSError as exc:
        if exc.errno not in _NO_CLONE:
            raise
        return False
    return True


def _copy_bytes(src: BinaryIO, dst: BinaryIO) -> str:
    size = os.fstat(src.fileno()).st_size
    if hasattr(os, "copy_file_range"):
        copied = 0
        try:
            while copied < size:
                done = os.copy_file_range(src.fileno(), dst.fileno(), size - copied)
                if done == 0:
                    break
                copied += done
        except OSError as exc:
            if exc.errno not in _NO_CLONE or copied:
                raise
        else:
            if copied == size:
                return "copy_file_range"
        src.seek(0)
        dst.seek(0)
        dst.truncate()
    shutil.copyfileobj(src, dst, 1 << 20)
    return "copy"


def sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; Windows cannot open a directory, and
    NTFS journals renames)."""
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_readers_file(
    files: WarehouseFiles, *, timeout: float, sleep: Callable[[float], None]
) -> bool:
    """Rename the finished copy over the readers' file; ``False`` if that was refused until
    ``timeout``. On Linux and macOS a rename never waits for readers. Windows refuses to
    replace a file a program has open (DuckDB opens it without delete sharing), so there it
    is retried while readers hold it, and the caller leaves the publish owed. Any other
    refusal (permissions, a read-only file system) raises at once: waiting changes nothing."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            os.replace(files.copy, files.readers)
            break
        except PermissionError as exc:
            if getattr(exc, "winerror", None) not in _HELD_OPEN:
                raise
            if time.monotonic() + delay > deadline:
                return False
            sleep(delay)
            delay = min(delay * 2, 1.0)
    sync_directory(files.readers.parent)
    # A WAL beside the readers' file belongs to the file just replaced (one an older version
    # wrote and was killed before checkpointing); replayed over the new one it would corrupt it.
    Path(f"{files.readers}.wal").unlink(missing_ok=True)
    return True


def remove_stale_copy(files: WarehouseFiles) -> int:
    """Remove the copy a failed or killed publish left behind; returns its size (0: none).

    Only while holding the sync's file, so no other sync is making its copy meanwhile. On
    Windows, where a publish lets go of the sync's file before copying it, a copy another
    sync still has open cannot be removed: it is left to that sync.
    """
    try:
        size = files.copy.stat().st_size
        files.copy.unlink()
    except FileNotFoundError:
        return 0
    except PermissionError:
        if os.name != "nt":
            raise
        return 0
    return size


def remove_orphaned_adoptions(files: WarehouseFiles) -> int:
    """Remove the copies (and their WALs) that adoptions by processes no longer running left
    behind, a SIGKILL or power loss mid-copy; returns the bytes freed. Each is as large as the
    warehouse, and a later sync, with another pid, would never reuse it. Copies of running
    processes (a sync adopting right now) are left alone."""
    prefix = files.adopting().name.rsplit("-", 1)[0] + "-"
    freed = 0
    for path in files.readers.parent.glob(f"{glob.escape(prefix)}*"):
        pid = path.name[len(prefix) :].removesuffix(".wal")
        if not pid.isdigit() or running(int(pid)):
            continue
        with contextlib.suppress(FileNotFoundError):
            size = path.stat().st_size
            path.unlink()
            freed += size
    return freed


def install_adopted(source: Path, target: Path, *, replace: bool) -> bool:
    """Move the adopted copy ``source`` to ``target``. Without ``replace``, only if there is
    no ``target`` yet: returns ``False`` when another process installed one first."""
    if replace:
        os.replace(source, target)
    else:
        try:
            os.link(source, target)  # refuses an existing target: two adopters cannot clash
        except FileExistsError:
            source.unlink()
            return False
        except OSError:  # no hard links here (FAT, some network shares): check, then rename
            if target.exists():
                source.unlink()
                return False
            os.replace(source, target)
        else:
            source.unlink()
    sync_directory(target.parent)
    return True
