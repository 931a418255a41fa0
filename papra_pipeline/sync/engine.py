"""The incremental sync: fetch what changed from Papra, then write it in one transaction.

Papra has no change feed (``updatedAt`` never moves, purges leave no trace), so:

* **full** mode scans every document page (ascending ``createdAt``, pages fetched concurrently),
  compares each item's fingerprint with the warehouse, rebuilds tags and custom-property values
  of changed documents from the scan itself, reads the trash, and confirms every absence with
  a GET that answers 404 before setting ``purged_at``;
* **quick** mode reads the newest pages until one holds only known ids, the newest trash page,
  and the statistics: three requests per organization when nothing changed, for sensors and
  frequent runs.

Content and activity are fetched per document only where they can have changed (new, changed,
still-empty or leaving the trash) plus a rolling slice sized by time, so every document is
re-verified within ``reverify_period`` (``PAPRA_REVERIFY_DAYS``) however often full syncs run;
``verify`` re-reads every document's text and activity in one run. Pages are folded as they
arrive and changed rows are staged in a scratch DuckDB file, so memory does not grow with the
archive. Nothing touches the warehouse until everything is fetched; the write is one DuckDB
transaction holding rows, sync state and the run log, so a failed run leaves the warehouse
exactly as the last good run left it.

This module runs a sync: it compares what Papra lists with what the warehouse holds and
re-reads text and activity where they can have changed. Its parts sit beside it: ``results``
(what a run is asked and what it reports), ``snapshot`` (what the warehouse holds before the
run), ``pages`` (the document and trash pages), ``reverify`` (the rolling slice) and
``staged_write`` (what the run will write, and the write).
"""

from __future__ import annotations

import gc
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from papra_pipeline.client import (
    Activity,
    CustomPropertyDefinition,
    Document,
    DocumentPage,
    PapraClient,
    PapraNotFoundError,
    PapraResponseError,
)
from papra_pipeline.sync import records
from papra_pipeline.sync.clock import utcnow
from papra_pipeline.sync.gone import gone_message, unless_gone
from papra_pipeline.sync.pages import newest_pages, read_trash, scan_all_pages
from papra_pipeline.sync.read_ahead import ReadAhead
from papra_pipeline.sync.results import (
    STREAMS,
    InterruptedAfterCommit,
    ProgressCallback,
    StreamStats,
    SyncError,
    SyncOptions,
    SyncResult,
    Untyped,
)
from papra_pipeline.sync.reverify import reverify_slice
from papra_pipeline.sync.snapshot import Snapshot, StoredDocument, read_snapshot
from papra_pipeline.sync.staged_write import (
    STAGING_BATCH_ROWS,
    STAGING_BATCH_ROWS_BY_TABLE,
    StagedWrite,
    content_row,
    write_staged,
)
from papra_pipeline.warehouse import (
    Staging,
    Warehouse,
    WarehouseDiskError,
    WarehouseError,
    WarehouseLockedError,
    WarehousePublishError,
    WriteSession,
    is_out_of_memory,
)
from papra_pipeline.warehouse.store import DEFAULT_WRITE_MEMORY_LIMIT
from papra_pipeline.warehouse.stored import stored_activity

log = logging.getLogger("papra_pipeline.sync")

LONE_SURROGATE_REASON = (
    "holds a lone UTF-16 surrogate (half of a character pair), which neither UTF-8 nor "
    "DuckDB's JSON can store: stored with U+FFFD in its place; the value shows it escaped"
)
_PURGED = object()  # a text fetch answered 404: the document is gone, nothing to store


@dataclass
class _OrganizationScan:
    """One organization's documents during a run: ids seen, and what changed."""

    org: str
    known: dict[str, StoredDocument]
    definition_ids: dict[str, str]
    seen: set[str] = field(default_factory=set)
    changed: dict[str, bool] = field(default_factory=dict)  # id -> its text came along
    partial: list[str] = field(default_factory=list)  # trash items to read in detail
    tags_staged: set[str] = field(default_factory=set)  # tags seen inside documents


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
        if is_out_of_memory(exc):  # DuckDB's message ends in tuning advice meant for its SQL
            error = SyncError(run.out_of_memory())
            run.record_failure(error, out_of_memory=True)
            raise error from exc
        run.record_failure(exc)
        if isinstance(exc, KeyboardInterrupt) and run.committed:
            raise InterruptedAfterCommit from exc
        raise


