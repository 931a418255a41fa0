"""``papra-pipeline webhooks serve``: receive Papra's deliveries and store them in the inbox.

A delivery is answered 2xx only once it is committed to the inbox (SQLite, ``synchronous=FULL``):
Papra makes one attempt and never retries, so an acknowledged delivery must not be lost, and one
we could not store must not be acknowledged. Everything else is refused before it is stored:
a missing or wrong signature or a timestamp more than 5 minutes away (401), a body over 1 MB
(413), a signed body that is not a delivery we know (400).

Concurrent deliveries are committed together by one writer thread (group commit): one fsync
costs milliseconds, which would otherwise cap the receiver at a few hundred deliveries a second.
Each is still stored on its own merit: one whose values the inbox refuses gets 400 alone.

On an exposed port (``guard.py`` holds the connections to their limits): bodies read before
their signature is checked share ``MAX_UNVERIFIED_BYTES``; a client's fault is answered 4xx with
a one-line reason and never logs a traceback; untrusted values are logged quoted, so they cannot
forge a line. ``/healthz`` answers from a thread of its own within a second, ``not ok`` when a
delivery could not be stored now (the inbox's folder gone, a file read-only, the disk full, the
last commit failed).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import queue
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from papra_pipeline.client import Delivery, InvalidDeliveryError, parse_delivery
from papra_pipeline.client.webhooks import DEFAULT_TOLERANCE_SECONDS
from papra_pipeline.warehouse.inbox import InboxDelivery, WebhookInbox, peek_pending
from papra_pipeline.webhooks import DELIVERY_PATH, SECRET_ENV
from papra_pipeline.webhooks.guard import Limits, guarded_protocol

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger("papra_pipeline.webhooks")

MAX_BODY_BYTES = 1_000_000  # a document:updated carries the full text; Papra's own cap is lower
MAX_UNVERIFIED_BYTES = 32_000_000  # Papra's 10 deliveries at once fit three times over
MAX_BATCH = 500
HEALTH_SECONDS = 0.5  # what /healthz waits for its look at the inbox


class InboxWriter:
    """Commits deliveries handed over by request handlers, many per transaction."""

    def __init__(self, inbox: WebhookInbox) -> None:
        self.inbox = inbox
        self.last_error: str | None = None  # why the last commit failed; None once one works
        self._queue: queue.SimpleQueue[tuple[InboxDelivery, Future[bool | Exception]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="papra-inbox-writer", daemon=True)
        self._thread.start()

    def submit(self, delivery: InboxDelivery) -> Future[bool | Exception]:
        """A future set, once the delivery is committed, to whether it was new, or to the
        error that refused its values alone; it raises when the commit failed."""
        future: Future[bool | Exception] = Future()
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
                self.last_error = str(exc) or type(exc).__name__
                for _, future in batch:
                    future.set_exception(exc)
                continue
            self.last_error = None
            for (_, future), outcome in zip(batch, added, strict=True):
                future.set_result(outcome)


class ByteBudget:
    """The bodies of requests whose signature is not checked yet, by the size each may reach,
    kept under ``limit`` in all: a request past it waits its turn (first come, first served)
    rather than growing the process. The event loop's alone."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    async def take(self, size: int) -> None:
        if not self._waiters and self.used + size <= self.limit:
            self.used += size
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((size, waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            if not waiter.cancelled():  # granted just as it was cancelled
                self.give(size)
            raise

    def give(self, size: int) -> None:
        self.used -= size
        while self._waiters and self.used + self._waiters[0][0] <= self.limit:
            size, waiter = self._waiters.popleft()
            if not waiter.cancelled():
                self.used += size
                waiter.set_result(None)


class InboxHealth:
    """What ``/healthz`` reports, looked up on a thread of its own: never on the event loop,
    never behind the writer's lock, one look at a time however many ask."""

    def __init__(self, writer: InboxWriter) -> None:
        self.writer = writer
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="papra-inbox-health")
        self._look: Future[tuple[str | None, int | None]] | None = None

    def look(self) -> Future[tuple[str | None, int | None]]:
        """A future of why a delivery could not be stored now (None: it could) and how many
        deliveries are pending (None: not known)."""
        if self._look is None or self._look.done():
            self._look = self._executor.submit(self._check)
        return self._look

    def _check(self) -> tuple[str | None, int | None]:
        inbox = self.writer.inbox
        try:
            problem = inbox.write_problem()
        except OSError as exc:  # the folder went away between two looks, say
            problem = f"the inbox cannot be looked at: {exc}"
        if problem is None and self.writer.last_error is not None:
            problem = f"the last commit failed: {self.writer.last_error}"
        return problem, peek_pending(inbox.path)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _refuse(status: int, reason: str, request: Request) -> JSONResponse:
    """One warning line; ``reason`` quotes any untrusted value it names (``!r``)."""
    client = request.client.host if request.client else "?"
    log.warning("refused a delivery from %s with %d: %s", client, status, reason)
    return JSONResponse({"error": reason}, status_code=status)


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, budget: ByteBudget, taken: list[int]) -> bytes:
    """The body, its size taken from ``budget`` before a byte is read (``taken[0]``, for the
    caller to give back): the declared length, else ``MAX_BODY_BYTES``. Taken at once, never
    chunk by chunk, so no two requests can each hold a part and wait for the rest. Raises
    ``_TooLarge`` past ``MAX_BODY_BYTES`` (read no further)."""
    expected = MAX_BODY_BYTES  # chunked
    if "content-length" in request.headers:  # digits: httptools refuses anything else
        declared = request.headers["content-length"].lstrip("0") or "0"
        if len(declared) > len(str(MAX_BODY_BYTES)) or int(declared) > MAX_BODY_BYTES:
            raise _TooLarge
        expected = int(declared)
    await budget.take(expected)
    taken[0] = expected
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > expected:
            raise _TooLarge
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
    health: dict[str, InboxHealth] = {}
    budget = ByteBudget(MAX_UNVERIFIED_BYTES)

    async def verified(request: Request) -> Delivery | Response:
        """The delivery, once its signature is checked, or the answer refusing it."""
        taken = [0]
        try:
            body = await _read_body(request, budget, taken)
            return parse_delivery(
                request.headers,
                body,
                secret=secret,
                now=now() if now else None,
                tolerance_seconds=tolerance_seconds,
            )
        except _TooLarge:
            return _refuse(413, f"body larger than {MAX_BODY_BYTES} bytes", request)
        except InvalidDeliveryError as exc:
            return _refuse(exc.status, exc.reason, request)
        except ClientDisconnect:  # gone mid-body (or shed as too slow): nobody to answer
            log.debug("a client disconnected before its delivery was read")
            return Response(status_code=400)
        except Exception as exc:  # whatever else its bytes raise is still the sender's fault
            return _refuse(400, f"unreadable delivery ({type(exc).__name__})", request)
        finally:
            budget.give(taken[0])

    async def deliveries(request: Request) -> Response:
        delivery = await verified(request)
        if isinstance(delivery, Response):
            return delivery
        row = InboxDelivery(
            delivery.id,
            delivery.event,
            delivery.organization_id,
            delivery.document_id,
            delivery.timestamp,
        )
        try:
            outcome = await asyncio.wrap_future(state["writer"].submit(row))
        except Exception as exc:  # not stored: never acknowledge it
            log.error("could not store delivery %r: %s", delivery.id, exc)
            return JSONResponse({"error": "could not store the delivery"}, status_code=503)
        if isinstance(outcome, Exception):  # its values alone: the others were stored
            return _refuse(400, f"the inbox cannot store its values ({outcome})"[:200], request)
        log.info(
            "%s %r of %r in %r",
            "stored" if outcome else "duplicate",
            delivery.event,
            delivery.document_id,
            delivery.organization_id,
        )
        return JSONResponse({"status": "stored" if outcome else "duplicate"})

    async def healthz(request: Request) -> JSONResponse:
        look = asyncio.wrap_future(health["inbox"].look())
        try:  # shielded: a look another request waits for too is not cancelled
            problem, pending = await asyncio.wait_for(asyncio.shield(look), HEALTH_SECONDS)
        except TimeoutError:
            problem, pending = f"the inbox did not answer within {HEALTH_SECONDS} s", None
        if problem is not None:
            return JSONResponse(
                {"status": "not ok", "problem": problem, "pending": pending}, status_code=503
            )
        return JSONResponse({"status": "ok", "pending": pending})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        inbox = WebhookInbox(inbox_file, timeout=lock_timeout)
        state["writer"] = InboxWriter(inbox)
        health["inbox"] = InboxHealth(state["writer"])
        log.info("storing deliveries in %s", inbox.path)
        try:
            yield
        finally:
            health.pop("inbox").close()
            state.pop("writer").close()
            inbox.close()

    return Starlette(
        routes=[
            Route(DELIVERY_PATH, deliveries, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def server_config(
    app: Starlette, host: str, port: int, limits: Limits | None = None, **options: Any
) -> uvicorn.Config:
    """uvicorn's settings for the receiver: httptools held to ``limits`` (``guard.py``), no
    WebSocket upgrades, a listening backlog within the descriptor limit."""
    import uvicorn

    limits = limits or Limits()
    _, backlog = limits.descriptors()
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(limits),
        ws="none",
        backlog=backlog,
        access_log=False,
        server_header=False,
        **options,
    )


def serve(secret: str, inbox_file: Path, *, host: str = "127.0.0.1", port: int = 8787) -> None:
    """Run the receiver until interrupted."""
    import uvicorn

    app = build_app(secret, inbox_file)
    # Info, not a warning: nothing is wrong, and the command prints the same line itself.
    log.info(
        "receiving Papra webhooks at http://%s:%d%s into %s", host, port, DELIVERY_PATH, inbox_file
    )
    uvicorn.Server(server_config(app, host, port, log_level="info")).run()
