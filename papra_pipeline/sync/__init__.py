"""Extract from Papra and load into the warehouse: plain functions, no Dagster.

``sync`` is the one entry point; the CLI and the Dagster definitions both call it.
"""

from papra_pipeline.sync.engine import sync
from papra_pipeline.sync.results import (
    STREAMS,
    StreamStats,
    SyncError,
    SyncOptions,
    SyncResult,
    Untyped,
)

__all__ = ["STREAMS", "StreamStats", "SyncError", "SyncOptions", "SyncResult", "Untyped", "sync"]
