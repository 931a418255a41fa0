"""The warehouse's errors: what a user can act on, importable without DuckDB."""

from __future__ import annotations


class WarehouseError(Exception):
    """Base class for warehouse problems a user can act on."""


class WarehouseLockedError(WarehouseError):
    """Another process holds the DuckDB file open for writing."""


class WarehouseUnreadableError(WarehouseError):
    """DuckDB cannot open the file (not a DuckDB file, damaged, unreadable)."""


class WarehousePublishError(WarehouseError):
    """A sync's result is saved in its own file, but readers could not be given it yet."""


class WarehouseDiskError(WarehouseError):
    """A file could not be created, written or renamed: no space, no permission, an I/O error.
    The message names the file, the cause and what to do."""


class WarehouseMemoryError(WarehouseError):
    """A write would need more memory than it may use on this machine; nothing was written."""


class WarehouseVersionError(WarehouseError):
    """The file was written by a newer papra-pipeline with a schema this version cannot read."""


class WarehouseMissingError(WarehouseError):
    """A read was asked of a warehouse file that does not exist yet."""
