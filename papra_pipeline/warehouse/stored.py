"""What a sync reads of what it stored before it asks Papra anything.

Each function takes a connection from :meth:`Warehouse.read_private` (the sync's own file),
which the caller holds for as long as it reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb
import pandas as pd


def active_organization_ids(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The stored organizations Papra still showed at the last sync, in id order."""
    return [
        row[0]
        for row in con.execute(
            "SELECT id FROM organizations WHERE NOT is_removed ORDER BY id"
        ).fetchall()
    ]


def organizations_with_documents(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every organization with a stored document, removed ones included, in id order."""
    return [
        row[0]
        for row in con.execute(
            "SELECT DISTINCT organization_id FROM documents ORDER BY 1"
        ).fetchall()
    ]


def current_definition_ids(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    """Per organization: each current custom-property definition's id by its key."""
    definitions: dict[str, dict[str, str]] = {}
    for org, key, definition_id in con.execute(
        "SELECT organization_id, key, id FROM custom_property_definitions WHERE NOT is_removed"
    ).fetchall():
        definitions.setdefault(org, {})[key] = definition_id
    return definitions


def stored_documents(con: duckdb.DuckDBPyConnection, organization_id: str) -> list[tuple]:
    """One row per stored document of an organization: ``(hash, is_deleted, purged,
    content_missing, first_seen_at, created_us, id)``, ``first_seen_at`` only where the text
    is missing and ``created_us`` in epoch microseconds.

    Only cheap types: Python datetimes are slow to build, and there is a row per document.
    """
    return con.execute(
        """SELECT _hash, is_deleted, purged_at IS NOT NULL,
                  content IS NULL OR content = '' AS missing,
                  CASE WHEN missing THEN _first_seen_at END,
                  epoch_us(created_at), id
           FROM documents WHERE organization_id = ?""",
        [organization_id],
    ).fetchall()


def stored_activity(
    con: duckdb.DuckDBPyConnection, document_ids: Sequence[str]
) -> dict[str, tuple[set[str], datetime]]:
    """Per document: the ids of its stored activity and the newest entry's time."""
    con.register("_papra_wanted", pd.DataFrame({"document_id": list(document_ids)}))
    rows = con.execute(
        "SELECT document_id, list(id), max(created_at) FROM document_activity "
        "WHERE document_id IN (SELECT document_id FROM _papra_wanted) "
        "GROUP BY document_id"
    ).fetchall()
    return {doc_id: (set(ids), newest) for doc_id, ids, newest in rows}
