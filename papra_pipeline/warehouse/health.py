"""What the asset checks read: keys, references between tables, counts against Papra's own,
values that could not be typed.

Each function takes a connection from :meth:`Warehouse.read` (the readers' file).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from papra_pipeline.warehouse.schema import TABLES


@dataclass(frozen=True)
class KeyHealth:
    """A table's rows, how many repeat another row's key, how many have a null key part."""

    rows: int
    duplicates: int
    null_keys: int


def key_health(con: duckdb.DuckDBPyConnection, table: str) -> KeyHealth:
    key = TABLES[table].key
    columns = ", ".join(key)
    null_filter = " OR ".join(f"{c} IS NULL" for c in key)
    rows, distinct, nulls = con.execute(
        f"""SELECT count(*), count(DISTINCT ({columns})),
                   count(*) FILTER (WHERE {null_filter})
            FROM {table}"""
    ).fetchall()[0]
    return KeyHealth(rows, rows - distinct, nulls)


# What the linking tables' columns point at: column -> the table whose ``id`` it holds.
REFERENCES = {
    "document_tags": {"document_id": "documents", "tag_id": "tags"},
    "document_custom_property_values": {
        "document_id": "documents",
        "property_definition_id": "custom_property_definitions",
    },
}


@dataclass(frozen=True)
class ReferenceHealth:
    """A linking table's rows and, per column of :data:`REFERENCES`, the rows whose row it
    points at is not stored."""

    rows: int
    missing: dict[str, int]


def reference_health(con: duckdb.DuckDBPyConnection, table: str) -> ReferenceHealth:
    targets = list(REFERENCES[table].items())
    missing = "".join(f", count(*) FILTER (WHERE r{i}.id IS NULL)" for i in range(len(targets)))
    joins = "".join(
        f" LEFT JOIN {target} r{i} ON r{i}.id = l.{column}"
        for i, (column, target) in enumerate(targets)
    )
    rows, *counts = con.execute(f"SELECT count(*){missing} FROM {table} l{joins}").fetchall()[0]
    return ReferenceHealth(rows, dict(zip(REFERENCES[table], counts, strict=True)))


def last_successful_run(con: duckdb.DuckDBPyConnection) -> tuple[str, str] | None:
    """``(run_id, mode)`` of the newest sync that succeeded, ``None`` before the first."""
    rows = con.execute(
        """SELECT run_id, mode FROM _papra_sync_runs WHERE status = 'succeeded'
           ORDER BY finished_at DESC LIMIT 1"""
    ).fetchall()
    return rows[0] if rows else None


def live_counts(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple[str, int, int]]:
    """Per organization a run snapshotted: ``(organization_id, documents Papra counted, live
    documents stored now)``, in id order."""
    return con.execute(
        """SELECT s.organization_id, s.documents_count,
                  (SELECT count(*) FROM documents d
                   WHERE d.organization_id = s.organization_id
                     AND NOT d.is_deleted AND d.purged_at IS NULL)
           FROM organization_statistics s WHERE s.run_id = ?
           ORDER BY s.organization_id""",
        [run_id],
    ).fetchall()


def listed_untyped_values(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """``(document_id, field, reason)`` of each value listed as untyped, purged documents'
    left out, sorted."""
    return con.execute(
        """SELECT u.document_id, u.field, u.reason
           FROM _papra_untyped_values u JOIN documents d ON d.id = u.document_id
           WHERE d.purged_at IS NULL ORDER BY ALL"""
    ).fetchall()
