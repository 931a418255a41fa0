"""Send many signed deliveries to a receiver at once, as a busy Papra would (load tests and the
benchmark). Bounded: it sends ``count`` deliveries and stops; one attempt each, like Papra."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx


@dataclass
class LoadResult:
    acknowledged: list[str] = field(default_factory=list)  # webhook-ids answered 2xx
    failed: int = 0  # refused, or no answer (a receiver that died)
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds per acknowledged delivery

    @property
    def per_second(self) -> float:
        return len(self.acknowledged) / self.seconds if self.seconds else 0.0


def delivery(secret: str, index: int, organization_id: str) -> tuple[dict[str, str], bytes]:
    delivery_id = f"msg_{uuid.uuid4().hex[:24]}"
    timestamp = int(time.time())
    body = json.dumps(
        {
            "data": {"documentId": f"doc_load{index:020d}", "organizationId": organization_id},
            "type": "document:updated",
            "timestamp": "2026-11-30T09:14:24.314Z",
        },
        separators=(",", ":"),
    ).encode()
    message = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    headers = {
        "content-type": "application/json",
        "user-agent": "papra-webhook-client",
        "webhook-id": delivery_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }
    return headers, body


def send_deliveries(
    url: str,
    secret: str,
    count: int,
    *,
    concurrency: int = 10,
    organization_id: str = "org_loadtestloadtestloadtes",
    on_acknowledged: Callable[[int], None] | None = None,
) -> LoadResult:
    """Send ``count`` deliveries from ``concurrency`` threads (Papra sends up to 10 at once),
    each with its own keep-alive connection; ``on_acknowledged(n)`` runs after each
    acknowledgement with the number so far. (httpx's asyncio client managed a third of this
    rate on loopback.)"""
    result = LoadResult()
    lock = threading.Lock()
    indexes = iter(range(count))

    def sender() -> None:
        with httpx.Client(timeout=10.0) as client:
            while True:
                with lock:
                    index = next(indexes, None)
                if index is None:
                    return
                headers, body = delivery(secret, index, organization_id)
                started = time.perf_counter()
                try:
                    response = client.post(url, content=body, headers=headers)
                except httpx.HTTPError:
                    with lock:
                        result.failed += 1
                    continue
                with lock:
                    if response.is_success:
                        result.latencies.append(time.perf_counter() - started)
                        result.acknowledged.append(headers["webhook-id"])
                        acknowledged = len(result.acknowledged)
                    else:
                        result.failed += 1
                        acknowledged = 0
                if acknowledged and on_acknowledged is not None:
                    on_acknowledged(acknowledged)

    started = time.perf_counter()
    threads = [threading.Thread(target=sender, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result
