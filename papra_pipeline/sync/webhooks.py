"""Drain the webhook inbox into a sync: the documents pending deliveries name are re-read in
full, in the same run and the same DuckDB transaction as the rest of it.

Deliveries are hints (one attempt, no retry, nothing sent for restores, purges or
custom-property changes), so the scan stays the record; a hint only chooses what to re-read.
They are marked consumed after the sync has committed: a run that fails or is killed before
leaves them pending, and the next run re-reads the same documents (re-reading is idempotent).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from papra_pipeline.client import PapraClient
from papra_pipeline.sync.engine import sync
from papra_pipeline.sync.results import ProgressCallback, SyncOptions, SyncResult
from papra_pipeline.warehouse import Warehouse
from papra_pipeline.warehouse.inbox import WebhookInbox, inbox_path

log = logging.getLogger("papra_pipeline.sync")


def sync_draining_webhooks(
    client: PapraClient,
    warehouse: Warehouse,
    options: SyncOptions | None = None,
    *,
    inbox_file: Path | None = None,
    progress: ProgressCallback | None = None,
) -> SyncResult:
    """``sync``, re-reading every document named by a pending delivery in the inbox
    (``PAPRA_WEBHOOK_INBOX``, default beside the DuckDB file); a plain sync when there is none.

    Deliveries naming an organization outside this run are left pending when the run was
    limited to some organizations, and otherwise ignored with a warning: the API key cannot see
    that organization (or it is new, and the next full sync reads all of it).
    """
    options = options or SyncOptions()
    path = inbox_file or inbox_path(warehouse.path)
    if not path.exists():
        return sync(client, warehouse, options, progress=progress)
    with WebhookInbox(path) as inbox:
        wanted = options.organization_ids
        pending = [p for p in inbox.pending() if wanted is None or p.organization_id in wanted]
        hints = frozenset((p.organization_id, p.document_id) for p in pending)
        result = sync(
            client,
            warehouse,
            replace(options, reread_documents=options.reread_documents | hints),
            progress=progress,
        )
        synced = set(result.organization_ids)
        outcomes = {}
        ignored: dict[str, int] = {}
        for delivery in pending:
            if delivery.organization_id in synced:
                outcomes[delivery.seq] = f"re-read by run {result.run_id}"
            else:
                outcomes[delivery.seq] = "ignored: organization not synced"
                ignored[delivery.organization_id] = ignored.get(delivery.organization_id, 0) + 1
        inbox.mark_consumed(outcomes)
    for org, count in sorted(ignored.items()):
        log.warning(
            "ignored %d webhook deliveries for organization %s: this API key does not see it "
            "(or it is new: the next full sync reads it)",
            count,
            org,
        )
    if pending:
        log.info(
            "re-read %d documents named by %d webhook deliveries",
            len({h for h in hints if h[0] in synced}),
            len(pending),
        )
    return result
