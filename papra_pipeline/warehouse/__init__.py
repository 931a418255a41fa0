"""DuckDB warehouse: schema and migrations, bulk merges, sync state and analytics views, and
every query the other layers run (``stored``, ``health``, ``figures``): SQL lives only here.

No HTTP and no Dagster here: the sync engine hands this layer frames, and this layer writes them.
"""

from papra_pipeline.warehouse.connections import Connection
from papra_pipeline.warehouse.migrations import SCHEMA_VERSION
from papra_pipeline.warehouse.schema import PUBLIC_TABLES, TABLES, VIEWS, Table
from papra_pipeline.warehouse.staging import EpochMicroseconds, Staged, Staging, is_out_of_memory
from papra_pipeline.warehouse.store import (
    Warehouse,
    WarehouseError,
    WarehouseLockedError,
    WarehouseMissingError,
    WarehousePublishError,
    WarehouseUnreadableError,
    WarehouseVersionError,
)
from papra_pipeline.warehouse.writes import MergeCounts, WriteSession, read_state

__all__ = [
    "Connection",
    "EpochMicroseconds",
    "PUBLIC_TABLES",
    "SCHEMA_VERSION",
    "Staged",
    "Staging",
    "TABLES",
    "VIEWS",
    "MergeCounts",
    "Table",
    "Warehouse",
    "WarehouseError",
    "WarehouseLockedError",
    "WarehouseMissingError",
    "WarehousePublishError",
    "WarehouseUnreadableError",
    "WarehouseVersionError",
    "WriteSession",
    "is_out_of_memory",
    "read_state",
]
