"""Per-organization figures of the warehouse, for metadata a dashboard can plot over runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pandas as pd

from papra_pipeline.warehouse.store import Warehouse


@dataclass(frozen=True)
class OrganizationFigures:
    """Live documents and bytes, documents in the trash, activity entries stored."""

    documents: int
    bytes: int
    trashed: int
    activity: int


def organization_figures(
    warehouse: Warehouse, organization_ids: Sequence[str] | None = None
) -> dict[str, OrganizationFigures]:
    """Figures of each organization as stored now; ``None`` means every stored organization.
    An organization the warehouse lacks (or a missing file) counts zeros."""
    if not warehouse.path.exists():
        return {org: OrganizationFigures(0, 0, 0, 0) for org in organization_ids or ()}
    with warehouse.read() as con:
        if organization_ids is None:
            organization_ids = [
                r[0] for r in con.execute("SELECT id FROM organizations").fetchall()
            ]
        rows = con.execute(
            """WITH chosen AS (SELECT unnest(?::VARCHAR[]) AS id),
               docs AS (
                   SELECT organization_id,
                          count(*) FILTER (WHERE NOT is_deleted AND purged_at IS NULL) AS live,
                          sum(original_size) FILTER (WHERE NOT is_deleted AND purged_at IS NULL)
                              AS live_bytes,
                          count(*) FILTER (WHERE is_deleted AND purged_at IS NULL) AS trashed
                   FROM documents GROUP BY organization_id),
               activity AS (
                   SELECT organization_id, count(*) AS entries FROM document_activity
                   GROUP BY organization_id)
               SELECT c.id, coalesce(d.live, 0), coalesce(d.live_bytes, 0),
                      coalesce(d.trashed, 0), coalesce(a.entries, 0)
               FROM chosen c
               LEFT JOIN docs d ON d.organization_id = c.id
               LEFT JOIN activity a ON a.organization_id = c.id
               ORDER BY c.id""",
            [list(organization_ids)],
        ).fetchall()
    return {org: OrganizationFigures(*(int(v) for v in values)) for org, *values in rows}


def statistics_snapshot(warehouse: Warehouse, run_id: str) -> dict[str, tuple[int, int, int]]:
    """Papra's own counters recorded by one run, per organization: live documents, their
    bytes, documents in the trash."""
    with warehouse.read() as con:
        rows = con.execute(
            """SELECT organization_id, documents_count, documents_size, deleted_documents_count
               FROM organization_statistics WHERE run_id = ? ORDER BY organization_id""",
            [run_id],
        ).fetchall()
    return {org: (documents, size, trashed) for org, documents, size, trashed in rows}


# The connection-taking reads below work on whichever file the caller opened.


def count_rows(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def document_rows_per_organization(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Stored document rows per organization, trashed and purged ones included."""
    rows = con.execute("SELECT organization_id, count(*) FROM documents GROUP BY ALL").fetchall()
    return {org: count for org, count in rows}


def created_at_range(
    con: duckdb.DuckDBPyConnection,
) -> tuple[datetime | None, datetime | None]:
    """The oldest and newest ``created_at`` of the stored documents (``None`` when none)."""
    first, last = con.execute("SELECT min(created_at), max(created_at) FROM documents").fetchall()[
        0
    ]
    return first, last


# The analytics queries the demo prints, straight from the README.
EXAMPLE_QUERIES = [
    (
        "Rows per table",
        """SELECT 'documents' AS table_name, count(*) AS rows FROM documents
           UNION ALL SELECT 'tags', count(*) FROM tags
           UNION ALL SELECT 'document_tags', count(*) FROM document_tags
           UNION ALL SELECT 'document_activity', count(*) FROM document_activity
           UNION ALL SELECT 'document_custom_property_values', count(*)
                     FROM document_custom_property_values
           UNION ALL SELECT 'organization_statistics', count(*) FROM organization_statistics""",
    ),
    (
        "Documents per tag (top 10)",
        """SELECT name AS tag, live_documents FROM v_tag_usage
           ORDER BY live_documents DESC, name LIMIT 10""",
    ),
    (
        "Storage added by month",
        """SELECT strftime(day, '%Y-%m') AS month,
                  CAST(sum(documents_added) AS BIGINT) AS documents,
                  round(sum(bytes_added) / 1e6, 2) AS megabytes
           FROM v_storage_daily GROUP BY month ORDER BY month DESC LIMIT 12""",
    ),
    (
        "Total of each number custom property",
        """SELECT property_name, count(*) AS documents, round(sum(number_value), 2) AS total
           FROM document_custom_property_values v JOIN v_documents d ON d.id = v.document_id
           WHERE property_type = 'number' GROUP BY property_name ORDER BY property_name""",
    ),
]


def example_results(con: duckdb.DuckDBPyConnection) -> list[tuple[str, pd.DataFrame]]:
    """Each example query's title and result."""
    return [(title, con.execute(sql).df()) for title, sql in EXAMPLE_QUERIES]
