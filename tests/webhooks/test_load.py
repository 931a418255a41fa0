"""The receiver under load on loopback, in its own process: nothing acknowledged is lost, even
when the process is SIGKILLed mid-load. (The rate is measured in ``benchmarks/webhooks.py``.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from papra_pipeline.testing.webhook_load import send_deliveries
from papra_pipeline.warehouse.inbox import WebhookInbox

from .helpers import SECRET, free_port, wait_for

pytestmark = pytest.mark.slow


def start_receiver(inbox: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PAPRA_WEBHOOK_SECRET": SECRET, "PAPRA_WEBHOOK_INBOX": str(inbox)}
    process = subprocess.Popen(
        [sys.executable, "-m", "papra_pipeline.cli", "webhooks", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/healthz")
    except TimeoutError:
        process.kill()
        raise
    return process, f"{base}/webhooks/papra"


def stored_ids(inbox: Path) -> set[str]:
    with WebhookInbox(inbox) as opened:
        return opened.delivery_ids()


def test_every_delivery_of_a_burst_is_stored(tmp_path):
    inbox = tmp_path / "inbox.sqlite"
    process, url = start_receiver(inbox)
    try:
        result = send_deliveries(url, SECRET, 2000, concurrency=10)
    finally:
        process.terminate()
        _, err = process.communicate(timeout=15)
    assert result.failed == 0
    assert len(result.acknowledged) == 2000
    assert stored_ids(inbox) == set(result.acknowledged)
    assert SECRET.encode() not in err


def test_acknowledged_deliveries_survive_a_sigkill_mid_load(tmp_path):
    inbox = tmp_path / "inbox.sqlite"
    process, url = start_receiver(inbox)

    def kill_at(acknowledged: int) -> None:
        if acknowledged == 600:
            os.kill(process.pid, signal.SIGKILL)

    try:
        result = send_deliveries(url, SECRET, 3000, concurrency=10, on_acknowledged=kill_at)
    finally:
        process.kill()
        process.communicate(timeout=15)
    assert process.returncode == -signal.SIGKILL
    assert result.failed > 0  # the load really was cut off
    assert 600 <= len(result.acknowledged) < 3000
    assert set(result.acknowledged) <= stored_ids(inbox)
