"""Connection limits for a receiver on an exposed port, added to uvicorn's httptools protocol.

uvicorn closes a keep-alive connection left idle after a response, and nothing else: a
connection that never completes a request stays open for ever, its headers may grow without
bound, and once the process runs out of file descriptors the next genuine delivery is reset.
Papra makes one attempt per delivery, so each connection here is held to a budget:

* waiting for a request's headers: at most ``header_timeout`` seconds and ``max_header_bytes``
  bytes (408 or 431, then closed);
* receiving its body: at most ``body_timeout`` seconds in all (408, then closed);
* once the request is in, it is the app's: the inbox's lock timeout bounds it.

At most ``max_connections`` are open. A connection past the cap sheds the one that has waited
longest in the first two states (an idle or slow client) so that a real delivery finds room;
the listening backlog is sized so that accepting never runs out of descriptors (libuv resets
every pending connection when it does).

httptools rather than h11: the C parser costs the receiver ~25% less CPU per delivery (0.31-0.46
versus 0.40-0.57 ms measured side by side on loopback), and the header cap h11 has built in
takes a byte count here. uvicorn's own ``limit_concurrency`` is no help: past it, it answers 503
to every request, genuine deliveries included, and leaves the idle connections open.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("papra_pipeline.webhooks")

RESERVED_DESCRIPTORS = 32  # stdio, the listening socket, the event loop's, the inbox's files
SWEEP_SECONDS = 0.5  # how often late connections are looked for: deadlines are this precise


@dataclass(frozen=True, slots=True)
class Limits:
    header_timeout: float = 5.0  # Papra sends its headers in one packet
    body_timeout: float = 15.0  # 1 MB at ~0.5 Mbit/s; a delivery is usually under 1 kB
    max_header_bytes: int = 16_384  # h11's default; Papra sends ~400 bytes
    max_connections: int = 256  # Papra sends up to 10 deliveries at once

    def descriptors(self) -> tuple[int, int]:
        """The connection cap and the listening backlog, within the descriptor limit: the
        open connections plus those the kernel may queue for ``accept`` always fit."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            soft = 1 << 20
        room = max(16, soft - RESERVED_DESCRIPTORS)
        cap = max(8, min(self.max_connections, room // 2))
        return cap, max(8, min(2048, room - cap))


class _ShedLog:
    """One warning line per ``every`` seconds at most, counting the connections shed since
    the last one: a flood of idle clients must not become a flood of log lines."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self.counts: Counter[str] = Counter()
        self.next_at = 0.0

    def note(self, reason: str) -> None:
        self.counts[reason] += 1
        now = time.monotonic()
        if now >= self.next_at:
            shed = ", ".join(f"{n} {why}" for why, n in self.counts.items())
            log.warning("closed connections of idle or slow clients: %s", shed)
            self.counts.clear()
            self.next_at = now + self.every


def _response(status: bytes, text: str) -> bytes:
    body = text.encode("ascii")
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(body)).encode("ascii") + b"\r\nconnection: close\r\n\r\n"
    ) + body


def guarded_protocol(limits: Limits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol held to ``limits``; one class per server (the connections
    waiting in the first two states are its own)."""
    cap, _ = limits.descriptors()
    # Connections in their first two states, oldest first (a dict keeps insertion order), with
    # their deadline and what they wait for. A sweep every SWEEP_SECONDS closes the late ones,
    # rather than two more timers per request beside uvicorn's keep-alive one.
    waiting: dict[GuardedProtocol, tuple[float, str]] = {}
    sweeping: list[asyncio.AbstractEventLoop] = []
    shed_log = _ShedLog()

    def sweep(loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for protocol, (deadline, what) in list(waiting.items()):
            if deadline > now:
                continue
            if protocol._answered and protocol._idle():  # a keep-alive connection left idle
                protocol._stop_waiting()
                protocol.transport.close()  # as uvicorn's own keep-alive timeout does
            else:
                protocol._shed(b"408 Request Timeout", f"{what} not received in time")
        loop.call_later(SWEEP_SECONDS, sweep, loop)

    class GuardedProtocol(HttpToolsProtocol):
        _header_bytes = 0
        _reading_headers = False
        _message_done = True
        _answered = False  # a response was sent on this connection

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if not sweeping:
                sweeping.append(self.loop)
                self.loop.call_later(SWEEP_SECONDS, sweep, self.loop)
            if len(self.connections) > cap:
                if not waiting:  # every connection is a request the app handles: refuse this one
                    self._shed(b"503 Service Unavailable", "too many connections")
                    return
                next(iter(waiting))._shed(b"503 Service Unavailable", "too many connections")
            self._wait(limits.header_timeout, headers=True)

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_waiting()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._reading_headers:
                self._header_bytes += len(data)
            super().data_received(data)
            if (
                self._reading_headers
                and self._header_bytes > limits.max_header_bytes
                and not self.transport.is_closing()
            ):
                self._shed(
                    b"431 Request Header Fields Too Large",
                    f"headers over {limits.max_header_bytes} bytes",
                )

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self._message_done = False
            self._wait(limits.body_timeout, headers=False)

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._message_done = True
            self._stop_waiting()

        def on_response_complete(self) -> None:
            self._answered = True
            if not self._message_done:  # answered before its body was in (413, 404): unread
                self.transport.close()
            super().on_response_complete()
            if not self.transport.is_closing():
                self._wait(limits.header_timeout, headers=True)

        def _wait(self, seconds: float, *, headers: bool) -> None:
            """Enter a state the client must leave within ``seconds``."""
            waiting.pop(self, None)
            self._reading_headers = headers
            self._header_bytes = 0
            waiting[self] = (self.loop.time() + seconds, "headers" if headers else "body")

        def _idle(self) -> bool:
            """Whether not a byte of a next request has come."""
            return self._reading_headers and not self._header_bytes

        def _stop_waiting(self) -> None:
            self._reading_headers = False
            waiting.pop(self, None)

        def _shed(self, status: bytes, reason: str) -> None:
            """Answer ``status`` to a request begun and not answered yet, and close; a request
            the app is reading then sees the client disconnect. An idle connection is closed
            without a word: a client reusing it would take the answer for its next request's."""
            idle = self._idle()
            self._stop_waiting()
            if not self.transport.is_closing():
                cycle = self.cycle
                if not idle and (
                    cycle is None or cycle.response_complete or not cycle.response_started
                ):
                    self.transport.write(_response(status, reason))
                self.transport.close()
            shed_log.note("idle" if idle else reason)

    return GuardedProtocol
