"""Opening DuckDB files from several threads of one process.

A sync reads its stored documents in a background thread while its main thread opens the
same file, and DuckDB shares one database per file within a process. Two threads that open
it at the same moment can get a database whose Python table functions are not registered
yet: registering a pandas frame then fails with "Table Function with name pandas_scan does
not exist". Seen once in CI's run of the suite; reproduced with two threads opening, querying
and closing one file 300 times while three more such processes ran: 0, 4, 2 and 0 failures
in four processes, none in four with the lock. It needs a loaded machine to show, so no unit
test can show it reliably.
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb

_OPENING = threading.Lock()

#: A connection this layer hands out (``Warehouse.open_for_sync``); other layers name its type
#: through this alias rather than importing duckdb.
Connection = duckdb.DuckDBPyConnection


def open_duckdb(
    path: str | Path, *, read_only: bool = False, storage_version: str | None = None
) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect``, one thread of the process at a time; a file it creates is in the
    format of ``storage_version`` (a file that exists keeps its own)."""
    config = {} if storage_version is None else {"storage_compatibility_version": storage_version}
    with _OPENING:
        return duckdb.connect(str(path), read_only=read_only, config=config)
