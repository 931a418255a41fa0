"""The storage format of the DuckDB files: one that the readers' DuckDB opens.

DuckDB 2.0 creates files in a format no DuckDB 1.x opens ("Trying to read a database file with
version number 69, but we can only read versions between 64 and 68"), while most tools that
read DuckDB files (the CLI on PyPI, the Node API, BI connectors, notebook images) are a release
or more behind. DuckDB 2.0 can also create a file in an older release's format
(``STORAGE_VERSION``), and a file keeps the format it was created in whatever DuckDB writes to
it later. So the sync creates its own file in the format ``PAPRA_READER_STORAGE_VERSION`` names,
and the readers' file, a copy of it, is in that format too: publishing stays a file copy. A
sync's file in another format (created by a release before this one, in DuckDB 2.0's format, or
before the setting changed) is rewritten once in the format asked for, then published.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

import duckdb

from papra_pipeline.settings import STORAGE_VERSION

_REWRITTEN = "_papra_rewritten"


def check_storage_version(version: str) -> str:
    """``version`` if it can go into an ATTACH statement (the settings check it the same way)."""
    if not STORAGE_VERSION.fullmatch(version):
        raise ValueError(f"{version!r} is not a DuckDB release such as v1.2.0, or latest")
    return version


def storage_version(con: duckdb.DuckDBPyConnection) -> str:
    """The format of ``con``'s file, named as DuckDB names it: the oldest release that opens it
    (``v1.2.0``)."""
    row = con.execute(
        "SELECT tags['storage_version'] FROM duckdb_databases() "
        "WHERE database_name = current_database()"
    ).fetchall()
    return str(row[0][0]).rstrip("+")


def storage_version_of(path: Path) -> str:
    """The format of the file at ``path`` (see :func:`storage_version`)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return storage_version(con)
    finally:
        con.close()


@functools.cache
def format_for(version: str) -> str:
    """The format a file created for readers of ``version`` gets: formats change with some
    releases only (``v1.2.2`` gives ``v1.2.0``, ``latest`` gives this DuckDB's newest). DuckDB
    tells only of a file, so this creates one (a few milliseconds, once per process, and only
    when a file's format is not named exactly as the setting names it)."""
    check_storage_version(version)
    with tempfile.TemporaryDirectory(prefix="papra-format-") as directory:
        con = duckdb.connect()
        try:
            probe = _literal(Path(directory) / "probe.duckdb")
            con.execute(f"ATTACH {probe} AS probe (STORAGE_VERSION '{version}')")
            row = con.execute(
                "SELECT tags['storage_version'] FROM duckdb_databases() "
                "WHERE database_name = 'probe'"
            ).fetchall()
        except duckdb.InvalidInputException:
            raise ValueError(
                f"{version!r} is not a release DuckDB {duckdb.__version__} writes files for "
                "(such as v1.2.0, or latest)"
            ) from None
        finally:
            con.close()
    return str(row[0][0]).rstrip("+")


def rewrite(con: duckdb.DuckDBPyConnection, target: Path, version: str) -> None:
    """Copy every table, view and row of ``con``'s file into a new file ``target`` in the
    format of ``version``, and flush it to disk."""
    check_storage_version(version)
    target.unlink(missing_ok=True)
    Path(f"{target}.wal").unlink(missing_ok=True)
    con.execute(f"ATTACH {_literal(target)} AS {_REWRITTEN} (STORAGE_VERSION '{version}')")
    try:
        (source,) = con.execute("SELECT current_database()").fetchall()[0]
        quoted = source.replace('"', '""')
        con.execute(f'COPY FROM DATABASE "{quoted}" TO {_REWRITTEN}')
    finally:
        con.execute(f"DETACH {_REWRITTEN}")  # checkpoints it: no WAL is left beside it
    with open(target, "rb+") as written:
        os.fsync(written.fileno())


def _literal(path: Path) -> str:
    """``path`` as a SQL string literal (ATTACH takes no parameters)."""
    return "'" + str(path).replace("'", "''") + "'"
