"""DuckDB warehouse: schema and migrations, bulk merges, sync state and analytics views.

No HTTP and no Dagster here: the sync engine hands this layer frames, and this layer writes them.
"""

from papra_pipeline.warehouse.schema import PUBLIC_TABLES, SCHEMA_VERSION, TABLES, VIEWS, Table
from papra_pipeline.warehouse.staging import Staged, Staging
from papra_pipeline.warehouse.store import (
    MergeCounts,
    Warehouse,
    WarehouseError,
    WarehouseLockedError,
    WarehouseMissingError,
    WarehousePublishError,
    WarehouseUnreadableError,
    WarehouseVersionError,
    WriteSession,
    read_state,
)

__all__ = [
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
    "read_state",
]
