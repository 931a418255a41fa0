"""The rolling re-verification slice: which live, unchanged documents a full run re-reads
(text and activity) so that every document is re-verified within the period."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from papra_pipeline.sync.snapshot import Snapshot


def reverify_slice(
    org: str,
    snapshot: Snapshot,
    changed: set[str],
    *,
    period: timedelta,
    started_at: datetime,
) -> tuple[list[str], dict[str, Any]]:
    """The next live, unchanged documents after the cursor, wrapping around, and the state
    to store with it.

    The slice holds the share of live documents that the time since the previous slice is
    of ``period`` (the fraction left over carries to the next run), so every document is
    re-read within the period whether full syncs run hourly or every minute, at the same
    total cost. A first run (no previous slice) only starts the clock.
    """
    state = snapshot.states.get(org, {})
    progress: dict[str, Any] = {"reverify_at": started_at.isoformat()}
    known = snapshot.known(org)
    if period <= timedelta(0) or not known:
        return [], progress
    live = sorted(
        (entry.order_key, doc_id)
        for doc_id, entry in known.items()
        if not entry.is_deleted and not entry.purged and doc_id not in changed
    )
    previous = state.get("reverify_at")
    elapsed = started_at - datetime.fromisoformat(previous) if previous else timedelta(0)
    due = float(state.get("reverify_credit") or 0.0) + len(live) * max(elapsed / period, 0.0)
    size = min(len(live), math.floor(due))
    progress["reverify_credit"] = due - size if size < len(live) else 0.0
    if not size:
        return [], progress
    cursor = tuple(state.get("reverify_cursor") or ())
    if len(cursor) != 2 or not isinstance(cursor[0], int):  # none yet, or an older format
        cursor = (-1, "")
    after = [doc_id for key, doc_id in live if key > cursor]
    before = [doc_id for key, doc_id in live if key <= cursor]
    chosen = (after + before)[:size]
    progress["reverify_cursor"] = list(known[chosen[-1]].order_key)
    return chosen, progress
