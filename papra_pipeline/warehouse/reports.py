"""Daily report tables computed from the warehouse, one UTC day at a time.

``refresh_daily_reports`` recomputes a range of days and replaces their rows in one
transaction, so re-running a day (or a backfill over many) never duplicates anything.

Papra keeps only a document's current state, so history is rebuilt from two sources: the
document rows (``created_at``, ``purged_at``, sizes) and the activity log, whose ``deleted``
events open a trash interval that the next ``restored`` event, or a ``created`` event after
the first one (re-uploading a trashed file restores it), closes. A document trashed with no
activity stored falls back to its ``deleted_at``.

An organization that is gone from Papra (``is_removed``) has no rows in the reports: a
refresh drops its rows of every day, not only of the days it recomputes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd

from papra_pipeline.warehouse.store import Warehouse

# Created by schema version 3 (see migrations.py), so a column change is a migration.
REPORT_TABLES = ("report_daily_documents", "report_daily_activity")

# Trash intervals per document: [started_at, ended_at), ended_at NULL while still trashed.
_TRASH = """
    state_events AS (
        SELECT document_id, created_at, event
        FROM (
            SELECT document_id, created_at, event,
                   row_number() OVER (PARTITION BY document_id, event
                                      ORDER BY created_at, id) AS nth
            FROM document_activity
            WHERE event IN ('deleted', 'restored', 'created')
        )
        WHERE event <> 'created' OR nth > 1
    ),
    trash AS (
        SELECT document_id, started_at, ended_at FROM (
            SELECT document_id, event, created_at AS started_at,
                   lead(created_at) OVER (PARTITION BY document_id ORDER BY created_at)
                       AS ended_at
            FROM state_events
        ) WHERE event = 'deleted'
        UNION ALL
        SELECT d.id, d.deleted_at, NULL FROM documents d
        WHERE d.is_deleted AND d.deleted_at IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM state_events s
                          WHERE s.document_id = d.id AND s.event = 'deleted')
    ),
    restores AS (
        SELECT document_id, created_at FROM state_events WHERE event <> 'deleted'
    )
"""

_DOCUMENTS_SQL = f"""
    WITH {_TRASH},
    orgs AS (
        SELECT organization_id FROM (
            SELECT id AS organization_id FROM organizations
            UNION SELECT organization_id FROM documents
        ) WHERE organization_id NOT IN (SELECT id FROM _removed_organizations)
    ),
    grid AS (SELECT * FROM _report_days CROSS JOIN orgs),
    uploads AS (
        SELECT g.day, g.organization_id, count(*) AS documents_uploaded,
               sum(d.original_size) AS bytes_added
        FROM grid g JOIN documents d
          ON d.organization_id = g.organization_id
         AND d.created_at >= g.day_start AND d.created_at < g.day_end
        GROUP BY ALL
    ),
    trashed AS (
        SELECT g.day, g.organization_id, count(DISTINCT t.document_id) AS documents_trashed
        FROM grid g JOIN documents d ON d.organization_id = g.organization_id
        JOIN trash t ON t.document_id = d.id
         AND t.started_at >= g.day_start AND t.started_at < g.day_end
        GROUP BY ALL
    ),
    restored AS (
        SELECT g.day, g.organization_id, count(DISTINCT r.document_id) AS documents_restored
        FROM grid g JOIN documents d ON d.organization_id = g.organization_id
        JOIN restores r ON r.document_id = d.id
         AND r.created_at >= g.day_start AND r.created_at < g.day_end
        GROUP BY ALL
    ),
    activity AS (
        SELECT g.day, g.organization_id,
               count(*) FILTER (WHERE a.event = 'tagged') AS tag_applications,
               count(*) AS activity_events
        FROM grid g JOIN document_activity a
          ON a.organization_id = g.organization_id
         AND a.created_at >= g.day_start AND a.created_at < g.day_end
        GROUP BY ALL
    ),
    live AS (
        SELECT g.day, g.organization_id, count(*) AS live_documents,
               sum(d.original_size) AS live_bytes
        FROM grid g JOIN documents d
          ON d.organization_id = g.organization_id
         AND d.created_at < g.day_end
         AND (d.purged_at IS NULL OR d.purged_at >= g.day_end)
        WHERE NOT EXISTS (
            SELECT 1 FROM trash t
            WHERE t.document_id = d.id AND t.started_at < g.day_end
              AND (t.ended_at IS NULL OR t.ended_at >= g.day_end)
        )
        GROUP BY ALL
    )
    SELECT g.day, g.organization_id,
           coalesce(u.documents_uploaded, 0) AS documents_uploaded,
           coalesce(u.bytes_added, 0) AS bytes_added,
           coalesce(t.documents_trashed, 0) AS documents_trashed,
           coalesce(r.documents_restored, 0) AS documents_restored,
           coalesce(a.tag_applications, 0) AS tag_applications,
           coalesce(a.activity_events, 0) AS activity_events,
           coalesce(l.live_documents, 0) AS live_documents,
           coalesce(l.live_bytes, 0) AS live_bytes,
           $computed_at AS computed_at
    FROM grid g
    LEFT JOIN uploads u USING (day, organization_id)
    LEFT JOIN trashed t USING (day, organization_id)
    LEFT JOIN restored r USING (day, organization_id)
    LEFT JOIN activity a USING (day, organization_id)
    LEFT JOIN live l USING (day, organization_id)
