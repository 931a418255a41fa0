"""What a run will write, and the write: rows are staged while pages stream through, then
merged into the warehouse in the run's one transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd

from papra_pipeline.sync import records
from papra_pipeline.sync.results import StreamStats, Untyped
from papra_pipeline.sync.snapshot import DOCUMENTS_STATE
from papra_pipeline.warehouse import Staged, Staging, WriteSession

STAGING_BATCH_ROWS = 2000  # rows buffered in Python before they go to the staging file
# A flush costs ~5 ms whatever its size, so rows smaller than a document or its text (~2 KB
# each) are buffered in larger batches: activity (~300 bytes), tag links and custom-property
# values (under 100 bytes of strings).
STAGING_BATCH_ROWS_BY_TABLE = {
    "document_activity": 5_000,
    "document_tags": 10_000,
    "document_custom_property_values": 10_000,
}


def content_row(doc_id: str, content: str | None, now: datetime) -> dict[str, Any]:
    return {"id": doc_id, "content": content, "_content_synced_at": now}


class StagedWrite:
    """What the run will write: small lists here, bulk rows in the staging file."""

    def __init__(self, staging: Staging) -> None:
        self.staging = staging
        self.organizations: list[dict] = []
        self.tags: dict[str, list[dict]] = {}
        self.definitions: dict[str, list[dict]] = {}
        self.options: dict[str, list[dict]] = {}
        self.statistics: list[dict] = []
        self.states: dict[str, dict[str, Any]] = {}
        self.purged: list[str] = []
        self.children_of: list[str] = []
        self.relist_definitions: set[str] = set()  # organizations whose values need them
        self.untyped: dict[tuple[str, str], Untyped] = {}  # (document id, field) -> value
        self.trashed = 0
        self.restored = 0

    def stage(self, name: str, table: str, rows: Iterable[dict]) -> None:
        self.staging.add(name, table, rows)

    def staged(self, name: str) -> Staged | None:
        return self.staging.staged(name)


def write_staged(
    session: WriteSession,
    to_write: StagedWrite,
    stats: dict[str, StreamStats],
    now: datetime,
    *,
    mark_all_organizations: bool,
    organization_ids: list[str],
    run_id: str,
) -> list[Untyped]:
    """Merge everything the run staged into ``session``, counting it in ``stats``; returns the
    values the warehouse still holds untyped for ``organization_ids``."""
    frame = pd.DataFrame
    stats["organizations"].add_counts(
        session.upsert("organizations", frame(to_write.organizations), now)
    )
    if mark_all_organizations:
        stats["organizations"].removed += session.mark_removed(
            "organizations", None, None, [o["id"] for o in to_write.organizations], now
        )
    for org, rows in to_write.tags.items():
        stats["tags"].add_counts(session.upsert("tags", frame(rows), now))
        stats["tags"].removed += session.mark_removed(
            "tags", "organization_id", org, [r["id"] for r in rows], now
        )
    # Tags seen only inside documents (quick mode, or created mid-run): new ones only,
    # so the full list, which also carries documentsCount, stays the reference.
    stats["tags"].inserted += session.upsert(
        "tags", to_write.staged("embedded_tags"), now, update=False
    ).inserted
    redefined = []  # organizations with a definition or option renamed or removed
    for org, rows in to_write.definitions.items():
        options = to_write.options.get(org, [])
        for table, table_rows in (
            ("custom_property_definitions", rows),
            ("custom_property_options", options),
        ):
            merged = session.upsert(table, frame(table_rows), now)
            removed = session.mark_removed(
                table, "organization_id", org, [r["id"] for r in table_rows], now
            )
            stats[table].add_counts(merged)
            stats[table].removed += removed
            if merged.updated or removed:
                redefined.append(org)
    documents = stats["documents"]
    session.make_room_for_long_texts(to_write.staging.long_text_bytes)
    merged, texts = session.upsert_documents(
        to_write.staged("documents"), to_write.staged("document_content"), now
    )
    stats["document_content"].updated += texts
    documents.inserted += merged.inserted
    documents.updated += merged.updated
    documents.trashed += to_write.trashed
    documents.restored += to_write.restored
    documents.purged += session.mark_purged(to_write.purged, now)
    for table in ("document_tags", "document_custom_property_values"):
        stats[table].add_counts(
            session.replace_children(
                table, "document_id", to_write.children_of, to_write.staged(table), now
            )
        )
    links, values = session.drop_cascaded_links(to_write.children_of)
    stats["document_tags"].removed += links
    stats["document_custom_property_values"].removed += values
    session.link_values_to_current_definitions()
    if redefined:  # trashed documents' values follow, as Papra shows them
        renamed, dropped = session.follow_current_definitions(
            sorted(set(redefined)), to_write.children_of
        )
        stats["document_custom_property_values"].updated += renamed
        stats["document_custom_property_values"].removed += dropped
    stats["document_activity"].add_counts(
        session.insert_new("document_activity", to_write.staged("document_activity"))
    )
    stats["organization_statistics"].inserted += session.append(
        "organization_statistics", frame(to_write.statistics)
    )
    session.replace_untyped_values(
        to_write.children_of, [_untyped_row(u, run_id, now) for u in to_write.untyped.values()]
    )
    # Listed and counted on every run until Papra sends values the client can type,
    # not only on the run that read them (an unchanged document is not parsed again).
    untyped_values = [
        Untyped(org, doc_id, name, json.loads(raw), reason)
        for org, doc_id, name, raw, reason in session.untyped_values(organization_ids)
    ]
    for untyped in untyped_values:
        stats[untyped.stream].untyped += 1
    for org, state in to_write.states.items():
        session.write_state(DOCUMENTS_STATE, org, state)
    return untyped_values


def _untyped_row(untyped: Untyped, run_id: str, now: datetime) -> dict[str, Any]:
    return {
        "document_id": untyped.document_id,
        "organization_id": untyped.organization_id,
        "field": untyped.field,
        "raw_value": records.canonical_json(untyped.value),
        "reason": untyped.reason,
        "run_id": run_id,
        "found_at": now,
    }
