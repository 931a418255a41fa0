"""Extract from Papra and load into the warehouse: plain functions, no Dagster.

``sync`` is the one entry point; the CLI and the Dagster definitions both call it. It loads on
first use, with the warehouse's DuckDB and pandas; the options, results and errors load at once.
"""

from papra_pipeline.sync.results import (
    STREAMS,
    InterruptedAfterCommit,
    StreamStats,
    SyncError,
    SyncOptions,
    SyncResult,
    Untyped,
)

__all__ = [
    "STREAMS",
    "InterruptedAfterCommit",
    "StreamStats",
    "SyncError",
    "SyncOptions",
    "SyncResult",
    "Untyped",
    "sync",
]


def __getattr__(name: str) -> object:
    """Load ``sync`` from the engine on first use (PEP 562)."""
    if name != "sync":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from papra_pipeline.sync.engine import sync

    globals()["sync"] = sync
    return sync