"""

_ACTIVITY_SQL = """
    SELECT g.day, a.organization_id, a.event, count(*) AS events,
           count(DISTINCT a.document_id) AS documents, $computed_at AS computed_at
    FROM _report_days g JOIN document_activity a
      ON a.created_at >= g.day_start AND a.created_at < g.day_end
    WHERE a.organization_id NOT IN (SELECT id FROM _removed_organizations)
    GROUP BY ALL
"""


@dataclass(frozen=True)
class ReportCounts:
    """Rows written per report table for a range of days."""

    days: int
    document_rows: int
    activity_rows: int


def _days(first: date, last: date) -> pd.DataFrame:
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    starts = [datetime.combine(day, time(), tzinfo=UTC) for day in days]
    return pd.DataFrame(
        {
            "day": pd.to_datetime(days).date,
            "day_start": starts,
            "day_end": [start + timedelta(days=1) for start in starts],
        }
    )


def refresh_daily_reports(
    warehouse: Warehouse, first: date, last: date, *, computed_at: datetime | None = None
) -> ReportCounts:
    """Recompute both report tables for the UTC days ``first``..``last`` (inclusive)."""
    if last < first:
        raise ValueError(f"last day {last} is before first day {first}")
    computed_at = computed_at or datetime.now(UTC)
    with warehouse.write() as session:
        con = session.con
        con.register("_report_days", _days(first, last))
        params = {"computed_at": computed_at}
        bounds = [first, last]
        con.execute(
            "CREATE TEMP TABLE _removed_organizations AS "
            "SELECT id FROM organizations WHERE is_removed"
        ).fetchall()
        for table in REPORT_TABLES:
            con.execute(
                f"DELETE FROM {table} WHERE day BETWEEN ? AND ? "
                "OR organization_id IN (SELECT id FROM _removed_organizations)",
                bounds,
            ).fetchall()
        document_rows = con.execute(
            f"INSERT INTO report_daily_documents BY NAME {_DOCUMENTS_SQL}", params
        ).fetchall()[0][0]
        activity_rows = con.execute(
            f"INSERT INTO report_daily_activity BY NAME {_ACTIVITY_SQL}", params
        ).fetchall()[0][0]
        con.unregister("_report_days")
        con.execute("DROP TABLE _removed_organizations").fetchall()
    return ReportCounts((last - first).days + 1, document_rows, activity_rows)