@contextmanager
def _gc_spares_what_exists() -> Iterator[None]:
    """Keep Python's cyclic GC from re-reading the whole heap while pages stream through.

    Each decoded page (thousands of dicts and lists) outlives a young collection, so pages
    kept pushing the collector into full passes over every object alive: the imported
    libraries and one snapshot entry per stored document. At 100,000 documents that was a
    fifth of a no-op sync's CPU. For the run, what exists now is frozen (still freed by
    reference counting, just not traversed) and young collections wait for 20,000 new objects,
    so most page objects are gone before one runs; both settings are restored afterwards.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(20_000, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


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
        self.staging = Staging(
            batch_rows=STAGING_BATCH_ROWS, batch_rows_by_table=STAGING_BATCH_ROWS_BY_TABLE
        )
        self.to_write = StagedWrite(self.staging)
        self.api_documents_count: dict[str, int] = {}
        self.organization_ids: list[str] = []
        self.skipped_organization_ids: list[str] = []
        self.untyped: list[Untyped] = []
        self._mark_all_organizations = False
        self._requests_at_start = client.stats.snapshot()
        self.read_ahead = ReadAhead((), workers=1, read_detail=self._get_or_none)
        self._session: WriteSession | None = None  # the run's write, once it started

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

    @property
    def committed(self) -> bool:
        """Whether the run's write committed (what fails after it is the publish only)."""
        return self._session is not None and self._session.committed

    def record_failure(self, exc: BaseException, *, out_of_memory: bool = False) -> None:
        if isinstance(exc, WarehouseLockedError):
            # Another writer has the file. Taking it just to say so could fail that writer
            # in turn (with no lock timeout, two syncs started at once both failed this way).
            log.info("failed run not recorded in the run log: %s", exc)
            return
        if isinstance(exc, WarehousePublishError) or self.committed:
            # The run succeeded and is recorded so; only its publish is still owed (it failed,
            # or Ctrl-C came between the commit and the publish).
            return
        requests, retries = self._totals()
        run = self._run_row("failed", requests, retries, error=f"{type(exc).__name__}: {exc}")
        warehouse = self.warehouse
        if out_of_memory:
            # One row needs little memory, but not none: written under the default limit
            # when the run's was too small for it.
            warehouse = Warehouse(
                warehouse.path,
                lock_timeout=warehouse.lock_timeout,
                write_memory_limit=DEFAULT_WRITE_MEMORY_LIMIT,
            )
        try:
            with warehouse.write() as session:
                session.record_run(run, [])
                session.publish = False  # readers keep the last good state
        except (WarehouseError, OSError) as write_error:
            # A run that failed writing the file cannot be expected to record it there: its
            # own error already says why.
            level = logging.INFO if isinstance(exc, WarehouseDiskError) else logging.WARNING
            log.log(level, "could not record the failed run in the run log: %s", write_error)

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
        try:
            # Documents named to re-read need no warehouse: asked for before it is opened, on
            # all connections but one, which the run's own requests (statistics, trash, newest
            # pages) keep: a thread waiting for a connection is not served first.
            self.read_ahead = ReadAhead(
                self.options.reread_documents,
                workers=max(1, self.client.max_concurrency - 1),
                read_detail=self._get_or_none,
            )
            # One open of the sync's file for all the run reads of it first (the snapshot's
            # reader closes it): a drain of 100 deliveries spent ~100 ms opening it 4 times.
            stored = self.warehouse.open_for_sync()
            try:
                self.read_ahead.read_activity(
                    partial(stored_activity, stored),
                    partial(self._new_activity, complete=self.options.verify),
                )
            except BaseException:
                stored.close()
                raise
            snapshot = read_snapshot(stored)
            with _gc_spares_what_exists():
                try:
                    self.organization_ids = self._organizations(snapshot)
                    stage = (
                        self._full_organization
                        if self.options.mode == "full"
                        else self._quick_organization
                    )
                    for organization_id in list(self.organization_ids):
                        if not stage(organization_id, snapshot):
                            self.organization_ids.remove(organization_id)
                            self.skipped_organization_ids.append(organization_id)
                finally:
                    snapshot.reader.close()
                    self.read_ahead.close()
                del snapshot  # one entry per stored document: freed before DuckDB needs memory
                self._refresh_definitions()
                self._write()
        finally:
            self.read_ahead.close()
            self.staging.remove()
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
            skipped_organization_ids=self.skipped_organization_ids,
            untyped=self.untyped,
        )

    def _organizations(self, snapshot: Snapshot) -> list[str]:
        """The organizations to sync; full mode and first runs list them from Papra."""
        wanted = self.options.organization_ids
        known = snapshot.organization_ids
        if self.options.mode == "quick" and known and set(wanted or ()) <= set(known):
            return [org for org in known if wanted is None or org in wanted]
        with self._measure("organizations"):
            organizations = self.client.list_organizations()
        visible = {org.id for org in organizations}
        missing = [org for org in wanted or () if org not in visible]
        # One the warehouse holds was deleted or left since: skipped like one that goes
        # during a run. One it never knew is more likely a typo.
        held = {*known, *snapshot.states}
        unknown = [org for org in missing if org not in held]
        if unknown:
            raise SyncError(
                f"Organization {', '.join(unknown)} is not visible to this API key (wrong id, "
                "deleted organization, or the key's user is not a member). Visible: "
                f"{', '.join(sorted(visible)) or 'none'}."
            )
        for org in missing:
            log.warning(gone_message(org))
            self.skipped_organization_ids.append(org)
        chosen = [org for org in organizations if wanted is None or org.id in wanted]
        self.to_write.organizations = [records.organization_row(org) for org in chosen]
        self._mark_all_organizations = wanted is None
        self.progress("organizations", "*", len(chosen), len(chosen))
        return [org.id for org in chosen]

    # -- full mode ---------------------------------------------------------------------------

    def _full_organization(self, org: str, snapshot: Snapshot) -> bool:
        """Stage one organization; False when it is gone (asked first, before anything)."""
        if not self._statistics(org):
            return False
        with self._measure("tags"):
            tags = self.client.list_tags(org)
        self.to_write.tags[org] = [records.tag_row(tag, organization_id=org) for tag in tags]
        with self._measure("custom_property_definitions"):
            definitions = self.client.list_custom_property_definitions(org)
        self._stage_definitions(org, definitions)
        snapshot.definitions[org] = {d.key: d.id for d in definitions}
        self._sync_documents(
            org, snapshot, scan_all_pages(self.client, org, self.progress), complete_scan=True
        )
        return True

    def _stage_definitions(self, org: str, definitions: Sequence[CustomPropertyDefinition]) -> None:
        self.to_write.definitions[org] = []
        self.to_write.options[org] = []
        for definition in definitions:
            row, option_rows = records.definition_rows(definition)
            self.to_write.definitions[org].append(row)
            self.to_write.options[org].extend(option_rows)

    def _statistics(self, org: str) -> bool:
        """Stage the organization's counters; False when it is gone."""
        with self._measure("organization_statistics"):
            stats = unless_gone(org, partial(self.client.get_document_statistics, org))
        if stats is None:
            return False
        self.api_documents_count[org] = stats.documents_count
        self.to_write.statistics.append(
            records.statistics_row(org, stats, self.started_at, self.run_id)
        )
        return True

    # -- quick mode --------------------------------------------------------------------------

    def _quick_organization(self, org: str, snapshot: Snapshot) -> bool:
        """Stage one organization; False when it is gone (asked first, before anything)."""
        if not self._statistics(org):
            return False
        known = snapshot.known(org)
        self._sync_documents(
            org, snapshot, newest_pages(self.client, org, known, self.progress), complete_scan=False
        )
        return True

    # -- shared by both modes ----------------------------------------------------------------

    def _sync_documents(
        self,
        org: str,
        snapshot: Snapshot,
        pages: Iterator[DocumentPage],
        *,
        complete_scan: bool,
    ) -> None:
        """Compare what Papra lists with what the warehouse holds, page by page, then fetch
        activity and text for what changed. Only ids are kept in memory; rows are staged."""
        with self._measure("documents"):
            # The trash first: a document the scan lists afterwards was restored meanwhile.
            trash, whole_trash = read_trash(self.client, org, snapshot, complete=complete_scan)
            known = snapshot.known(org)  # read meanwhile, in full mode
            scan = _OrganizationScan(org, known, snapshot.definitions.get(org, {}))
            for page in pages:
                for item in page.items:
                    trash.pop(item["id"], None)
                    self._observe(scan, item)
            for item in trash.values():
                self._observe(scan, item)
            self._resolve_absences(scan, complete_scan, whole_trash)
            self._observe_details(scan, scan.partial)
            reread = self._reread_in_full(scan)

        purged = set(self.to_write.purged)
        reverify, reverify_state = [], {}
        if complete_scan and self.options.verify:
            reverify = [doc_id for doc_id in scan.seen if doc_id not in purged]
            reverify_state = {"reverify_at": self.started_at.isoformat(), "reverify_credit": 0.0}
        elif complete_scan:
            reverify, reverify_state = reverify_slice(
                org,
                snapshot,
                set(scan.changed),
                period=self.options.reverify_period,
                started_at=self.started_at,
            )
        activity_for = [doc_id for doc_id in scan.changed if doc_id not in purged] + reverify
        activity_for += sorted(set(reread) - set(activity_for))
        edited = self._fetch_activity(
            org, list(dict.fromkeys(activity_for)), complete=self.options.verify
        )
        if self.options.content:
            self._fetch_content(scan, edited, reverify)

        if complete_scan:
            state = {**snapshot.states.get(org, {}), **reverify_state}
            state["last_full_scan_at"] = self.started_at.isoformat()
            state["documents_listed"] = len(scan.seen)
            self.to_write.states[org] = state

    def _observe(
        self, scan: _OrganizationScan, item: dict[str, Any], document: Document | None = None
    ) -> None:
        """Stage a document seen this run if it is new or its fingerprint moved.

        ``item`` is the JSON Papra sent; it is parsed (unless ``document`` is given) only when
        the fingerprint moved, so an unchanged archive costs a hash per document.
        """
        doc_id = item["id"]
        scan.seen.add(doc_id)
        entry = scan.known.get(doc_id)
        current = entry is not None and not entry.purged
        fingerprint = records.document_fingerprint(item)
        if current and entry.hash == fingerprint:
            self.stats["documents"].unchanged += 1
            return
        if item.get("tags") is None:
            # A trash item: the list omits tags and custom properties; the detail brings them.
            scan.partial.append(doc_id)
            return
        if document is None:
            document = self._parse(scan.org, item)
        for untyped in document.untyped:
            self.to_write.untyped[document.id, untyped.field] = Untyped(
                scan.org, document.id, untyped.field, untyped.value, untyped.reason
            )
        if current and document.is_deleted and not entry.is_deleted:
            self.to_write.trashed += 1
        elif current and entry.is_deleted and not document.is_deleted:
            self.to_write.restored += 1
        elif not current and document.is_deleted:
            self.to_write.trashed += 1
        scan.changed[document.id] = document.content is not None
        to_write = self.to_write
        row = records.document_row(document, fingerprint=fingerprint)
        if records.REPLACEMENT in row["_raw"]:  # rare: only then is the record searched
            for path, text in records.lone_surrogates(document.raw):
                to_write.untyped[document.id, path] = Untyped(
                    scan.org, document.id, path, text, LONE_SURROGATE_REASON
                )
        to_write.stage("documents", "documents", [row])
        if document.content is not None and self.options.content:
            to_write.stage(
                "document_content",
                "documents",
                [content_row(document.id, document.content, self.now())],
            )
        to_write.children_of.append(document.id)
        to_write.stage("document_tags", "document_tags", records.document_tag_rows(document))
        values = records.custom_property_value_rows(document, scan.definition_ids)
        # Full mode listed the definitions before the scan; a key unknown to them was created
        # meanwhile. Quick mode has only the stored ones, which may be stale (deleted and
        # re-created under the same name: same key, new id).
        if values and (
            self.options.mode == "quick"
            or any(row["property_definition_id"] is None for row in values)
        ):
            to_write.relist_definitions.add(scan.org)
        to_write.stage("document_custom_property_values", "document_custom_property_values", values)
        new_tags = [tag for tag in document.tags or () if tag.id not in scan.tags_staged]
        scan.tags_staged.update(tag.id for tag in new_tags)
        to_write.stage(
            "embedded_tags",
            "tags",
            (records.tag_row(t, organization_id=scan.org) for t in new_tags),
        )

    def _parse(self, org: str, item: dict[str, Any]) -> Document:
        """Leniently: a value that cannot be typed is kept in ``_raw`` and listed, and stops
        nothing; only a record without an id or organization is refused."""
        try:
            return Document.from_json(item, lenient=True)
        except PapraResponseError as exc:
            raise PapraResponseError(
                f"document {item['id']} listed in organization {org}: {exc.message}"
            ) from None

    def _resolve_absences(
        self, scan: _OrganizationScan, complete_scan: bool, whole_trash: bool
    ) -> None:
        """A known document listed nowhere is looked up: Papra purges without a trace, so only
        a 404 counts as purged (offset paging under concurrent writes can skip an item).

        Without a full scan only trashed documents can be missed (restored or purged), and only
        when the whole trash was read.
        """
        unresolved = [
            doc_id
            for doc_id, entry in scan.known.items()
            if not entry.purged
            and doc_id not in scan.seen
            and (complete_scan or (whole_trash and entry.is_deleted))
        ]
        self._observe_details(scan, unresolved)

    def _observe_details(self, scan: _OrganizationScan, document_ids: list[str]) -> None:
        details = self.client.iter_concurrent(
            lambda d: self._get_or_none(scan.org, d), document_ids
        )
        for doc_id, detail in zip(document_ids, details, strict=True):
            if detail is None:
                self.to_write.purged.append(doc_id)
            else:
                self._observe(scan, detail.raw, detail)

    def _reread_in_full(self, scan: _OrganizationScan) -> list[str]:
        """Use the detail of each document named in ``reread_documents`` (a content edit, a
        trash-then-restore or a re-upload leaves the list as it was), read ahead since the run
        started; returns those that exist.

        A 404 is the usual purge confirmation. The detail's text is staged here, and their
        activity was read ahead too; a detail already read this run is not used again.
        """
        wanted = sorted(
            doc_id
            for org, doc_id in self.options.reread_documents
            if org == scan.org and not scan.changed.get(doc_id)
        )
        now = self.now()
        found = []
        for doc_id in wanted:
            detail = self.read_ahead.detail(scan.org, doc_id)
            if detail is None:
                entry = scan.known.get(doc_id)
                if entry is not None and not entry.purged and doc_id not in self.to_write.purged:
                    self.to_write.purged.append(doc_id)
                continue
            found.append(doc_id)
            if doc_id not in scan.seen:
                self._observe(scan, detail.raw, detail)  # stages it, text included, if it moved
            if doc_id in scan.changed:
                if scan.changed[doc_id]:
                    continue
                scan.changed[doc_id] = True  # listed as changed, without its text: here it is
            if self.options.content:
                self.to_write.stage(
                    "document_content", "documents", [content_row(doc_id, detail.content, now)]
                )
        return found

    def _fetch_content(
        self, scan: _OrganizationScan, edited: set[str], reverify: list[str]
    ) -> None:
        """Text only where it can have changed: new, edited (per activity), still empty while
        Papra may be extracting it, or due for re-verification."""
        now = self.now()
        wanted: list[str] = []
        for doc_id, has_content in scan.changed.items():
            entry = scan.known.get(doc_id)
            if not has_content and (
                entry is None or entry.purged or entry.content_missing or doc_id in edited
            ):
                wanted.append(doc_id)
        for doc_id, entry in scan.known.items():
            if (
                doc_id not in scan.changed
                and doc_id in scan.seen
                and entry.content_missing
                and not entry.is_deleted
                and now - entry.first_seen_at <= self.options.empty_content_retry
            ):
                wanted.append(doc_id)
        wanted = list(dict.fromkeys(wanted + reverify))
        with self._measure("document_content"):
            texts = self.client.iter_concurrent(lambda d: self._text_or_none(scan.org, d), wanted)
            self.to_write.stage(
                "document_content",
                "documents",
                self._within_memory(
                    content_row(doc_id, text, now)
                    for doc_id, text in zip(wanted, texts, strict=True)
                    if text is not _PURGED
                ),
            )
        self.progress("document_content", scan.org, len(wanted), len(wanted))

    def _within_memory(self, rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """The rows, stopping the run as soon as the long texts staged need more memory than
        the write may use (see ``Warehouse.check_room_for_long_texts``)."""
        checked = 0
        for row in rows:
            yield row
            staged = self.staging.long_text_bytes  # counted as the row was staged
            if staged != checked:
                self.warehouse.check_room_for_long_texts(staged)
                checked = staged

    def _get_or_none(self, org: str, doc_id: str) -> Document | None:
        try:
            return self.client.get_document(org, doc_id, lenient=True)
        except PapraNotFoundError:
            return None

    def _text_or_none(self, org: str, doc_id: str) -> str | None | object:
        """The document's text; ``_PURGED`` when the document is gone (404)."""
        try:
            return self.client.get_document_content(org, doc_id)
        except PapraNotFoundError:
            return _PURGED

    def _fetch_activity(
        self, org: str, document_ids: Sequence[str], *, complete: bool = False
    ) -> set[str]:
        """New activity per document, newest first; with ``complete`` every page is read.

        Papra orders activity by ``createdAt`` only (milliseconds, no tie-breaker), so entries
        sharing the newest stored entry's millisecond, or written late with an older time, can
        come after it: reading stops only at an entry strictly older than the newest stored
        one, and entries already stored are skipped by id.

        Returns the documents whose new activity shows an edit of their text.
        """
        edited: set[str] = set()
        read_ahead = self.read_ahead.activity_of(org)

        def fetch(stored: dict[str, tuple[set[str], datetime]], doc_id: str) -> list[Activity]:
            if doc_id in read_ahead:
                return read_ahead[doc_id].result()
            return self._new_activity(org, stored, doc_id, complete=complete)

        with self._measure("document_activity"):
            rest = [doc_id for doc_id in document_ids if doc_id not in read_ahead]
            stored = self._stored_activity(rest) if rest else {}
            results = self.client.iter_concurrent(partial(fetch, stored), document_ids)
            for doc_id, activities in zip(document_ids, results, strict=True):
                if records.shows_content_update(activities):
                    edited.add(doc_id)
                self.to_write.stage(
                    "document_activity",
                    "document_activity",
                    (records.activity_row(org, a) for a in activities),
                )
        self.progress("document_activity", org, len(document_ids), len(document_ids))
        return edited

    def _new_activity(
        self,
        org: str,
        stored: dict[str, tuple[set[str], datetime]],
        doc_id: str,
        *,
        complete: bool,
    ) -> list[Activity]:
        known_ids, newest = stored.get(doc_id, (set(), None))
        fresh: dict[str, Activity] = {}  # by id: offset pages shift when entries arrive
        for activity in self.client.iter_document_activity(org, doc_id):
            when = activity.created_at
            if not complete and newest is not None and when is not None and when < newest:
                break
            if activity.id not in known_ids:
                fresh.setdefault(activity.id, activity)
        return list(fresh.values())

    def _stored_activity(self, document_ids: Sequence[str]) -> dict[str, tuple[set[str], datetime]]:
        """Per document: the ids of its stored activity and the newest entry's time."""
        with self.warehouse.read_private() as con:
            return stored_activity(con, document_ids)

    def _refresh_definitions(self) -> None:
        """Values name their property by key: list the definitions again where the ones at
        hand may not hold a value's key (created mid-run) or its current id (quick mode)."""
        for org in sorted(self.to_write.relist_definitions):
            with self._measure("custom_property_definitions"):
                definitions = self.client.list_custom_property_definitions(org)
            self._stage_definitions(org, definitions)

    # -- the write ---------------------------------------------------------------------------

    def out_of_memory(self) -> str:
        """One line: what ran out, the longest text of the run and the setting to raise."""
        doc_id, length = self.staging.largest_text
        longest = (
            f"; its longest text is document {doc_id} ({length / 1e3:,.0f} KB)" if doc_id else ""
        )
        return (
            f"The sync ran out of memory under PAPRA_WRITE_MEMORY_LIMIT="
            f"{self.warehouse.write_memory_limit}{longest}. Nothing was written; raise "
            "PAPRA_WRITE_MEMORY_LIMIT (e.g. to 1GB) and run the sync again."
        )

    def _write(self) -> None:
        now = self.now()
        stats = self.stats
        with self.warehouse.write(self.staging) as session:
            self._session = session
            self.untyped = write_staged(
                session,
                self.to_write,
                stats,
                now,
                mark_all_organizations=self._mark_all_organizations,
                organization_ids=self.organization_ids,
                run_id=self.run_id,
            )
            requests, retries = self._totals()
            session.record_run(
                self._run_row("succeeded", requests, retries, error=None),
                [{"stream": name, **asdict(s)} for name, s in stats.items()],
            )
            # Readers get a new copy only when rows changed: a no-op's run log, cursors and
            # statistics snapshot wait in the sync's file for the next run that publishes.
            session.publish = any(
                s.written for name, s in stats.items() if name != "organization_statistics"
            )
