"""What a sync tells people: progress lines while it runs and the table at its end, printed
by the CLI and logged by the Dagster sync."""

from __future__ import annotations

import json

from papra_pipeline.sync.gone import gone_message
from papra_pipeline.sync.results import STREAMS, SyncResult

UNTYPED_SHOWN = 20


def describe_progress(stream: str, organization_id: str, done: int, total: int | None) -> str:
    """One progress line, e.g. ``documents    org_1: 20/40 pages``."""
    of = f"/{total}" if total else ""
    unit = {"documents": "pages", "organizations": "organizations"}.get(stream, "documents")
    return f"{stream:<12} {organization_id}: {done}{of} {unit}"


def format_summary(result: SyncResult) -> str:
    """The end-of-run table: one line per stream that did anything."""
    header = (
        f"{'stream':<34}{'inserted':>9}{'updated':>9}{'unchanged':>10}{'trashed':>8}"
        f"{'restored':>9}{'purged':>7}{'removed':>8}{'requests':>9}{'retries':>8}{'seconds':>9}"
    )
    lines = [header, "-" * len(header)]
    for name in STREAMS:
        s = result.streams[name]
        if not (s.requests or s.written or s.unchanged):
            continue
        lines.append(
            f"{name:<34}{s.inserted:>9}{s.updated:>9}{s.unchanged:>10}{s.trashed:>8}"
            f"{s.restored:>9}{s.purged:>7}{s.removed:>8}{s.requests:>9}{s.retries:>8}"
            f"{s.duration_seconds:>9.2f}"
        )
    lines.append(
        f"{result.mode} sync of {len(result.organization_ids)} organization(s): "
        f"{result.rows_written} rows written, {result.requests} requests "
        f"({result.retries} retries) in {result.duration_seconds:.1f}s"
    )
    for org in result.skipped_organization_ids:
        lines.append(gone_message(org))
    lines += _untyped_lines(result)
    return "\n".join(lines)


def _untyped_lines(result: SyncResult) -> list[str]:
    """The values Papra sent that could not be typed, by document (the run went on)."""
    if not result.untyped:
        return []
    lines = [
        f"{len(result.untyped)} value(s) could not be typed: their documents are stored with "
        "the typed column empty and the value as Papra sent it in _raw or raw_value "
        "(see _papra_untyped_values):"
    ]
    for untyped in result.untyped[:UNTYPED_SHOWN]:
        value = json.dumps(untyped.value, ensure_ascii=False)
        value = value if len(value) <= 60 else value[:57] + "..."
        lines.append(f"  {untyped.document_id} {untyped.field} = {value}: {untyped.reason}")
    if len(result.untyped) > UNTYPED_SHOWN:
        lines.append(f"  ... and {len(result.untyped) - UNTYPED_SHOWN} more")
    return lines
