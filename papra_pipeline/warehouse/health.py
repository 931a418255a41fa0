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


def document_tag_references(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int]:
    """Document tags: rows, rows whose document is not stored, rows whose tag is not."""
    return con.execute(
        """SELECT count(*),
                  count(*) FILTER (WHERE d.id IS NULL),
                  count(*) FILTER (WHERE t.id IS NULL)
           FROM document_tags dt
           LEFT JOIN documents d ON d.id = dt.document_id
           LEFT JOIN tags t ON t.id = dt.tag_id"""
    ).fetchall()[0]


def custom_property_value_references(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int]:
    """Custom-property values: rows, rows whose document is not stored, rows whose property
    definition is not."""
    return con.execute(
        """SELECT count(*),
                  count(*) FILTER (WHERE d.id IS NULL),
                  count(*) FILTER (WHERE p.id IS NULL)
           FROM document_custom_property_values v
           LEFT JOIN documents d ON d.id = v.document_id
           LEFT JOIN custom_property_definitions p ON p.id = v.property_definition_id"""
    ).fetchall()[0]


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
