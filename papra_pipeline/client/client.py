"""``PapraClient``: a synchronous, thread-safe client for Papra's HTTP API.

Built for a sync engine that must be correct against a real server: it retries what is safe
to retry, pages with explicit stop rules and guards, checks inputs Papra would mishandle, and
never lets the API key, the password or the session cookie reach a log line or an exception.
Behaviour follows the recorded responses in ``tests/fixtures/papra-samples``.

The sync only reads (and applies tagging rules). The write endpoints (create, update, delete,
upload, tag) are public API for users scripting Papra with the same guarantees, tested in
``tests/client`` against the recorded samples: they stay although no sync path calls them.

This module holds the endpoints; how a request travels (retries, credentials, the session)
is in ``transport.py``, and the thread-pool helpers, which are not Papra API, in
``concurrency.py``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import IO, Any

import httpx

from papra_pipeline.settings import Settings

from . import _checks as check
from ._errormap import SESSION_ENV_HINT
from ._routes import ROUTES, Route
from .concurrency import ConcurrencyMethods
from .errors import (
    PapraConnectionError,
    PapraError,
    PapraResponseError,
    PapraSessionRequiredError,
    PapraTimeoutError,
)
from .models import (
    Activity,
    ApiKey,
    CustomPropertyDefinition,
    CustomPropertyOption,
    Document,
    DocumentCustomProperty,
    DocumentPage,
    Organization,
    OrganizationStatistics,
    ServerConfig,
    Tag,
    TaggingRule,
    TaskId,
)
from .paging import walk_pages
from .transport import ClientStats, PapraTransport
from .webhooks import WebhookMethods

__all__ = ["UNSET", "ClientStats", "PapraClient"]


class _Unset(enum.Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset.UNSET
"""Default of optional update fields: "leave as is", distinct from ``None`` ("clear")."""


class PapraClient(PapraTransport, WebhookMethods, ConcurrencyMethods):
    """Client for one Papra server; share one instance across threads.

    Authentication: ``api_key`` (``Authorization: Bearer ppapi_...``) for everything except
    tagging rules and webhooks, which this Papra version only serves to a logged-in session; give
    ``email`` and ``password`` for those and the client logs in lazily.
    """

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> PapraClient:
        """Build from parsed settings (URL, key, login, timeout, retries, concurrency, insecure
        http); keyword arguments win over the settings."""
        return cls(**(settings.client_options() | overrides))

    @classmethod
    def from_env(cls, **overrides: Any) -> PapraClient:
        """Build from the ``PAPRA_*`` environment variables; keyword arguments win."""
        return cls.from_settings(Settings.from_env(), **overrides)

    def __repr__(self) -> str:
        return (
            f"PapraClient(base_url={self.base_url!r}, "
            f"api_key={'configured' if self._api_key else 'missing'}, "
            f"session_login={'configured' if self._email else 'missing'}, "
            f"logged_in={self._session is not None})"
        )

    def __enter__(self) -> PapraClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def reset_stats(self) -> None:
        self.stats._reset()

    # ------------------------------------------------------------------ meta

    def ping(self) -> bool:
        """One unretried ``GET /api/ping``: True on ``{"status":"ok"}``, False on any other
        answer. An unreachable server raises ``PapraConnectionError``/``PapraTimeoutError``,
        whose message says why."""
        try:
            return bool(self._call("ping", may_retry=False))
        except (PapraConnectionError, PapraTimeoutError):
            raise
        except PapraError:
            return False

    def get_server_config(self) -> ServerConfig:
        """Public server settings: version and trash retention days (no auth needed)."""
        return self._call("get_server_config")

    def get_current_api_key(self) -> ApiKey:
        """The key in use and its permissions; call it at startup to fail fast."""
        return self._call("get_current_api_key")

    # ------------------------------------------------------------------ organizations

    def list_organizations(self) -> tuple[Organization, ...]:
        return self._call("list_organizations")

    def list_deleted_organizations(self) -> tuple[Organization, ...]:
        """Organizations this user soft-deleted that are not purged yet."""
        return self._call("list_deleted_organizations")

    def create_organization(self, name: str) -> Organization:
        name = check.text(name, "organization name", min_len=3, max_len=50, strip=True)
        return self._call("create_organization", json_body={"name": name})

    def get_organization(self, org_id: str) -> Organization:
        return self._call("get_organization", org_id)

    def update_organization(self, org_id: str, name: str) -> Organization:
        name = check.text(name, "organization name", min_len=3, max_len=50, strip=True)
        return self._call("update_organization", org_id, json_body={"name": name})

    def delete_organization(self, org_id: str) -> None:
        """Soft delete (owner only): members lose access at once, purge follows later."""
        self._call("delete_organization", org_id)

    # ------------------------------------------------------------------ documents

    def upload_document(
        self, org_id: str, filename: str, content: bytes | IO[bytes], mime_type: str
    ) -> Document:
        """Upload one file. ``content`` is empty in the answer until Papra extracts the text.

        Raises ``PapraConflictError`` (409) when a non-trashed document has the same bytes;
        the bytes of a trashed document restore that document instead. Not retried except on
        429 or a refused connection, and then only if ``content`` can be rewound.
        """
        # Without a filename Papra's multipart parser hangs until its 5-minute timeout.
        check.text(filename, "filename", min_len=1)
        if not filename.strip():
            raise ValueError("filename must not be blank")
        check.text(mime_type, "mime_type", min_len=1)
        rewind: Callable[[], None] | None = None
        may_retry = True
        if isinstance(content, bytearray):
            content = bytes(content)
        if not isinstance(content, bytes):
            if not hasattr(content, "read"):
                raise ValueError("content must be bytes or a binary file object")
            if getattr(content, "seekable", lambda: False)():
                start = content.tell()
                rewind = lambda: content.seek(start)  # noqa: E731
            else:
                may_retry = False
        return self._call(
            "upload_document",
            org_id,
            files={"file": (filename, content, mime_type)},
            rewind=rewind,
            may_retry=may_retry,
        )

    def list_documents(
        self,
        org_id: str,
        *,
        page_index: int = 0,
        page_size: int = 100,
        search_query: str | None = None,
        sort_field: str | None = None,
        sort_order: str | None = None,
    ) -> DocumentPage:
        """One page of non-trashed documents (list items carry no ``content``)."""
        check.page(page_index, page_size)
        if search_query is not None:
            check.text(search_query, "search_query", max_len=1024)
        if sort_field is not None:
            check.choice(sort_field, "sort_field", check.SORT_FIELDS)
        if sort_order is not None:
            check.choice(sort_order, "sort_order", check.SORT_ORDERS)
        return self._call(
            "list_documents",
            org_id,
            query={
                "pageIndex": page_index,
                "pageSize": page_size,
                "searchQuery": search_query,
                "sortField": sort_field,
                "sortOrder": sort_order,
            },
        )

    def iter_documents(
        self,
        org_id: str,
        *,
        page_size: int = 100,
        search_query: str | None = None,
        sort_field: str = "createdAt",
        sort_order: str = "asc",
        max_pages: int | None = None,
    ) -> Iterator[Document]:
        """Every matching document, page by page (``createdAt asc`` is stable under uploads)."""
        check.page(0, page_size)
        return self._iter_pages(
            lambda i: self.list_documents(
                org_id,
                page_index=i,
                page_size=page_size,
                search_query=search_query,
                sort_field=sort_field,
                sort_order=sort_order,
            ),
            page_size,
            max_pages,
        )

    def list_deleted_documents(
        self, org_id: str, *, page_index: int = 0, page_size: int = 100
    ) -> DocumentPage:
        """One page of the trash, newest deletion first, with ``content`` but no tags."""
        check.page(page_index, page_size)
        return self._call(
            "list_deleted_documents", org_id, query={"pageIndex": page_index, "pageSize": page_size}
        )

    def iter_deleted_documents(
        self, org_id: str, *, page_size: int = 100, max_pages: int | None = None
    ) -> Iterator[Document]:
        """Every trashed document. Papra sorts the trash by deletedAt only, so a concurrent
        trash can shift pages: treat one pass as a snapshot that may miss a late arrival."""
        check.page(0, page_size)
        return self._iter_pages(
            lambda i: self.list_deleted_documents(org_id, page_index=i, page_size=page_size),
            page_size,
            max_pages,
        )

    @staticmethod
    def _iter_pages(
        fetch: Callable[[int], DocumentPage], page_size: int, max_pages: int | None
    ) -> Iterator[Document]:
        """Stop on an empty page, a short page, or once ``documentsCount`` documents were seen.

        Guards against a server that never ends: more than ``max_pages`` pages (default
        ``ceil(documentsCount / page_size) + 10``) or a page repeating the previous page's ids
        raise ``PapraResponseError`` (see ``paging.py``).
        """
        for page in walk_pages(fetch, page_size, max_pages=max_pages):
            yield from page.documents

    def get_document(self, org_id: str, doc_id: str, *, lenient: bool = False) -> Document:
        """One document with ``content``, tags and custom properties (trashed ones too).

        ``lenient``: values that cannot be typed are read as None and listed in
        ``Document.untyped`` instead of raising (see :meth:`Document.from_json`).
        """
        return self._call("get_document_lenient" if lenient else "get_document", org_id, doc_id)

    def get_document_content(self, org_id: str, doc_id: str) -> str | None:
        """The extracted text of one document (the same request as :meth:`get_document`,
        without building the model); ``None`` while Papra has none."""
        return self._call("get_document_content", org_id, doc_id)

    def delete_document(self, org_id: str, doc_id: str) -> None:
        """Move to trash (Papra answers 200 ``{"success":true}``); repeating resets deletedAt."""
        self._call("delete_document", org_id, doc_id)

    @contextmanager
    def get_document_file(
        self, org_id: str, doc_id: str, *, chunk_size: int = 64 * 1024
    ) -> Iterator[Iterator[bytes]]:
        """Stream the original bytes: ``with client.get_document_file(o, d) as chunks:``.

        Yields an iterator of ``bytes`` chunks; the connection is released when the block
        exits. Opening is retried like any GET; a failure mid-stream raises
        ``PapraConnectionError``/``PapraTimeoutError`` and the caller starts over. The
        download's Content-Type is always octet-stream; use ``Document.mime_type``.
        """
        route = ROUTES["get_document_file"]
        path = route.path(org_id, doc_id)
        response = self._send(route, path, auth="key", stream=True).response
        try:
            yield self._chunks(response, route, path, chunk_size)
        finally:
            response.close()

    @staticmethod
    def _chunks(
        response: httpx.Response, route: Route, path: str, chunk_size: int
    ) -> Iterator[bytes]:
        try:
            yield from response.iter_bytes(chunk_size)
        except httpx.TimeoutException as exc:
            raise PapraTimeoutError(
                f"download stalled ({type(exc).__name__})", method=route.method, path=path
            ) from None
        except httpx.TransportError as exc:
            raise PapraConnectionError(
                f"download interrupted ({type(exc).__name__})", method=route.method, path=path
            ) from None

    def get_document_statistics(self, org_id: str) -> OrganizationStatistics:
        return self._call("get_document_statistics", org_id)

    def update_document(
        self,
        org_id: str,
        doc_id: str,
        *,
        name: str | _Unset = UNSET,
        content: str | _Unset = UNSET,
        document_date: datetime | date | str | None | _Unset = UNSET,
        notes: str | _Unset = UNSET,
    ) -> Document:
        """PATCH only the given fields; ``document_date=None`` clears the date."""
        body: dict[str, Any] = {}
        if name is not UNSET:
            body["name"] = check.text(name, "document name", min_len=1, max_len=255)
        if content is not UNSET:
            body["content"] = check.text(content, "content")
        if document_date is not UNSET:
            if document_date is None or isinstance(document_date, str):
                body["documentDate"] = document_date
            else:
                body["documentDate"] = check.iso_datetime(document_date, "document_date")
        if notes is not UNSET:
            body["notes"] = check.text(notes, "notes", max_len=2048)
        if not body:
            raise ValueError(
                "update_document needs at least one of name, content, document_date or notes"
            )
        return self._call("update_document", org_id, doc_id, json_body=body)

    def list_document_activity(
        self, org_id: str, doc_id: str, *, page_index: int = 0, page_size: int = 100
    ) -> tuple[Activity, ...]:
        """One page of the activity log, newest first (an unknown document gives ``()``)."""
        check.page(page_index, page_size)
        return self._call(
            "list_document_activity",
            org_id,
            doc_id,
            query={"pageIndex": page_index, "pageSize": page_size},
        )

    def iter_document_activity(
        self, org_id: str, doc_id: str, *, page_size: int = 100, max_pages: int = 100_000
    ) -> Iterator[Activity]:
        """All activity newest first, fetched lazily so a caller can stop at a known entry.

        There is no total count: stop on a short or empty page, and raise
        ``PapraResponseError`` on a repeated page or after ``max_pages``.
        """
        check.page(0, page_size)
        return self._iter_activity(org_id, doc_id, page_size, max_pages)

    def _iter_activity(
        self, org_id: str, doc_id: str, page_size: int, max_pages: int
    ) -> Iterator[Activity]:
        previous: tuple[str, ...] | None = None
        for index in range(max_pages):
            activities = self.list_document_activity(
                org_id, doc_id, page_index=index, page_size=page_size
            )
            ids = tuple(a.id for a in activities)
            if not ids:
                return
            if ids == previous:
                raise PapraResponseError(
                    f"activity page {index} repeats page {index - 1}; the server ignores pageIndex"
                )
            yield from activities
            if len(ids) < page_size:
                return
            previous = ids
        raise PapraResponseError(
            f"server keeps returning full activity pages after {max_pages} pages; stopping"
        )

    # ------------------------------------------------------------------ tags

    def create_tag(self, org_id: str, name: str, color: str, description: str | None = None) -> Tag:
        body = {
            "name": check.text(name, "tag name", min_len=1, max_len=64, strip=True),
            "color": check.color(color),
        }
        if description is not None:
            body["description"] = check.text(
                description, "tag description", max_len=256, strip=True
            )
        return self._call("create_tag", org_id, json_body=body)

    def list_tags(self, org_id: str) -> tuple[Tag, ...]:
        """All tags with ``documents_count`` (non-trashed documents only)."""
        return self._call("list_tags", org_id)

    def update_tag(
        self,
        org_id: str,
        tag_id: str,
        *,
        name: str | _Unset = UNSET,
        color: str | _Unset = UNSET,
        description: str | _Unset = UNSET,
    ) -> Tag:
        """Change the given fields; an empty update is refused (Papra answers it with a 500)."""
        body: dict[str, Any] = {}
        if name is not UNSET:
            body["name"] = check.text(name, "tag name", min_len=1, max_len=64, strip=True)
        if color is not UNSET:
            body["color"] = check.color(color)
        if description is not UNSET:
            body["description"] = check.text(
                description, "tag description", max_len=256, strip=True
            )
        if not body:
            raise ValueError(
                "update_tag needs at least one of name, color or description "
                "(Papra answers an empty update with a 500)"
            )
        return self._call("update_tag", org_id, tag_id, json_body=body)

    def delete_tag(self, org_id: str, tag_id: str) -> None:
        """Delete a tag; its document links vanish with no activity entry or webhook."""
        self._call("delete_tag", org_id, tag_id)

    def add_tag_to_document(self, org_id: str, doc_id: str, tag_id: str) -> None:
        """Raises ``PapraConflictError`` if the document already has the tag."""
        check.text(tag_id, "tag_id", min_len=1)
        self._call("add_tag_to_document", org_id, doc_id, json_body={"tagId": tag_id})

    def remove_tag_from_document(self, org_id: str, doc_id: str, tag_id: str) -> None:
        """Succeeds even if the tag was not attached (Papra still logs an ``untagged``)."""
        self._call("remove_tag_from_document", org_id, doc_id, tag_id)

    def batch_update_document_tags(
        self,
        org_id: str,
        *,
        document_ids: Sequence[str] | None = None,
        query: str | None = None,
        add_tag_ids: Iterable[str] = (),
        remove_tag_ids: Iterable[str] = (),
    ) -> None:
        """Add/remove tags on documents picked by ids (1..1000) or by a search query."""
        body: dict[str, Any] = {"filter": check.batch_filter(document_ids, query)}
        add = check.ids(add_tag_ids, "add_tag_ids", max_items=50)
        remove = check.ids(remove_tag_ids, "remove_tag_ids", max_items=50)
        if not add and not remove:
            raise ValueError("pass at least one tag id in add_tag_ids or remove_tag_ids")
        if set(add) & set(remove):
            raise ValueError(f"tag ids both added and removed: {sorted(set(add) & set(remove))}")
        if add:
            body["addTagIds"] = add
        if remove:
            body["removeTagIds"] = remove
        self._call("batch_update_document_tags", org_id, json_body=body)

    def batch_trash_documents(
        self, org_id: str, *, document_ids: Sequence[str] | None = None, query: str | None = None
    ) -> None:
        """Trash documents picked by ids or by a search query (already trashed ones are skipped;
        unknown ids make Papra refuse the whole batch with a 400)."""
        self._call(
            "batch_trash_documents",
            org_id,
            json_body={"filter": check.batch_filter(document_ids, query)},
        )

    # ------------------------------------------------------------------ tagging rules

    def list_tagging_rules(self, org_id: str) -> tuple[TaggingRule, ...]:
        """All tagging rules; needs a session login (API keys always get 401 here)."""
        if not self._has_login:
            raise PapraSessionRequiredError(
                "listing tagging rules needs a logged-in session",
                hint=f"this Papra version needs a logged-in session for tagging rules; "
                f"{SESSION_ENV_HINT}",
            )
        return self._call("list_tagging_rules", org_id)

    def apply_tagging_rule(self, org_id: str, rule_id: str) -> TaskId:
        """Queue the rule over all documents (202); the task id cannot be polled.

        Uses the session when email/password are configured, else tries the API key as the
        docs suggest; this Papra version answers 401, raised as ``PapraSessionRequiredError``.
        """
        if self._has_login:
            return self._call("apply_tagging_rule", org_id, rule_id)
        if not self._api_key:
            raise PapraSessionRequiredError(
                "applying a tagging rule needs a logged-in session", hint=SESSION_ENV_HINT
            )
        return self._call("apply_tagging_rule", org_id, rule_id, auth="key")

    # ------------------------------------------------------------------ custom properties

    def list_custom_property_definitions(self, org_id: str) -> tuple[CustomPropertyDefinition, ...]:
        return self._call("list_custom_property_definitions", org_id)

    def get_custom_property_definition(self, org_id: str, cpd_id: str) -> CustomPropertyDefinition:
        return self._call("get_custom_property_definition", org_id, cpd_id)

    def create_custom_property_definition(
        self,
        org_id: str,
        *,
        name: str,
        type: str,
        description: str | None = None,
        display_order: int | None = None,
        options: Sequence[str] | None = None,
    ) -> CustomPropertyDefinition:
        """Create a definition; ``options`` (names) are required for select/multi_select.

        The answer has no options (``options is None``); fetch the definition to see them.
        """
        check.choice(type, "type", check.PROPERTY_TYPES)
        body: dict[str, Any] = {
            "name": check.text(name, "property name", min_len=1, max_len=255, strip=True),
            "type": type,
        }
        if description is not None:
            body["description"] = check.text(description, "description", max_len=1000, strip=True)
        if display_order is not None:
            body["displayOrder"] = _display_order(display_order)
        if type in ("select", "multi_select"):
            if not options:
                raise ValueError(f"a {type} property needs at least one option name")
            body["options"] = [
                {"name": check.text(o, "option name", min_len=1, max_len=255, strip=True)}
                for o in options
            ]
        elif options is not None:
            raise ValueError(f"only select and multi_select properties take options, not {type}")
        return self._call("create_custom_property_definition", org_id, json_body=body)

    def update_custom_property_definition(
        self,
        org_id: str,
        cpd_id: str,
        *,
        name: str | _Unset = UNSET,
        description: str | None | _Unset = UNSET,
        display_order: int | _Unset = UNSET,
        options: Sequence[str | CustomPropertyOption | Mapping[str, str]] | _Unset = UNSET,
    ) -> CustomPropertyDefinition:
        """PUT the given fields. ``options`` replaces the full list: entries with an id
        (``CustomPropertyOption`` or ``{"id", "name"}``) are kept or renamed, plain names are
        created, and unlisted options are deleted with their values.

        Papra answers an options-only body with a 500, so the current name is fetched and
        sent along when only ``options`` is given.
        """
        body: dict[str, Any] = {}
        if name is not UNSET:
            body["name"] = check.text(name, "property name", min_len=1, max_len=255, strip=True)
        if description is not UNSET:
            body["description"] = (
                None
                if description is None
                else check.text(description, "description", max_len=1000, strip=True)
            )
        if display_order is not UNSET:
            body["displayOrder"] = _display_order(display_order)
        if options is not UNSET:
            body["options"] = _option_updates(options)
        if not body:
            raise ValueError("update_custom_property_definition needs at least one field")
        if set(body) == {"options"}:
            body["name"] = self.get_custom_property_definition(org_id, cpd_id).name
        return self._call("update_custom_property_definition", org_id, cpd_id, json_body=body)

    def delete_custom_property_definition(self, org_id: str, cpd_id: str) -> None:
        """Delete a definition and, silently, every value of it."""
        self._call("delete_custom_property_definition", org_id, cpd_id)

    def list_document_custom_properties(
        self, org_id: str, doc_id: str
    ) -> tuple[DocumentCustomProperty, ...]:
        """Only the properties that have a value on this document."""
        return self._call("list_document_custom_properties", org_id, doc_id)

    def set_document_custom_property(
        self, org_id: str, doc_id: str, cpd_id: str, value: Any, *, type: str | None = None
    ) -> None:
        """Set (replace) a value. Pass the definition's ``type`` to get its shape checked here:
        text str, number int/float, date datetime/date/ISO str, boolean bool, select option id,
        multi_select/user_relation/document_relation lists of ids. ``None`` is refused: use
        ``clear_document_custom_property``. Changes leave no activity entry."""
        payload = check.property_value(value, type)
        self._call(
            "set_document_custom_property", org_id, doc_id, cpd_id, json_body={"value": payload}
        )

    def clear_document_custom_property(self, org_id: str, doc_id: str, cpd_id: str) -> None:
        self._call("clear_document_custom_property", org_id, doc_id, cpd_id)


def _display_order(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"display_order must be an integer >= 0, got {value!r}")
    return value


def _option_updates(options: Any) -> list[dict[str, str]]:
    if isinstance(options, str) or not options:
        raise ValueError("options must be a non-empty list (it replaces every option)")
    out = []
    for option in options:
        if isinstance(option, CustomPropertyOption):
            entry = {"id": option.id, "name": option.name}
        elif isinstance(option, Mapping):
            entry = {k: option[k] for k in ("id", "name") if k in option}
        else:
            entry = {"name": option}
        entry["name"] = check.text(
            entry.get("name"), "option name", min_len=1, max_len=255, strip=True
        )
        out.append(entry)
    return out
