"""Routes of the fake Papra for documents: list, upload, patch, trash, activity, batch."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx

from papra_pipeline.testing import validation as v
from papra_pipeline.testing.common import PapraError, parse_js_date
from papra_pipeline.testing.document_state import SORT_FIELDS
from papra_pipeline.testing.routing import (
    MAX_FILE_SIZE,
    SESSION,
    Ctx,
    id_pattern,
    json_response,
    no_content,
    route,
)


def _paging(ctx: Ctx, extra: dict[str, Callable[[Any, str, v.Issues], Any]]) -> dict[str, Any]:
    """Strict query: pageIndex/pageSize plus ``extra`` string params, unknown keys rejected."""
    query = ctx.query()
    issues: v.Issues = []
    out: dict[str, Any] = {"pageIndex": 0, "pageSize": 100}
    for name, check in extra.items():
        if name in query:
            out[name] = check(query[name], name, issues)
    for name, low, high in (("pageIndex", 0, None), ("pageSize", 1, 100)):
        if name in query:
            raw = query[name]
            if isinstance(raw, list):
                v.issue(issues, name, "Invalid type: Expected string but received Array")
            else:
                out[name] = v.query_int(raw, name, issues, min_value=low, max_value=high)
    for name in query:
        if name not in extra and name not in ("pageIndex", "pageSize"):
            v.issue(issues, name, f"Invalid key: Expected never but received {json.dumps(name)}")
    if issues:
        raise v.validation_error("query", issues)
    return out


@route("GET", "/api/organizations/{org}/documents", ("documents:read",))
def documents_list(ctx: Ctx) -> httpx.Response:
    query = _paging(
        ctx,
        {
            "searchQuery": v.string(None, 1024),
            "sortField": v.picklist(SORT_FIELDS),
            "sortOrder": v.picklist(("asc", "desc")),
        },
    )
    return json_response(
        ctx.state.list_documents(
            ctx.org,
            search_query=query.get("searchQuery", ""),
            sort_field=query.get("sortField", "createdAt"),
            sort_order=query.get("sortOrder", "desc"),
            page_index=query["pageIndex"],
            page_size=query["pageSize"],
            user_id=ctx.uid,
        )
    )


@route("GET", "/api/organizations/{org}/documents/deleted", ("documents:read",))
def documents_deleted(ctx: Ctx) -> httpx.Response:
    query = _paging(ctx, {})
    return json_response(
        ctx.state.list_deleted_documents(
            ctx.org, page_index=query["pageIndex"], page_size=query["pageSize"], user_id=ctx.uid
        )
    )


@route("GET", "/api/organizations/{org}/documents/statistics", ("documents:read",))
def documents_statistics(ctx: Ctx) -> httpx.Response:
    return json_response({"organizationStats": ctx.state.statistics(ctx.org, user_id=ctx.uid)})


def _parse_multipart(request: httpx.Request) -> list[tuple[str, str | None, str, bytes]]:
    """(field name, filename, content type, data) for each part; minimal but byte-exact."""
    content_type = request.headers.get("content-type", "")
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.lower().startswith("multipart/form-data") or not m:
        raise PapraError(500, "internal.error", "An error occurred")
    delimiter = b"--" + m.group(1).encode()
    parts = []
    for chunk in request.content.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        field = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        star = re.search(r"\bfilename\*=UTF-8''([^;]+)", disposition, re.IGNORECASE)
        fname = None
        if star:
            fname = urllib.parse.unquote(star.group(1))
        elif filename:
            fname = urllib.parse.unquote(filename.group(1).replace("\\\\", "\\"))
        parts.append(
            (
                field.group(1) if field else "",
                fname,
                headers.get("content-type", "text/plain"),
                data,
            )
        )
    return parts


@route("POST", "/api/organizations/{org}/documents", ("documents:create",))
def documents_upload(ctx: Ctx) -> httpx.Response:
    if not ctx.request.content:
        raise PapraError(500, "internal.error", "An error occurred")
    files = [p for p in _parse_multipart(ctx.request) if p[1] is not None]
    if not files:
        # Papra waits for a file part forever and its route timeout answers.
        raise PapraError(504, "api.timeout", "The request timed out")
    field, filename, mime_type, data = files[0]
    if field != "file":
        raise PapraError(400, "document.invalid_file_fieldname", "Invalid file fieldname")
    if len(data) > MAX_FILE_SIZE:
        raise PapraError(413, "document.size_too_large", "File size is too large.")
    document = ctx.state.upload_document(ctx.org, filename, data, mime_type, user_id=ctx.uid)
    return json_response({"document": document})


@route("GET", "/api/organizations/{org}/documents/{doc}", ("documents:read",))
def documents_get(ctx: Ctx) -> httpx.Response:
    return json_response(
        {"document": ctx.state.get_document(ctx.org, ctx.params["doc"], user_id=ctx.uid)}
    )


@route("GET", "/api/organizations/{org}/documents/{doc}/file", ("documents:read",))
def documents_file(ctx: Ctx) -> httpx.Response:
    name, data = ctx.state.document_file(ctx.org, ctx.params["doc"], user_id=ctx.uid)
    return httpx.Response(
        200,
        content=data,
        headers={
            "content-type": "application/octet-stream",
            "content-disposition": f"attachment; filename*=UTF-8''{urllib.parse.quote(name)}",
            "x-content-type-options": "nosniff",
            "x-frame-options": "DENY",
        },
    )


_PATCH_BODY = v.obj(
    {
        "name": (v.string(1, 255), False),
        "content": (v.string(), False),
        "documentDate": (v.nullable(v.string()), False),
        "notes": (v.string(None, 2048), False),
    }
)


@route("PATCH", "/api/organizations/{org}/documents/{doc}", ("documents:update",))
def documents_patch(ctx: Ctx) -> httpx.Response:
    body = v.run(_PATCH_BODY, ctx.json(), "body")
    if not body:
        raise v.validation_error(
            "body",
            [
                {
                    "path": None,
                    "message": (
                        "At least one of 'name', 'content', 'documentDate' or 'notes' "
                        "must be provided"
                    ),
                }
            ],
        )
    if body.get("documentDate") is not None and parse_js_date(body["documentDate"]) is None:
        raise v.validation_error("body", [{"path": "documentDate", "message": "Invalid date"}])
    document = ctx.state.update_document(ctx.org, ctx.params["doc"], user_id=ctx.uid, **body)
    return json_response({"document": document})


@route("DELETE", "/api/organizations/{org}/documents/{doc}", ("documents:delete",))
def documents_trash(ctx: Ctx) -> httpx.Response:
    ctx.state.trash_document(ctx.org, ctx.params["doc"], user_id=ctx.uid)
    return json_response({"success": True})


@route("POST", "/api/organizations/{org}/documents/{doc}/restore", SESSION)
def documents_restore(ctx: Ctx) -> httpx.Response:
    ctx.state.restore_document(ctx.org, ctx.params["doc"], user_id=ctx.uid)
    return no_content()


@route("DELETE", "/api/organizations/{org}/documents/trash", SESSION)
def documents_empty_trash(ctx: Ctx) -> httpx.Response:
    ctx.state.empty_trash(ctx.org, user_id=ctx.uid)
    return no_content()


@route("DELETE", "/api/organizations/{org}/documents/trash/{doc}", SESSION)
def documents_purge(ctx: Ctx) -> httpx.Response:
    ctx.state.purge_document(ctx.org, ctx.params["doc"], user_id=ctx.uid)
    return json_response({"success": True})


@route("GET", "/api/organizations/{org}/documents/{doc}/activity", ("documents:read",))
def documents_activity(ctx: Ctx) -> httpx.Response:
    query = _paging(ctx, {})
    return json_response(
        {
            "activities": ctx.state.activities(
                ctx.org,
                ctx.params["doc"],
                page_index=query["pageIndex"],
                page_size=query["pageSize"],
                user_id=ctx.uid,
            )
        }
    )


def _batch_filter(value: Any, path: str, issues: v.Issues) -> Any:
    """``{documentIds: [...]}`` or ``{query: "..."}`` (valibot union of strict objects)."""
    if isinstance(value, dict) and set(value) == {"documentIds"}:
        return v.obj(
            {"documentIds": (v.array(v.string(pattern=id_pattern("doc")), 1, 1000), True)}
        )(value, path, issues)
    if isinstance(value, dict) and set(value) == {"query"}:
        return v.obj({"query": (v.string(None, 1024), True)})(value, path, issues)
    v.issue(issues, path, f"Invalid type: Expected Object but received {v.received(value)}")
    return value


@route("POST", "/api/organizations/{org}/documents/batch/trash", ("documents:delete",))
def documents_batch_trash(ctx: Ctx) -> httpx.Response:
    body = v.run(v.obj({"filter": (_batch_filter, True)}), ctx.json(), "body")
    ctx.state.batch_trash(ctx.org, body["filter"], user_id=ctx.uid)
    return no_content()


_TAG_IDS = v.array(v.string(pattern=id_pattern("tag")), None, 50)


@route("POST", "/api/organizations/{org}/documents/batch/tags", ("documents:update", "tags:read"))
def documents_batch_tags(ctx: Ctx) -> httpx.Response:
    body = v.run(
        v.obj(
            {
                "filter": (_batch_filter, True),
                "addTagIds": (_TAG_IDS, False),
                "removeTagIds": (_TAG_IDS, False),
            }
        ),
        ctx.json(),
        "body",
    )
    add, remove = body.get("addTagIds", []), body.get("removeTagIds", [])
    if not add and not remove:
        raise v.validation_error(
            "body",
            [
                {
                    "path": None,
                    "message": "At least one of addTagIds or removeTagIds must be provided",
                }
            ],
        )
    if set(add) & set(remove):
        raise v.validation_error(
            "body",
            [{"path": None, "message": "addTagIds and removeTagIds must not contain the same tag"}],
        )
    ctx.state.batch_tags(ctx.org, body["filter"], add, remove, user_id=ctx.uid)
    return no_content()
