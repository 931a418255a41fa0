"""Cheap looks at Papra between syncs: a change fingerprint and a statistics snapshot.

Papra has no change feed. Its statistics counters move on every upload, trash, restore and
purge, and the newest document id moves on every upload, so ``1 + 2 * organizations``
requests tell a sensor whether a quick sync is worth running. Edits that change neither
(renames, tags, custom properties) are left to the scheduled full sync.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import pandas as pd

from papra_pipeline.client import OrganizationStatistics, PapraClient
from papra_pipeline.sync.clock import utcnow
from papra_pipeline.sync.gone import unless_gone
from papra_pipeline.sync.records import short_digest, statistics_row
from papra_pipeline.warehouse import Warehouse
from papra_pipeline.warehouse.stored import active_organization_ids

STATISTICS_FIELDS = (
    "documents_count",
    "documents_size",
    "deleted_documents_count",
    "deleted_documents_size",
    "total_documents_count",
    "total_documents_size",
)


@dataclass(frozen=True)
class ProbeResult:
    """Per organization: the six statistics counters and the newest document id.

    ``organizations`` is JSON-able as it is, small enough for a sensor cursor. ``gone`` are
    the organizations asked for that Papra no longer shows to the key (see ``sync.gone``).
    """

    organizations: dict[str, dict[str, Any]]
    requests: int
    gone: list[str] = field(default_factory=list)

    def fingerprint(self, organization_id: str) -> str:
        """A short stable hash of one organization's state, for run keys."""
        return short_digest(self.organizations[organization_id])

    def changed_since(self, previous: dict[str, dict[str, Any]]) -> list[str]:
        """Organizations whose state differs from ``previous`` (new ones included), sorted."""
        return sorted(
            org for org, state in self.organizations.items() if previous.get(org) != state
        )


def _statistics_dict(stats: OrganizationStatistics) -> dict[str, Any]:
    return {name: getattr(stats, name) for name in STATISTICS_FIELDS}


def probe(client: PapraClient, organization_ids: Sequence[str] | None = None) -> ProbeResult:
    """Fingerprint every organization the key sees (or only ``organization_ids``)."""
    before = client.stats.snapshot()["requests"]
    if organization_ids is None:
        organization_ids = [org.id for org in client.list_organizations()]
    organizations: dict[str, dict[str, Any]] = {}
    gone: list[str] = []
    for org in sorted(organization_ids):
        stats = unless_gone(org, partial(client.get_document_statistics, org))
        if stats is None:
            gone.append(org)
            continue
        state = _statistics_dict(stats)
        newest = client.list_documents(
            org, page_index=0, page_size=1, sort_field="createdAt", sort_order="desc"
        )
        state["newest_document_id"] = newest.ids[0] if newest.items else None
        organizations[org] = state
    return ProbeResult(organizations, client.stats.snapshot()["requests"] - before, gone)


@dataclass(frozen=True)
class StatisticsSnapshot:
    """What :func:`snapshot_statistics` did: rows appended, and organizations it skipped
    because Papra no longer shows them to the key."""

    rows_written: int
    gone: list[str]


def snapshot_statistics(
    client: PapraClient,
    warehouse: Warehouse,
    organization_ids: Sequence[str] | None = None,
    *,
    run_id: str | None = None,
    now: Callable[[], datetime] = utcnow,
) -> StatisticsSnapshot:
    """Append one ``organization_statistics`` row per organization.

    Organizations default to the ones the warehouse holds (not removed), or every one the key
    sees when the warehouse has none yet. One that is gone is skipped with a warning.
    """
    warehouse.ensure_schema()
    if organization_ids is None:
        with warehouse.read_private() as con:
            organization_ids = active_organization_ids(con)
        if not organization_ids:
            organization_ids = [org.id for org in client.list_organizations()]
    snapshot_at = now()
    run_id = run_id or uuid.uuid4().hex
    rows, gone = [], []
    for org in organization_ids:
        stats = unless_gone(org, partial(client.get_document_statistics, org))
        if stats is None:
            gone.append(org)
        else:
            rows.append(statistics_row(org, stats, snapshot_at, run_id))
    with warehouse.write() as session:
        return StatisticsSnapshot(
            session.append("organization_statistics", pd.DataFrame(rows)), gone
        )
