"""Signed deliveries shaped like Papra's, and a receiver served on loopback."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from papra_pipeline.client import signature
from papra_pipeline.webhooks.receiver import build_app, server_config

SECRET = "test-webhook-secret-0123456789"
SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "papra-samples" / "webhooks"


def signed_delivery(
    *,
    event: str = "document:updated",
    document_id: str = "doc_aaaaaaaaaaaaaaaaaaaaaaaa",
    organization_id: str = "org_aaaaaaaaaaaaaaaaaaaaaaaa",
    delivery_id: str | None = None,
    timestamp: int | None = None,
    secret: str = SECRET,
    body: bytes | None = None,
    content_type: str = "application/json",
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a delivery as Papra would send it now."""
    delivery_id = delivery_id or f"msg_{uuid.uuid4().hex[:24]}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    if body is None:
        payload = {
            "data": {"documentId": document_id, "organizationId": organization_id},
            "type": event,
            "timestamp": "2026-11-30T09:14:24.314Z",
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "content-type": content_type,
        "user-agent": "papra-webhook-client",
        "webhook-id": delivery_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, delivery_id, timestamp, body),
    }
    return headers, body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_receiver(inbox: Path, secret: str = SECRET, **options: Any) -> Iterator[str]:
    """The receiver under uvicorn in a thread, set up as ``webhooks serve`` runs it; yields
    its base URL."""
    port = free_port()
    config = server_config(
        build_app(secret, inbox, **options), "127.0.0.1", port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise TimeoutError("the receiver did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_for(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer")
        time.sleep(0.05)


@contextmanager
def receiver_process(
    inbox: Path, *, nofile: int | None = None
) -> Iterator[tuple[subprocess.Popen, str]]:
    """``papra-pipeline webhooks serve`` in its own process, optionally with a lower
    descriptor limit (``nofile``); yields it and its base URL, and stops it at the end. Its
    output goes to ``receiver.log`` beside the inbox (a pipe nobody reads would block it)."""

    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    port = free_port()
    env = {**os.environ, "PAPRA_WEBHOOK_SECRET": SECRET, "PAPRA_WEBHOOK_INBOX": str(inbox)}
    with (inbox.parent / "receiver.log").open("wb") as log:  # the child keeps its own copy
        process = subprocess.Popen(
            [sys.executable, "-m", "papra_pipeline.cli", "webhooks", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            preexec_fn=limit,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_listening(port)
        yield process, base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_listening(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on port {port}") from None
            time.sleep(0.05)
