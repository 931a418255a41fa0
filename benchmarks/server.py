"""The fake Papra in its own process, with a small control API for the benchmark.

``python -m benchmarks.server --documents N --seed S`` populates a ``FakePapra``, serves it on a
loopback port and prints one JSON line ``{"url": ..., "api_key": ..., ...}`` on stdout. Its CPU
is never charged to the measured process. Routes under ``/__bench/`` are answered here, before
the fake sees them, and are never recorded:

* ``POST /__bench/reset``: forget the request log;
* ``GET /__bench/log``: the requests since the last reset: counts per route template and the
  list of ``[method, path, query]`` (what the floor replays).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time

import httpx

from papra_pipeline.testing import FakePapra, populate, serve

CONTROL = "/__bench/"


def _json(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(),
                          headers={"content-type": "application/json"})


def add_control_routes(fake: FakePapra) -> None:
    """Answer ``/__bench/*`` before the fake (instance attribute shadows ``FakePapra.handle``)."""
    handle = fake.handle

    def wrapped(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if not path.startswith(CONTROL):
            return handle(request)
        request.read()
        if path == CONTROL + "reset":
            fake.reset_requests()
            return _json(200, {"ok": True})
        if path == CONTROL + "log":
            with fake.lock:
                records = list(fake.requests)
            by_route: dict[str, int] = {}
            for r in records:
                key = r.route or f"{r.method} (unrouted)"
                by_route[key] = by_route.get(key, 0) + 1
            return _json(200, {
                "count": len(records),
                "by_route": by_route,
                "requests": [[r.method, r.path, r.query] for r in records],
            })
        return _json(404, {"error": "unknown control route"})

    fake.handle = wrapped  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.server")
    parser.add_argument("--documents", type=int, default=20_000)
    parser.add_argument("--organizations", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    fake = FakePapra(seed=args.seed, auto_extract=True)
    summary = populate(fake, organizations=args.organizations, documents=args.documents,
                       tags=50, custom_properties=10, activity_per_document=3,
                       text_bytes=2000, seed=args.seed)
    add_control_routes(fake)
    fake.webhooks.allowed_hostnames = {"127.0.0.1"}  # the webhook benchmark's receiver
    with serve(fake, "127.0.0.1", args.port) as url:
        print(json.dumps({"url": url, "api_key": fake.api_key, "summary": summary,
                          "populate_seconds": time.perf_counter() - started}), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            # Exit when the benchmark closes our stdin (or dies): no orphan servers.
            sys.stdin.read()
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench-server"
    raise SystemExit(main())
