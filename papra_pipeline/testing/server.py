"""Serve a ``FakePapra`` over real HTTP on loopback (threaded, for end-to-end tests)."""

from __future__ import annotations

import contextlib
import shlex
import signal
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from papra_pipeline.testing.faults import DropConnection, HangConnection

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


def _handler_class(fake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; without TCP_NODELAY, Nagle's algorithm and the
        # client's delayed ACK stall every keep-alive response by about 40 ms.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            host = self.headers.get("host", "127.0.0.1")
            request = httpx.Request(
                self.command,
                f"http://{host}{self.path}",
                headers=list(self.headers.items()),
                content=body,
            )
            try:
                response = fake.handle(request)
            except DropConnection:
                self.close_connection = True
                return
            except HangConnection:
                time.sleep(fake.faults.hang_seconds)
                self.close_connection = True
                return
            content = response.content
            self.send_response(response.status_code)
            for name, value in response.headers.multi_items():
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output clean: the fake records requests in ``fake.requests``."""

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


@contextlib.contextmanager
def serve(
    fake, host: str = "127.0.0.1", port: int = 0, *, tls: ssl.SSLContext | None = None
) -> Iterator[str]:
    """Serve ``fake`` in a daemon thread and yield its base URL; shut down on exit.

    With ``tls`` (a server context holding a certificate), over https.
    """
    server = _Server((host, port), _handler_class(fake))
    if tls is not None:
        # The handshake happens on the first read, in the request's thread: done on accept, a
        # client that never finished it would hold up the serving loop, and shutdown with it.
        server.socket = tls.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    fake.loopback = True
    thread = threading.Thread(target=server.serve_forever, name="fake-papra", daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        fake.loopback = False


def run_fake_server(
    host: str = "127.0.0.1",
    port: int = 8765,
    seed: int = 0,
    documents: int = 2000,
    organizations: int = 2,
) -> None:
    """Build a populated fake and serve it until stopped (``papra-pipeline fake-server``)."""
    # Both signals stop the server even when it was started with them ignored: a parent that ran
    # Dagster in-process after being started with SIGINT ignored (in the background, from a
    # shell without job control) ignores SIGTERM too, as Dagster maps it to SIGINT's handler,
    # and its children inherit that. A server its starter cannot stop then runs forever.
    for stopping in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stopping, _interrupt)
    # A signal while generating, serving or shutting down ends it quietly; once it is shut
    # down, a further one ends the process at once, whatever it is doing.
    with contextlib.suppress(KeyboardInterrupt):
        try:
            _populate_and_serve(host, port, seed, documents, organizations)
        finally:
            for stopping in (signal.SIGINT, signal.SIGTERM):
                signal.signal(stopping, signal.SIG_DFL)


def _populate_and_serve(
    host: str, port: int, seed: int, documents: int, organizations: int
) -> None:
    from papra_pipeline.testing.data import populate
    from papra_pipeline.testing.fake import FakePapra

    fake = FakePapra(seed=seed, auto_extract=True)
    # Like a Papra started with WEBHOOK_URL_ALLOWED_HOSTNAMES=127.0.0.1,localhost, so a
    # receiver on this machine can be registered (`papra-pipeline webhooks register`).
    fake.webhooks.allowed_hostnames = {"127.0.0.1", "localhost"}
    populate(fake, organizations=organizations, documents=documents, seed=seed)
    with serve(fake, host, port) as url:
        # The fake's own generated credentials, printed so every command (the session-only
        # webhook ones too) can be pointed at it by pasting one line.
        print(
            f"Fake Papra serving at {url}; webhooks may call 127.0.0.1 and localhost. "
            "In another shell:",
            f"export PAPRA_API_URL={url} PAPRA_API_KEY={fake.api_key} "
            f"PAPRA_EMAIL={shlex.quote(fake.email)} PAPRA_PASSWORD={shlex.quote(fake.password)}",
            sep="\n",
            flush=True,
        )
        # Woken every half second: the kernel hands a process's signal to any of its threads,
        # and Python runs the handler in the main thread only when that thread next runs
        # bytecode. A wait without a timeout sleeps on through a SIGTERM that a request's
        # thread received: one stop in ~40 under load never happened.
        while True:
            time.sleep(0.5)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
