"""The readers' file beside the same warehouse in DuckDB 2.0's storage format (issue 20).

Syncs create their own file in the format of ``PAPRA_READER_STORAGE_VERSION`` and publish a
copy of it (option a; see papra_pipeline/warehouse/formats.py). The other way was to keep the
sync's file in DuckDB 2.0's format and convert it at every publish (option b): the conversion
measured here, from DuckDB 2.0's format to the readers', is what each publish would have cost.
Sizes are compared on files rewritten the same way (compact, no free blocks), beside the
readers' file as the sync published it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb

from papra_pipeline.settings import Settings

# The sync's write runs under this limit; a conversion at publish would too.
MEMORY_LIMIT = Settings.write_memory_limit


def measure(readers_file: Path, workdir: Path, full_sync_seconds: float | None) -> dict:
    """Rewrite the published readers' file in DuckDB 2.0's format, then back in the readers'
    format (option b's conversion); sizes in MB and seconds."""
    version = _storage_version(readers_file)
    in_2_0 = workdir / "format-v2.0.0.duckdb"
    in_readers = workdir / f"format-{version}.duckdb"
    _convert(readers_file, in_2_0, "v2.0.0")
    convert_seconds = _convert(in_2_0, in_readers, version)
    figures = {
        "version": version,
        "published_mb": readers_file.stat().st_size / 1e6,
        "rewritten_mb": in_readers.stat().st_size / 1e6,
        "v2_0_rewritten_mb": in_2_0.stat().st_size / 1e6,
        "convert_at_publish_seconds": convert_seconds,
        "convert_share_of_full_sync": (
            convert_seconds / full_sync_seconds if full_sync_seconds else None
        ),
    }
    for path in (in_2_0, in_readers):
        path.unlink()
    return figures


def _storage_version(path: Path) -> str:
    """As DuckDB names it: the oldest release that opens the file (``v1.2.0``)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(
            "SELECT tags['storage_version'] FROM duckdb_databases() "
            "WHERE database_name = current_database()"
        ).fetchall()[0][0].rstrip("+")
    finally:
        con.close()


def _convert(source: Path, target: Path, version: str) -> float:
    started = time.perf_counter()
    con = duckdb.connect()
    try:
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        con.execute("SET enable_progress_bar = false")
        con.execute(f"ATTACH '{source}' AS source (READ_ONLY)")
        con.execute(f"ATTACH '{target}' AS target (STORAGE_VERSION '{version}')")
        con.execute("COPY FROM DATABASE source TO target")
        con.execute("DETACH target")
    finally:
        con.close()
    with open(target, "rb+") as written:
        os.fsync(written.fileno())
    return time.perf_counter() - started


def print_figures(figures: dict) -> None:
    share = figures["convert_share_of_full_sync"]
    print(f"\nreaders' file in DuckDB {figures['version']}'s storage format: "
          f"{figures['published_mb']:.1f} MB as published; rewritten compactly "
          f"{figures['rewritten_mb']:.1f} MB, against {figures['v2_0_rewritten_mb']:.1f} MB "
          f"in DuckDB 2.0's format (what the release before published)")
    print(f"  converting 2.0's format at each publish instead (not done): "
          f"{figures['convert_at_publish_seconds']:.2f}s"
          + (f" ({share:.1%} of the full sync)" if share is not None else ""))


def targets(figures: dict) -> list[dict]:
    """The readers' format costs little disk: within 1.2x of DuckDB 2.0's, like for like."""
    ratio = figures["rewritten_mb"] / figures["v2_0_rewritten_mb"]
    return [{
        "target": f"readers' file (DuckDB {figures['version']} format) within 1.2x the size "
                  "of the same warehouse in DuckDB 2.0's format",
        "measured": round(ratio, 3),
        "limit": 1.2,
        "met": ratio <= 1.2,
    }]
