"""``papra-pipeline webhooks serve``: receive Papra's deliveries and store them in the inbox.

A delivery is answered 2xx only once it is committed to the inbox (SQLite, ``synchronous=FULL``):
Papra makes one attempt and never retries, so an acknowledged delivery must not be lost, and one
we could not store must not be acknowledged. Everything else is refused before it is stored:
a missing or wrong signature or a timestamp more than 5 minutes away (401), a body over 1 MB
(413), a signed body that is not a delivery we know (400).

Concurrent deliveries are committed together by one writer thread (group commit): one fsync
costs milliseconds, which would otherwise cap the receiver at a few hundred deliveries a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from papra_pipeline.client import InvalidDeliveryError, parse_delivery
from papra_pipeline.client.webhooks import DEFAULT_TOLERANCE_SECONDS
from papra_pipeline.warehouse.inbox import InboxDelivery, WebhookInbox
from papra_pipeline.webhooks import DELIVERY_PATH, SECRET_ENV

log = logging.getLogger("papra_pipeline.webhooks")

MAX_BODY_BYTES = 1_000_000  # a document:updated carries the full text; Papra's own cap is lower
MAX_BATCH = 500


class InboxWriter:
    """Commits deliveries handed over by request handlers, many per transaction."""

    def __init__(self, inbox: WebhookInbox) -> None:
        self.inbox = inbox
        self._queue: queue.SimpleQueue[tuple[InboxDelivery, Future[bool]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="papra-inbox-writer", daemon=True)
        self._thread.start()

    def submit(self, delivery: InboxDelivery) -> Future[bool]:
        """A future set to whether the delivery was new, once it is committed."""
        future: Future[bool] = Future()
        self._queue.put((delivery, future))
        return future

    def close(self) -> None:
        """Commit what was handed over, then stop."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                added = self.inbox.add([delivery for delivery, _ in batch])
            except Exception as exc:  # handed to each waiting request, which answers 503
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, future), new in zip(batch, added, strict=True):
                future.set_result(new)


def _refuse(status: int, reason: str, request: Request) -> JSONResponse:
    client = request.client.host if request.client else "?"
    log.warning("refused a delivery from %s with %d: %s", client, status, reason)
    return JSONResponse({"error": reason}, status_code=status)


async def _read_body(request: Request) -> bytes | None:
    """The body, or None when it is larger than ``MAX_BODY_BYTES`` (read no further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(
    secret: str,
    inbox_file: str | os.PathLike[str],
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: Callable[[], float] | None = None,
    lock_timeout: float = 10.0,
) -> Starlette:
    """The receiver as an ASGI app; the inbox opens and closes with the app's lifespan.

    ``lock_timeout``: how long a delivery waits while another process locks the inbox before
    it is answered 503 (not stored, so not acknowledged).
    """
    if not secret:
        raise ValueError(f"{SECRET_ENV} is not set: the receiver cannot verify deliveries")
    state: dict[str, InboxWriter] = {}

    async def deliveries(request: Request) -> JSONResponse:
        body = await _read_body(request)
        if body is None:
            return _refuse(413, f"body larger than {MAX_BODY_BYTES} bytes", request)
        try:
            delivery = parse_delivery(
                request.headers,
                body,
                secret=secret,
                now=now() if now else None,
                tolerance_seconds=tolerance_seconds,
            )
        except InvalidDeliveryError as exc:
            return _refuse(exc.status, exc.reason, request)
        row = InboxDelivery(
            delivery.id,
            delivery.event,
            delivery.organization_id,
            delivery.document_id,
            delivery.timestamp,
        )
        try:
            new = await asyncio.wrap_future(state["writer"].submit(row))
        except Exception as exc:  # not stored: never acknowledge it
            log.error("could not store delivery %s: %s", delivery.id, exc)
            return JSONResponse({"error": "could not store the delivery"}, status_code=503)
        log.info(
            "%s %s of %s in %s",
            "stored" if new else "duplicate",
            delivery.event,
            delivery.document_id,
            delivery.organization_id,
        )
        return JSONResponse({"status": "stored" if new else "duplicate"})

    async def healthz(request: Request) -> JSONResponse:
        pending, _ = state["writer"].inbox.pending_summary()
        return JSONResponse({"status": "ok", "pending": pending})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        inbox = WebhookInbox(inbox_file, timeout=lock_timeout)
        state["writer"] = InboxWriter(inbox)
        log.info("storing deliveries in %s", inbox.path)
        try:
            yield
        finally:
            state.pop("writer").close()
            inbox.close()

    return Starlette(
        routes=[
            Route(DELIVERY_PATH, deliveries, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def serve(secret: str, inbox_file: Path, *, host: str = "127.0.0.1", port: int = 8787) -> None:
    """Run the receiver until interrupted."""
    import uvicorn

    app = build_app(secret, inbox_file)
    # Info, not a warning: nothing is wrong, and the command prints the same line itself.
    log.info(
        "receiving Papra webhooks at http://%s:%d%s into %s", host, port, DELIVERY_PATH, inbox_file
    )
    uvicorn.run(app, host=host, port=port, access_log=False, server_header=False, log_level="info")
