"""Another process holding a DuckDB file open for writing, as a second sync or a notebook would."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_HOLDER = textwrap.dedent("""
    import duckdb, sys
    con = duckdb.connect(sys.argv[1])
    print("holding", flush=True)
    sys.stdin.read()
""")


@contextmanager
def duckdb_file_held_by_another_process(path: Path) -> Iterator[None]:
    """The file is locked for the duration of the block, then released."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        yield
    finally:
        holder.communicate("", timeout=10)
