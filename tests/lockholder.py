"""Another process holding a DuckDB file open, as a second sync or a notebook would."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_HOLDER = textwrap.dedent("""
    import duckdb, sys
    con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "read-only")
    print("holding", flush=True)
    sys.stdin.read()
""")


@contextmanager
def duckdb_file_held_by_another_process(
    path: Path, *, read_only: bool = False
) -> Iterator[subprocess.Popen]:
    """The file is open (locked) in another process for the duration of the block."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path), "read-only" if read_only else "read-write"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        yield holder
    finally:
        holder.communicate("", timeout=60)
