"""What ``papra-pipeline webhooks serve`` prints on its own, as the README runs it: where it
receives, once, and not as a warning; never the secret."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .helpers import SECRET, free_port, wait_for

pytestmark = pytest.mark.slow


def test_serve_says_once_where_it_receives(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "PAPRA_WEBHOOK_SECRET": SECRET,
        "PAPRA_WEBHOOK_INBOX": str(tmp_path / "inbox.sqlite"),
    }
    receiver = subprocess.Popen(
        [sys.executable, "-m", "papra_pipeline.cli", "webhooks", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
    finally:
        receiver.terminate()
        out, err = receiver.communicate(timeout=60)
    printed = out + err
    where = f"http://127.0.0.1:{port}/webhooks/papra"
    assert printed.count(where) == 1, printed
    assert "WARNING" not in printed
    assert SECRET not in printed
