"""Disk faults told in one line: the file, what the system said, and what to do.

A full disk, a directory the sync may not write and a failing disk reach the warehouse as an
``OSError`` from Python or as a DuckDB error whose text carries the system's message (DuckDB
does its own file I/O and says ``Could not write file "…": No space left on device``). Either
way the user needs the same three things, not the chain of tracebacks behind them.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

# What the system said -> how to say it and what to do about it, per errno.
_CAUSES = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is used up",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "the file system is read-only",
    errno.EIO: "I/O error",
}
# DuckDB names the file in quotes, then gives the system's message (strerror's text).
_DUCKDB_FILE = re.compile(r'file "(?P<path>[^"]+)": (?P<reason>[^\n]+)')


@dataclass(frozen=True)
class DiskFault:
    """A file the warehouse could not create, write or rename, and why."""

    path: str
    errno: int
    renamed_to: str | None = None  # a refused rename names both ends

    @property
    def cause(self) -> str:
        return _CAUSES[self.errno]

    @property
    def directory(self) -> Path:
        """The file's directory, or its nearest one that still exists (a run's scratch
        directory is gone by the time the message is read)."""
        directory = Path(self.path).parent
        while not directory.exists() and directory != directory.parent:
            directory = directory.parent
        return directory

    def __str__(self) -> str:
        if self.renamed_to:
            return f"renaming {self.path} to {self.renamed_to} was refused: {self.cause}"
        return f"{self.path}: {self.cause}"

    def advice(self, needed: int | None = None, setting: str = "PAPRA_DUCKDB_PATH") -> str:
        """What to do, for a user who only sees this line; ``needed``: the free space a sync
        needs there, in bytes, when known; ``setting``: what moves the file elsewhere."""
        where = self.directory
        if self.errno in (errno.ENOSPC, errno.EDQUOT):
            if needed is None:
                return (
                    f"free space in {where} (or point {setting} elsewhere) and run the sync again"
                )
            return (
                f"free at least {megabytes(needed)} in {where} (`papra-pipeline doctor` shows "
                "what a sync needs) and run the sync again"
            )
        if self.errno in (errno.EACCES, errno.EPERM):
            return (
                f"let the user running the sync create, write and rename files in {where} "
                f"(check its permissions and attributes), or point {setting} elsewhere"
            )
        if self.errno == errno.EROFS:
            return f"remount {where} read-write, or point {setting} elsewhere"
        return (
            "the disk or its connection failed: check the system log (dmesg) and the disk, "
            "then run the sync again"
        )


def disk_fault(exc: BaseException) -> DiskFault | None:
    """The disk fault behind ``exc`` (itself, or what it was raised from), or ``None``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        fault = _fault_of(current)
        if fault is not None:
            return fault
        current = current.__cause__ or current.__context__
    return None


def _fault_of(exc: BaseException) -> DiskFault | None:
    if isinstance(exc, OSError):
        if exc.errno in _CAUSES and exc.filename is not None:
            target = os.fsdecode(exc.filename2) if exc.filename2 is not None else None
            return DiskFault(os.fsdecode(exc.filename), exc.errno, target)
        return None
    for match in _DUCKDB_FILE.finditer(str(exc)):
        for number in _CAUSES:
            if match["reason"].startswith(os.strerror(number)):
                return DiskFault(match["path"], number)
    return None


# SQLite (the webhook inbox) names no file and no errno, only its own text for them.
_SQLITE_CAUSES = {
    "database or disk is full": errno.ENOSPC,
    "attempt to write a readonly database": errno.EACCES,
    "unable to open database file": errno.EACCES,
    "disk I/O error": errno.EIO,
}


def sqlite_fault(exc: BaseException, path: Path) -> DiskFault | None:
    """The disk fault behind SQLite's error ``exc`` on the database ``path``, or ``None``."""
    for text, number in _SQLITE_CAUSES.items():
        if text in str(exc):
            return DiskFault(str(path), number)
    return None


def free_space(directory: Path) -> int:
    """Bytes free for this user in ``directory``."""
    return shutil.disk_usage(directory).free


def megabytes(size: int) -> str:
    return f"{size / 1e6:,.0f} MB" if size >= 10e6 else f"{size / 1e6:.1f} MB"
