"""What the dashboard shows, as named queries on a read-only connection to the readers' file.

The dashboard is a reader like any other: it reads the views and the daily report tables,
and the tables only for what no view holds: organization names (``organizations``), the
trash count (``documents``), the run log (``_papra_sync_runs``), and the typed values behind
``v_document_custom_property_values``'s text (an exact number, each option of a
multi-select). Each function takes an ``organization_id`` (``None``: every organization)
and, for the pages that go by day, a range of UTC days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import duckdb
import pandas as pd


@dataclass(frozen=True)
class DayRange:
    """The UTC days ``first``..``last``, both included."""

    first: date
    last: date


@dataclass(frozen=True)
class LastSync:
    """The newest sync recorded in the readers' file, and the newest that succeeded."""

    finished_at: datetime | None
    mode: str | None
    status: str | None
    error: str | None
    succeeded_at: datetime | None


def organizations(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Organization names by id, of those still in Papra, by name."""
    rows = con.execute(
        "SELECT id, name FROM organizations WHERE NOT is_removed ORDER BY name, id"
    ).fetchall()
    return dict(rows)


def has_synced(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the file holds anything a sync wrote (an empty file only has the schema)."""
    runs = con.execute("SELECT count(*) FROM _papra_sync_runs").fetchall()[0][0]
    organization_count = con.execute("SELECT count(*) FROM organizations").fetchall()[0][0]
    return bool(runs or organization_count)


# Per organization: live documents and bytes (v_documents), documents in the trash, tags.
_NOW_SQL = """
    WITH orgs AS (
        SELECT id, name FROM organizations
        WHERE NOT is_removed AND ($org IS NULL OR id = $org)
    ), live AS (
        SELECT organization_id, count(*) AS live_documents,
               coalesce(sum(original_size), 0)::BIGINT AS live_bytes
        FROM v_documents GROUP BY ALL
    ), trash AS (
        SELECT organization_id, count(*) AS trashed_documents
        FROM documents WHERE is_deleted AND purged_at IS NULL GROUP BY ALL
    ), tag_counts AS (
        SELECT organization_id, count(*) AS tags
        FROM v_tag_usage WHERE NOT is_removed GROUP BY ALL
    ), runs AS (
        SELECT o.id AS organization_id,
               max_by(r.finished_at, r.finished_at) AS last_sync_at,
               max_by(r.status, r.finished_at) AS last_sync_status,
               max(r.finished_at) FILTER (WHERE r.status = 'succeeded') AS last_success_at
        FROM orgs o JOIN _papra_sync_runs r ON list_contains(r.organizations, o.id)
        GROUP BY ALL
    )
    SELECT o.id AS organization_id, o.name AS organization,
           coalesce(l.live_documents, 0) AS live_documents,
           coalesce(l.live_bytes, 0) AS live_bytes,
           coalesce(t.trashed_documents, 0) AS trashed_documents,
           coalesce(g.tags, 0) AS tags,
           r.last_sync_at, r.last_sync_status, r.last_success_at
    FROM orgs o
    LEFT JOIN live l ON l.organization_id = o.id
    LEFT JOIN trash t ON t.organization_id = o.id
    LEFT JOIN tag_counts g ON g.organization_id = o.id
    LEFT JOIN runs r ON r.organization_id = o.id
    ORDER BY o.name, o.id
"""


def now_per_organization(
    con: duckdb.DuckDBPyConnection, organization_id: str | None
) -> pd.DataFrame:
    """One row per organization: live documents and bytes, trashed documents, tags, and its
    newest sync in this file (time and status) and newest successful one."""
    return con.execute(_NOW_SQL, {"org": organization_id}).df()


def last_sync(con: duckdb.DuckDBPyConnection) -> LastSync:
    """The newest run in the readers' file. Syncs that change nothing (and failed ones) are
    recorded in the sync's own file and reach this one with the next sync that publishes."""
    newest = con.execute(
        """SELECT finished_at, mode, status, error FROM _papra_sync_runs
           ORDER BY finished_at DESC LIMIT 1"""
    ).fetchall()
    succeeded = con.execute(
        "SELECT max(finished_at) FROM _papra_sync_runs WHERE status = 'succeeded'"
    ).fetchall()[0][0]
    if not newest:
        return LastSync(None, None, None, None, succeeded)
    return LastSync(*newest[0], succeeded_at=succeeded)


def data_days(con: duckdb.DuckDBPyConnection) -> DayRange | None:
    """The UTC days from the first upload to the last change stored (``None``: no document),
    what a report backfill should cover."""
    first, last = con.execute("SELECT min(day), max(day) FROM v_storage_daily").fetchall()[0]
    return DayRange(first, last) if first is not None else None


def reported_days(con: duckdb.DuckDBPyConnection) -> list[date]:
    """Every UTC day the daily reports hold, oldest first."""
    rows = con.execute("SELECT DISTINCT day FROM report_daily_documents ORDER BY day").fetchall()
    return [day for (day,) in rows]


def daily_documents(
    con: duckdb.DuckDBPyConnection, organization_id: str | None, days: DayRange
) -> pd.DataFrame:
    """Per reported day in ``days``: uploads, bytes added, trashed, restored, and live
    documents and bytes at the end of the day, summed over the chosen organizations."""
    return con.execute(
        """SELECT day,
                  sum(documents_uploaded)::BIGINT AS documents_uploaded,
                  sum(bytes_added)::BIGINT AS bytes_added,
                  sum(documents_trashed)::BIGINT AS documents_trashed,
                  sum(documents_restored)::BIGINT AS documents_restored,
                  sum(live_documents)::BIGINT AS live_documents,
                  sum(live_bytes)::BIGINT AS live_bytes
           FROM report_daily_documents
           WHERE day BETWEEN $first AND $last AND ($org IS NULL OR organization_id = $org)
           GROUP BY day ORDER BY day""",
        {"org": organization_id, "first": days.first, "last": days.last},
    ).df()


def daily_activity(
    con: duckdb.DuckDBPyConnection, organization_id: str | None, days: DayRange
) -> pd.DataFrame:
    """Per reported day in ``days`` and event: activity entries."""
    return con.execute(
        """SELECT day, event, sum(events)::BIGINT AS events
           FROM report_daily_activity
           WHERE day BETWEEN $first AND $last AND ($org IS NULL OR organization_id = $org)
           GROUP BY day, event ORDER BY day, event""",
        {"org": organization_id, "first": days.first, "last": days.last},
    ).df()


def top_tags(
    con: duckdb.DuckDBPyConnection, organization_id: str | None, limit: int = 15
) -> pd.DataFrame:
    """The tags on the most live documents (name, organization, documents, bytes)."""
    return con.execute(
        """SELECT t.name AS tag, o.name AS organization, t.live_documents,
                  t.live_bytes::BIGINT AS live_bytes
           FROM v_tag_usage t JOIN organizations o ON o.id = t.organization_id
           WHERE NOT t.is_removed AND ($org IS NULL OR t.organization_id = $org)
           ORDER BY t.live_documents DESC, t.name, o.name LIMIT $limit""",
        {"org": organization_id, "limit": limit},
    ).df()


# The view gives the live documents' values of current definitions; the typed columns of the
# table give the exact number and every option of a multi-select.
_VALUES = """
    SELECT v.property_name, v.property_type, b.number_value, b.option_names
    FROM v_document_custom_property_values v
    JOIN document_custom_property_values b USING (document_id, property_key)
    WHERE ($org IS NULL OR v.organization_id = $org)
"""


def number_property_totals(
    con: duckdb.DuckDBPyConnection, organization_id: str | None
) -> pd.DataFrame:
    """Per number property: documents with a value and their sum, over live documents."""
    return con.execute(
        f"""SELECT property_name AS property, count(number_value) AS documents,
                   sum(number_value) AS total
            FROM ({_VALUES}) WHERE property_type = 'number'
            GROUP BY property_name ORDER BY property_name""",
        {"org": organization_id},
    ).df()


def select_property_counts(
    con: duckdb.DuckDBPyConnection, organization_id: str | None
) -> pd.DataFrame:
    """Per select or multi-select property and option: live documents carrying it."""
    return con.execute(
        f"""SELECT property_name AS property, option, count(*) AS documents
            FROM (SELECT property_name, unnest(option_names) AS option
                  FROM ({_VALUES}) WHERE property_type IN ('select', 'multi_select'))
            GROUP BY ALL ORDER BY property, documents DESC, option""",
        {"org": organization_id},
    ).df()
