"""What a sync is asked to do and what it reports: the options, the per-stream counts, the
values it could not type, the run's result and its one error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from papra_pipeline.warehouse import MergeCounts

Mode = Literal["full", "quick"]

STREAMS = (
    "organizations",
    "tags",
    "custom_property_definitions",
    "custom_property_options",
    "organization_statistics",
    "documents",
    "document_tags",
    "document_custom_property_values",
    "document_activity",
    "document_content",
)

ProgressCallback = Callable[[str, str, int, "int | None"], None]


@dataclass(frozen=True)
class SyncOptions:
    """What a sync run does.

    Attributes:
        mode: ``full`` (authoritative scan) or ``quick`` (newest pages, trash, statistics).
        organization_ids: only these organizations; ``None`` means every one the key sees.
        content: fetch and store extracted text (it can be large).
        reverify_period: every live document's content and activity are re-read at least once
            within this period, by full runs each taking a slice in proportion to the time since
            the previous one (so more frequent runs do not cost more); zero disables the slice.
            The CLI and Dagster pass ``PAPRA_REVERIFY_DAYS``.
        verify: (full mode) re-read the text and the whole activity of every document, so the
            warehouse equals the server at that moment, changes the document list cannot show
            included (a text edit, a trash-then-restore, a re-upload of a trashed file).
        empty_content_retry: documents whose text is still empty are re-read on every run
            for this long after we first saw them (Papra extracts text asynchronously).
        reread_documents: ``(organization_id, document_id)`` pairs to re-read in full this run
            whatever the scan shows (detail with text, tags, custom properties and trash
            state, then new activity): what webhook deliveries named.
    """

    mode: Mode = "full"
    organization_ids: tuple[str, ...] | None = None
    content: bool = True
    reverify_period: timedelta = timedelta(days=7)
    verify: bool = False
    empty_content_retry: timedelta = timedelta(days=1)
    reread_documents: frozenset[tuple[str, str]] = frozenset()

    def __post_init__(self) -> None:
        if self.verify and self.mode != "full":
            raise SyncError("verify re-reads every document: it needs a full sync, not quick.")


@dataclass
class StreamStats:
    """What one stream did in a run: rows by outcome, requests and time."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    trashed: int = 0
    restored: int = 0
    purged: int = 0
    removed: int = 0
    requests: int = 0
    retries: int = 0
    duration_seconds: float = 0.0
    untyped: int = 0  # values kept only as Papra sent them (see Untyped)

    def add_counts(self, counts: MergeCounts) -> None:
        self.inserted += counts.inserted
        self.updated += counts.updated
        self.unchanged += counts.unchanged
        self.removed += counts.removed

    @property
    def written(self) -> int:
        return (
            self.inserted + self.updated + self.trashed + self.restored + self.purged + self.removed
        )


@dataclass(frozen=True)
class Untyped:
    """A value Papra sent that the run could not type (a shape a later Papra may send).

    The document is stored all the same: the typed column stays empty and ``_raw`` (or
    ``raw_value``) holds the value exactly; ``_papra_untyped_values`` lists it until a run
    reads the document again and can type it.
    """

    organization_id: str
    document_id: str
    field: str  # where in the record: documentDate, customProperties.amount, tags.<id>.color
    value: Any
    reason: str

    @property
    def stream(self) -> str:
        """The stream whose table has the empty typed column."""
        if self.field.startswith("customProperties"):
            return "document_custom_property_values"
        return "document_tags" if self.field.startswith("tags") else "documents"


@dataclass
class SyncResult:
    """What a run did, returned to the caller and recorded in ``_papra_sync_runs``."""

    run_id: str
    mode: Mode
    started_at: datetime
    finished_at: datetime
    organization_ids: list[str]
    streams: dict[str, StreamStats]
    requests: int
    retries: int
    api_documents_count: dict[str, int] = field(default_factory=dict)
    # Organizations the run meant to sync but Papra no longer shows to the key (see sync.gone).
    skipped_organization_ids: list[str] = field(default_factory=list)
    untyped: list[Untyped] = field(default_factory=list)

    @property
    def rows_written(self) -> int:
        """Rows inserted, changed, flagged or purged (statistics snapshots excluded)."""
        return sum(
            s.written for name, s in self.streams.items() if name != "organization_statistics"
        )

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


class InterruptedAfterCommit(KeyboardInterrupt):
    """Ctrl-C came after the run committed, while readers were getting it: the run is
    saved (and logged as succeeded), and the next sync publishes it."""


class SyncError(Exception):
    """A sync could not finish; the warehouse was left as the last good run left it."""
