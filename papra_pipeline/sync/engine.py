"""The incremental sync: fetch what changed from Papra, then write it in one transaction.

Papra has no change feed (``updatedAt`` never moves, purges leave no trace), so:

* **full** mode scans every document page (ascending ``createdAt``, pages fetched concurrently),
  compares each item's fingerprint with the warehouse, rebuilds tags and custom-property values
  of changed documents from the scan itself, reads the trash, and confirms every absence with
  a GET that answers 404 before setting ``purged_at``;
* **quick** mode reads the newest pages until one holds only known ids, plus the trash and the
  statistics: a few requests per organization, for sensors and frequent runs.

Content and activity are fetched per document only where they can have changed (new, changed,
still-empty or leaving the trash) plus a rolling slice, so every document is re-verified within
``reverify_every_runs`` full runs. Nothing is written until everything is fetched; the write is
one DuckDB transaction holding rows, sync state and the run log, so a failed run leaves the
warehouse exactly as the last good run left it.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pandas as pd

from papra_pipeline.client import (
    Activity,
    Document,
    DocumentPage,
    PapraClient,
    PapraNotFoundError,
    PapraResponseError,
)
from papra_pipeline.sync import records
from papra_pipeline.warehouse import MergeCounts, Warehouse, WarehouseError, read_state

log = logging.getLogger("papra_pipeline.sync")

Mode = Literal["full", "quick"]
PAGE_SIZE = 100
PAGES_PER_BATCH = 20  # pages fetched concurrently before their items are folded in (memory bound)
DOCUMENTS_STATE = "documents"

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


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SyncOptions:
    """What a sync run does.

    Attributes:
        mode: ``full`` (authoritative scan) or ``quick`` (newest pages, trash, statistics).
        organization_ids: only these organizations; ``None`` means every one the key sees.
        content: fetch and store extracted text (it can be large).
        reverify_every_runs: every live document's content and activity are re-read at least
            once every this many full runs (a rolling slice per run); 0 disables the slice.
        empty_content_retry: documents whose text is still empty are re-read on every run
            for this long after we first saw them (Papra extracts text asynchronously).
    """

    mode: Mode = "full"
    organization_ids: tuple[str, ...] | None = None
    content: bool = True
    reverify_every_runs: int = 24
    empty_content_retry: timedelta = timedelta(days=1)


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

    @property
    def rows_written(self) -> int:
        """Rows inserted, changed, flagged or purged (statistics snapshots excluded)."""
        return sum(
            s.written for name, s in self.streams.items() if name != "organization_statistics"
        )

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


class SyncError(Exception):
    """A sync could not finish; the warehouse was left as the last good run left it."""


@dataclass
class _Known:
    """What the warehouse holds for one document before this run."""

    hash: str
    is_deleted: bool
    purged: bool
    content_missing: bool
    first_seen_at: datetime
    order_key: tuple[str, str]


@dataclass
class _Snapshot:
    organization_ids: list[str]
    documents: dict[str, dict[str, _Known]]
    definitions: dict[str, dict[str, str]]
    states: dict[str, dict[str, Any]]


@dataclass
class _Pending:
    """Rows gathered while fetching, written together at the end."""

    organizations: list[dict] = field(default_factory=list)
    tags: dict[str, list[dict]] = field(default_factory=dict)
    embedded_tags: list[dict] = field(default_factory=list)
    definitions: dict[str, list[dict]] = field(default_factory=dict)
    options: dict[str, list[dict]] = field(default_factory=dict)
    documents: list[dict] = field(default_factory=list)
    children_of: list[str] = field(default_factory=list)
    document_tags: list[dict] = field(default_factory=list)
    custom_property_values: list[dict] = field(default_factory=list)
    content: list[dict] = field(default_factory=list)
    purged: list[str] = field(default_factory=list)
    activity: list[dict] = field(default_factory=list)
    statistics: list[dict] = field(default_factory=list)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    trashed: int = 0
    restored: int = 0


def sync(
    client: PapraClient,
    warehouse: Warehouse,
    options: SyncOptions | None = None,
    *,
    progress: ProgressCallback | None = None,
    now: Callable[[], datetime] = utcnow,
) -> SyncResult:
    """Run one sync of Papra into the warehouse and return what it did.

    Raises the client's or warehouse's error on failure, after recording the failed run in the
    run log when the file can be opened; data tables are untouched by a failed run.
    """
    run = _SyncRun(client, warehouse, options or SyncOptions(), progress, now)
    try:
        return run.execute()
    except BaseException as exc:
        run.record_failure(exc)
        raise


class _SyncRun:
    def __init__(
        self,
        client: PapraClient,
        warehouse: Warehouse,
        options: SyncOptions,
        progress: ProgressCallback | None,
        now: Callable[[], datetime],
    ) -> None:
        self.client = client
        self.warehouse = warehouse
        self.options = options
        self.progress = progress or (lambda stream, org, done, total: None)
        self.now = now
        self.run_id = uuid.uuid4().hex
        self.started_at = now()
        self.stats = {name: StreamStats() for name in STREAMS}
        self.pending = _Pending()
        self.api_documents_count: dict[str, int] = {}
        self.organization_ids: list[str] = []
        self._mark_all_organizations = False
        self._requests_at_start = client.stats.snapshot()

    # -- bookkeeping -------------------------------------------------------------------------

    @contextmanager
    def _measure(self, stream: str) -> Iterator[None]:
        before = self.client.stats.snapshot()
        started = time.perf_counter()
        try:
            yield
        finally:
            after = self.client.stats.snapshot()
            stats = self.stats[stream]
            stats.requests += after["requests"] - before["requests"]
            stats.retries += after["retries"] - before["retries"]
            stats.duration_seconds += time.perf_counter() - started

    def _totals(self) -> tuple[int, int]:
        after = self.client.stats.snapshot()
        return (
            after["requests"] - self._requests_at_start["requests"],
            after["retries"] - self._requests_at_start["retries"],
        )

    def record_failure(self, exc: BaseException) -> None:
        requests, retries = self._totals()
        run = self._run_row("failed", requests, retries, error=f"{type(exc).__name__}: {exc}")
        try:
            with self.warehouse.write() as session:
                session.record_run(run, [])
        except (WarehouseError, OSError) as write_error:
            log.warning("could not record the failed run in the run log: %s", write_error)

    def _run_row(self, status: str, requests: int, retries: int, error: str | None) -> dict:
        finished = self.now()
        return {
            "run_id": self.run_id,
            "mode": self.options.mode,
            "started_at": self.started_at,
            "finished_at": finished,
            "status": status,
            "organizations": self.organization_ids,
            "requests": requests,
            "retries": retries,
            "duration_seconds": (finished - self.started_at).total_seconds(),
            "error": error,
        }

    # -- the run -----------------------------------------------------------------------------

    def execute(self) -> SyncResult:
        self.warehouse.ensure_schema()
        snapshot = self._read_snapshot()
        self.organization_ids = self._organizations(snapshot)
        for organization_id in self.organization_ids:
            if self.options.mode == "full":
                self._full_organization(organization_id, snapshot)
            else:
                self._quick_organization(organization_id, snapshot)
        self._fill_definition_ids(snapshot)
        self._write()
        requests, retries = self._totals()
        return SyncResult(
            run_id=self.run_id,
            mode=self.options.mode,
            started_at=self.started_at,
            finished_at=self.now(),
            organization_ids=self.organization_ids,
            streams=self.stats,
            requests=requests,
            retries=retries,
            api_documents_count=self.api_documents_count,
        )

    def _read_snapshot(self) -> _Snapshot:
        documents: dict[str, dict[str, _Known]] = {}
        definitions: dict[str, dict[str, str]] = {}
        states: dict[str, dict[str, Any]] = {}
        with self.warehouse.read() as con:
            organization_ids = [
                row[0]
                for row in con.execute(
                    "SELECT id FROM organizations WHERE NOT is_removed ORDER BY id"
                ).fetchall()
            ]
            rows = con.execute(
                """SELECT organization_id, id, _hash, is_deleted, purged_at IS NOT NULL,
                          content IS NULL OR content = '', _first_seen_at,
                          strftime(created_at, '%Y-%m-%dT%H:%M:%S.%f')
                   FROM documents"""
            ).fetchall()
            for org, doc_id, hash_, deleted, purged, missing, first_seen, created in rows:
                documents.setdefault(org, {})[doc_id] = _Known(
                    hash_, deleted, purged, missing, first_seen, (created or "", doc_id)
                )
            for org, key, definition_id in con.execute(
                "SELECT organization_id, key, id FROM custom_property_definitions "
                "WHERE NOT is_removed"
            ).fetchall():
                definitions.setdefault(org, {})[key] = definition_id
            for org in {*organization_ids, *documents}:
                states[org] = read_state(con, DOCUMENTS_STATE, org)
        return _Snapshot(organization_ids, documents, definitions, states)

    def _organizations(self, snapshot: _Snapshot) -> list[str]:
        """The organizations to sync; full mode and first runs list them from Papra."""
        wanted = self.options.organization_ids
        known = snapshot.organization_ids
        if self.options.mode == "quick" and known and set(wanted or ()) <= set(known):
            return [org for org in known if wanted is None or org in wanted]
        with self._measure("organizations"):
            organizations = self.client.list_organizations()
        visible = {org.id for org in organizations}
        missing = [org for org in wanted or () if org not in visible]
        if missing:
            raise SyncError(
                f"Organization {', '.join(missing)} is not visible to this API key (wrong id, "
                "deleted organization, or the key's user is not a member). Visible: "
                f"{', '.join(sorted(visible)) or 'none'}."
            )
        chosen = [org for org in organizations if wanted is None or org.id in wanted]
        self.pending.organizations = [records.organization_row(org) for org in chosen]
        self._mark_all_organizations = wanted is None
        self.progress("organizations", "*", len(chosen), len(chosen))
        return [org.id for org in chosen]

    # -- full mode ---------------------------------------------------------------------------

    def _full_organization(self, org: str, snapshot: _Snapshot) -> None:
        with self._measure("tags"):
            tags = self.client.list_tags(org)
        self.pending.tags[org] = [records.tag_row(tag, organization_id=org) for tag in tags]
        with self._measure("custom_property_definitions"):
            definitions = self.client.list_custom_property_definitions(org)
        self.pending.definitions[org] = []
        self.pending.options[org] = []
        for definition in definitions:
            row, option_rows = records.definition_rows(definition)
            self.pending.definitions[org].append(row)
            self.pending.options[org].extend(option_rows)
        snapshot.definitions[org] = {d.key: d.id for d in definitions}
        self._statistics(org)

        scanned: dict[str, Document] = {}
        with self._measure("documents"):
            for page in self._scan_all_pages(org):
                for document in page.documents:
                    scanned[document.id] = document
        self._fold_organization(org, snapshot, scanned, complete_scan=True)

    def _scan_all_pages(self, org: str) -> Iterator[DocumentPage]:
        """Every page in ascending creation order; pages after the first fetched concurrently.

        New uploads append at the end, so pages keep coming until a short page, however many
        ``documentsCount`` announced at the start.
        """
        first = self._list_page(org, 0, "asc")
        yield first
        total_pages = max(1, math.ceil(first.documents_count / PAGE_SIZE))
        self.progress("documents", org, 1, total_pages)
        last = first
        index = 1
        while index < total_pages:
            batch = list(range(index, min(total_pages, index + PAGES_PER_BATCH)))
            pages = self.client.map_concurrent(lambda i: self._list_page(org, i, "asc"), batch)
            yield from pages
            last = pages[-1]
            index = batch[-1] + 1
            self.progress("documents", org, index, total_pages)
        guard = total_pages + 10
        while len(last.documents) == PAGE_SIZE:
            if index > guard:
                raise PapraResponseError(
                    f"Papra kept returning full document pages past page {guard} for {org} "
                    f"although it announced {first.documents_count} documents; stopping."
                )
            last = self._list_page(org, index, "asc")
            yield last
            index += 1

    def _list_page(self, org: str, index: int, order: str) -> DocumentPage:
        return self.client.list_documents(
            org, page_index=index, page_size=PAGE_SIZE, sort_field="createdAt", sort_order=order
        )

    def _statistics(self, org: str) -> None:
        with self._measure("organization_statistics"):
            stats = self.client.get_document_statistics(org)
        self.api_documents_count[org] = stats.documents_count
        self.pending.statistics.append(
            records.statistics_row(org, stats, self.started_at, self.run_id)
        )

    # -- quick mode --------------------------------------------------------------------------

    def _quick_organization(self, org: str, snapshot: _Snapshot) -> None:
        known = snapshot.documents.get(org, {})
        self._statistics(org)
        scanned: dict[str, Document] = {}
        with self._measure("documents"):
            index = 0
            while True:
                page = self._list_page(org, index, "desc")
                for document in page.documents:
                    scanned[document.id] = document
                self.progress("documents", org, index + 1, None)
                all_known = all(doc.id in known for doc in page.documents)
                if all_known or len(page.documents) < PAGE_SIZE:
                    break
                index += 1
        self._fold_organization(org, snapshot, scanned, complete_scan=False)

    # -- shared by both modes ----------------------------------------------------------------

    def _fold_organization(
        self,
        org: str,
        snapshot: _Snapshot,
        scanned: dict[str, Document],
        *,
        complete_scan: bool,
    ) -> None:
        """Compare what Papra listed with what the warehouse holds and fetch the details."""
        known = snapshot.documents.get(org, {})
        observed = self._observe_trash_and_absences(org, known, scanned, complete_scan)
        changed = self._with_details(org, self._changed(known, observed))
        self._stage_documents(org, snapshot, changed)

        changed_ids = {doc.id for doc in changed}
        reverify = self._reverify_slice(org, snapshot, changed_ids) if complete_scan else []
        purged = set(self.pending.purged)
        activity_for = [doc.id for doc in changed if doc.id not in purged] + reverify
        new_activity = self._fetch_activity(org, activity_for)
        if self.options.content:
            self._fetch_content(org, known, observed, changed, new_activity, reverify)

        if complete_scan:
            state = dict(snapshot.states.get(org, {}))
            if reverify:
                state["reverify_cursor"] = list(known[reverify[-1]].order_key)
            state["last_full_scan_at"] = self.started_at.isoformat()
            state["documents_listed"] = len(scanned)
            self.pending.states[org] = state

    def _observe_trash_and_absences(
        self,
        org: str,
        known: dict[str, _Known],
        scanned: dict[str, Document],
        complete_scan: bool,
    ) -> dict[str, Document]:
        """Everything seen of the organization's documents this run, by id.

        The trash is read after the scan, so it is the later observation of a document. A known
        document listed nowhere is looked up: Papra purges without a trace, so only a 404
        counts as purged (offset paging under concurrent writes can skip an item).
        """
        with self._measure("documents"):
            trash = {doc.id: doc for doc in self.client.iter_deleted_documents(org)}
        observed: dict[str, Document] = {**scanned, **trash}
        unresolved = [
            doc_id
            for doc_id, entry in known.items()
            if not entry.purged and doc_id not in observed and (complete_scan or entry.is_deleted)
        ]
        with self._measure("documents"):
            looked_up = self.client.map_concurrent(lambda d: self._get_or_none(org, d), unresolved)
        for doc_id, document in zip(unresolved, looked_up, strict=True):
            if document is None:
                self.pending.purged.append(doc_id)
            else:
                observed[doc_id] = document
        return observed

    def _changed(self, known: dict[str, _Known], observed: dict[str, Document]) -> list[Document]:
        """New documents and those whose fingerprint moved; counts trashes and restores."""
        changed: list[Document] = []
        for doc_id, document in observed.items():
            entry = known.get(doc_id)
            if entry is not None and not entry.purged:
                if entry.hash == records.document_fingerprint(document):
                    self.stats["documents"].unchanged += 1
                    continue
                if document.is_deleted and not entry.is_deleted:
                    self.pending.trashed += 1
                elif entry.is_deleted and not document.is_deleted:
                    self.pending.restored += 1
            elif document.is_deleted:
                self.pending.trashed += 1
            changed.append(document)
        return changed

    def _stage_documents(self, org: str, snapshot: _Snapshot, changed: list[Document]) -> None:
        """Rows for changed documents, with their tags and values rebuilt from the same item."""
        definition_ids = snapshot.definitions.get(org, {})
        for document in changed:
            self.pending.documents.append(records.document_row(document, with_content=False))
            if document.tags is None:
                continue
            self.pending.children_of.append(document.id)
            self.pending.document_tags.extend(records.document_tag_rows(document))
            self.pending.custom_property_values.extend(
                records.custom_property_value_rows(document, definition_ids)
            )
            self.pending.embedded_tags.extend(
                records.tag_row(tag, organization_id=org) for tag in document.tags
            )

    def _fetch_content(
        self,
        org: str,
        known: dict[str, _Known],
        observed: dict[str, Document],
        changed: list[Document],
        new_activity: dict[str, list[Activity]],
        reverify: list[str],
    ) -> None:
        """Text only where it can have changed: new, edited (per activity), still empty while
        Papra may be extracting it, or due for re-verification."""
        now = self.now()
        wanted: list[str] = []
        for document in changed:
            entry = known.get(document.id)
            if document.content is not None:  # trash items and details carry it already
                self._keep_content(document, now)
            elif (
                entry is None
                or entry.purged
                or entry.content_missing
                or records.shows_content_update(new_activity.get(document.id, ()))
            ):
                wanted.append(document.id)
        changed_ids = {doc.id for doc in changed}
        for doc_id, entry in known.items():
            if (
                doc_id not in changed_ids
                and doc_id in observed
                and entry.content_missing
                and not entry.is_deleted
                and now - entry.first_seen_at <= self.options.empty_content_retry
            ):
                wanted.append(doc_id)
        wanted = list(dict.fromkeys(wanted + reverify))
        with self._measure("document_content"):
            fetched = self.client.map_concurrent(lambda d: self._get_or_none(org, d), wanted)
        for document in fetched:
            if document is not None:
                self._keep_content(document, now)
        self.progress("document_content", org, len(wanted), len(wanted))

    def _with_details(self, org: str, changed: list[Document]) -> list[Document]:
        """Newly trashed documents come from the trash list, which omits tags and custom
        properties; one GET each brings them, so the copy does not depend on whether we saw
        the document before it was trashed."""
        partial = [doc.id for doc in changed if doc.tags is None]
        if not partial:
            return changed
        with self._measure("documents"):
            details = self.client.map_concurrent(lambda d: self._get_or_none(org, d), partial)
        found = {doc.id: doc for doc in details if doc is not None}
        for doc_id, detail in zip(partial, details, strict=True):
            if detail is None:
                self.pending.purged.append(doc_id)
        return [
            found.get(doc.id, doc) for doc in changed if doc.tags is not None or doc.id in found
        ]

    def _keep_content(self, document: Document, now: datetime) -> None:
        self.pending.content.append(
            {"id": document.id, "content": document.content, "_content_synced_at": now}
        )

    def _get_or_none(self, org: str, doc_id: str) -> Document | None:
        try:
            return self.client.get_document(org, doc_id)
        except PapraNotFoundError:
            return None

    def _reverify_slice(self, org: str, snapshot: _Snapshot, changed: set[str]) -> list[str]:
        """The next live, unchanged documents after the cursor, wrapping around."""
        every = self.options.reverify_every_runs
        known = snapshot.documents.get(org, {})
        if every <= 0 or not known:
            return []
        live = sorted(
            (entry.order_key, doc_id)
            for doc_id, entry in known.items()
            if not entry.is_deleted and not entry.purged and doc_id not in changed
        )
        if not live:
            return []
        size = math.ceil(len(live) / every)
        cursor = tuple(snapshot.states.get(org, {}).get("reverify_cursor") or ("", ""))
        after = [doc_id for key, doc_id in live if key > cursor]
        before = [doc_id for key, doc_id in live if key <= cursor]
        return (after + before)[:size]

    def _fetch_activity(self, org: str, document_ids: Sequence[str]) -> dict[str, list[Activity]]:
        """New activity per document, newest first, stopping at the first entry already stored."""
        if not document_ids:
            return {}
        known_ids = self._known_activity_ids(document_ids)

        def fetch(doc_id: str) -> list[Activity]:
            fresh: list[Activity] = []
            for activity in self.client.iter_document_activity(org, doc_id):
                if activity.id in known_ids:
                    break
                fresh.append(activity)
            return fresh

        with self._measure("document_activity"):
            results = self.client.map_concurrent(fetch, list(document_ids))
        self.progress("document_activity", org, len(document_ids), len(document_ids))
        new: dict[str, list[Activity]] = {}
        for doc_id, activities in zip(document_ids, results, strict=True):
            new[doc_id] = activities
            self.pending.activity.extend(records.activity_row(org, a) for a in activities)
        return new

    def _known_activity_ids(self, document_ids: Sequence[str]) -> set[str]:
        with self.warehouse.read() as con:
            con.register("_papra_wanted", pd.DataFrame({"document_id": list(document_ids)}))
            rows = con.execute(
                "SELECT id FROM document_activity "
                "WHERE document_id IN (SELECT document_id FROM _papra_wanted)"
            ).fetchall()
        return {row[0] for row in rows}

    def _fill_definition_ids(self, snapshot: _Snapshot) -> None:
        """Values list a property by key; a definition created mid-run is looked up once more."""
        unknown = {
            row["organization_id"]
            for row in self.pending.custom_property_values
            if row["property_definition_id"] is None
        }
        for org in unknown:
            with self._measure("custom_property_definitions"):
                definitions = self.client.list_custom_property_definitions(org)
            ids = {d.key: d.id for d in definitions}
            for row in self.pending.custom_property_values:
                if row["organization_id"] == org and row["property_definition_id"] is None:
                    row["property_definition_id"] = ids.get(row["property_key"])

    # -- the write ---------------------------------------------------------------------------

    def _write(self) -> None:
        pending = self.pending
        now = self.now()
        frame = pd.DataFrame
        with self.warehouse.write() as session:
            counts = session.upsert("organizations", frame(pending.organizations), now)
            self.stats["organizations"].add_counts(counts)
            if self._mark_all_organizations:
                self.stats["organizations"].removed += session.mark_removed(
                    "organizations", None, None, [o["id"] for o in pending.organizations], now
                )
            for org, rows in pending.tags.items():
                self.stats["tags"].add_counts(session.upsert("tags", frame(rows), now))
                self.stats["tags"].removed += session.mark_removed(
                    "tags", "organization_id", org, [r["id"] for r in rows], now
                )
            # Tags seen only inside documents (quick mode, or created mid-run): new ones only,
            # so the full list, which also carries documentsCount, stays the reference.
            self.stats["tags"].inserted += session.upsert(
                "tags", frame(pending.embedded_tags), now, update=False
            ).inserted
            for org, rows in pending.definitions.items():
                stream = self.stats["custom_property_definitions"]
                stream.add_counts(session.upsert("custom_property_definitions", frame(rows), now))
                stream.removed += session.mark_removed(
                    "custom_property_definitions",
                    "organization_id",
                    org,
                    [r["id"] for r in rows],
                    now,
                )
                options = pending.options.get(org, [])
                stream = self.stats["custom_property_options"]
                stream.add_counts(session.upsert("custom_property_options", frame(options), now))
                stream.removed += session.mark_removed(
                    "custom_property_options",
                    "organization_id",
                    org,
                    [r["id"] for r in options],
                    now,
                )
            documents = self.stats["documents"]
            documents.add_counts(session.upsert("documents", frame(pending.documents), now))
            documents.trashed += pending.trashed
            documents.restored += pending.restored
            documents.purged += session.mark_purged(pending.purged, now)
            self.stats["document_tags"].add_counts(
                session.replace_children(
                    "document_tags",
                    "document_id",
                    pending.children_of,
                    frame(pending.document_tags),
                    now,
                )
            )
            self.stats["document_custom_property_values"].add_counts(
                session.replace_children(
                    "document_custom_property_values",
                    "document_id",
                    pending.children_of,
                    frame(pending.custom_property_values),
                    now,
                )
            )
            self.stats["document_content"].updated += session.update_columns(
                "documents", frame(pending.content)
            )
            self.stats["document_activity"].add_counts(
                session.insert_new("document_activity", frame(pending.activity))
            )
            self.stats["organization_statistics"].inserted += session.append(
                "organization_statistics", frame(pending.statistics)
            )
            for org, state in pending.states.items():
                session.write_state(DOCUMENTS_STATE, org, state)
            requests, retries = self._totals()
            session.record_run(
                self._run_row("succeeded", requests, retries, error=None),
                [{"stream": name, **asdict(stats)} for name, stats in self.stats.items()],
            )
