"""Per-organization figures of the warehouse, for metadata a dashboard can plot over runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
