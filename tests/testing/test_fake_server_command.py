"""``papra-pipeline fake-server``, as the README's Development section runs it: what it prints
is enough to point every command at it, the webhook commands included (they need a login)."""

from __future__ import annotations

import shlex
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from papra_pipeline.client import PapraClient

pytestmark = pytest.mark.slow

COMMAND = Path(sys.executable).parent / "papra-pipeline"


def read_until_export_line(stream, seconds: float) -> list[str]:
    """The lines printed until one starts with ``export`` (or the time is up)."""
    lines: list[str] = []

    def read() -> None:
        for line in stream:
            lines.append(line)
            if line.startswith("export "):
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=seconds)
    return list(lines)


def test_the_banner_gives_the_url_the_key_and_the_login_as_export_lines():
    server = subprocess.Popen(
        [str(COMMAND), "fake-server", "--port", "0", "--documents", "10"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = read_until_export_line(server.stdout, seconds=60)
        exports = [line for line in banner if line.startswith("export ")]
        assert len(exports) == 1, banner
        variables = dict(word.split("=", 1) for word in shlex.split(exports[0])[1:])
        assert set(variables) == {"PAPRA_API_URL", "PAPRA_API_KEY", "PAPRA_EMAIL", "PAPRA_PASSWORD"}
        with PapraClient(
            variables["PAPRA_API_URL"],
            variables["PAPRA_API_KEY"],
            email=variables["PAPRA_EMAIL"],
            password=variables["PAPRA_PASSWORD"],
        ) as client:
            [organization, *_] = client.list_organizations()
            # A session-only route: the login printed is one the fake accepts.
            assert client.list_webhooks(organization.id) == ()
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stdout.close()
