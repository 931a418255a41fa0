"""DuckDB warehouse: schema and migrations, bulk merges, sync state and analytics views, and
every query the other layers run (``stored``, ``health``, ``figures``): SQL lives only here.

No HTTP and no Dagster here: the sync engine hands this layer frames, and this layer writes them.

The errors load with the package; every other name on first use, with DuckDB and pandas
(about 0.2 s to import), which a command that never opens the warehouse need not pay.
"""

import importlib

from papra_pipeline.warehouse.errors import (
    WarehouseDiskError,
    WarehouseError,
    WarehouseLockedError,
    WarehouseMemoryError,
    WarehouseMissingError,
    WarehousePublishError,
    WarehouseUnreadableError,
    WarehouseVersionError,
)

_MODULES = {
    "Connection": "connections",
    "SCHEMA_VERSION": "migrations",
    "PUBLIC_TABLES": "schema",
    "TABLES": "schema",
    "VIEWS": "schema",
    "Table": "schema",
    "EpochMicroseconds": "staging",
    "Staged": "staging",
    "Staging": "staging",
    "is_out_of_memory": "staging",
    "Warehouse": "store",
    "MergeCounts": "writes",
    "WriteSession": "writes",
    "read_state": "writes",
}

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
    "WarehouseDiskError",
    "WarehouseError",
    "WarehouseLockedError",
    "WarehouseMemoryError",
    "WarehouseMissingError",
    "WarehousePublishError",
    "WarehouseUnreadableError",
    "WarehouseVersionError",
    "WriteSession",
    "is_out_of_memory",
    "read_state",
]


def __getattr__(name: str) -> object:
    """Load a name from its module on first use (PEP 562)."""
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    globals()[name] = value
    return value
