"""``papra-pipeline fake-server``, as the README's Development section runs it: what it prints
is enough to point every command at it, the webhook commands included (they need a login)."""

from __future__ import annotations

import contextlib
import ctypes
import platform
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from papra_pipeline.client import PapraClient, PapraError

pytestmark = pytest.mark.slow

COMMAND = Path(sys.executable).parent / "papra-pipeline"
# Generous, for a busy machine: a server that ignores SIGTERM never exits at all.
WAIT_SECONDS = 120


def ignore_sigint_and_sigterm() -> None:
    """What a parent that ran Dagster in-process passes on when it was started with SIGINT
    ignored (in the background, from a shell without job control): Dagster maps SIGTERM to
    SIGINT's handler, so SIGTERM is ignored by inheritance too."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def start(*options: str, ignoring: bool = False) -> subprocess.Popen:
    return subprocess.Popen(
        [str(COMMAND), "fake-server", "--port", "0", *options],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=ignore_sigint_and_sigterm if ignoring else None,
    )


def handles_sigterm(pid: int) -> bool:
    """Whether the process has installed a handler for SIGTERM (its ``SigCgt`` mask)."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    caught = int(next(line for line in status if line.startswith("SigCgt:")).split()[1], 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def stop(server: subprocess.Popen) -> str:
    """Wait for ``server`` to exit (killing it if it does not); what it printed still unread."""
    try:
        printed, _ = server.communicate(timeout=WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        server.kill()
        server.communicate()
        raise
    return printed


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
        banner = read_until_export_line(server.stdout, seconds=WAIT_SECONDS)
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
        stop(server)


def test_sigterm_stops_it_even_when_started_with_sigterm_and_sigint_ignored():
    server = start("--documents", "10", ignoring=True)
    try:
        banner = read_until_export_line(server.stdout, seconds=WAIT_SECONDS)
        assert any(line.startswith("export ") for line in banner), banner
    finally:
        server.terminate()
        stop(server)
    assert server.returncode == 0


def test_sigterm_during_start_up_stops_it_before_it_serves():
    # Enough documents that generating them takes many seconds: SIGTERM comes while they are.
    server = start("--documents", "200000", ignoring=True)
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while not handles_sigterm(server.pid):
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        server.terminate()
        printed = stop(server)
    assert server.returncode == 0
    assert "export " not in printed


def test_two_sigterms_while_requests_are_in_flight_stop_it():
    server = start("--documents", "200", ignoring=True)
    busy = threading.Event()
    askers: list[threading.Thread] = []

    def keep_asking(url: str, key: str) -> None:
        # No retries: the first request the stopped server leaves unanswered ends the thread.
        with PapraClient(url, key, max_retries=0) as client, contextlib.suppress(PapraError):
            [organization, *_] = client.list_organizations()
            while True:
                client.list_documents(organization.id)
                busy.set()

    try:
        banner = read_until_export_line(server.stdout, seconds=WAIT_SECONDS)
        [export] = [line for line in banner if line.startswith("export ")]
        variables = dict(word.split("=", 1) for word in shlex.split(export)[1:])
        for _ in range(4):
            askers.append(
                threading.Thread(
                    target=keep_asking,
                    args=(variables["PAPRA_API_URL"], variables["PAPRA_API_KEY"]),
                )
            )
            askers[-1].start()
        assert busy.wait(timeout=WAIT_SECONDS)
    finally:
        server.terminate()
        server.terminate()
        stop(server)
        for asker in askers:
            asker.join(timeout=WAIT_SECONDS)
    # Shut down by the first; the second, when it comes after that, ends the process at once.
    assert server.returncode in (0, -signal.SIGTERM)
    assert not any(asker.is_alive() for asker in askers)


# tgkill(2), which sends a signal to one thread of another process (x86-64 and arm64 numbers).
TGKILL = {"x86_64": 234, "aarch64": 131}.get(platform.machine())


@pytest.mark.skipif(TGKILL is None, reason=f"tgkill's number on {platform.machine()} not known")
def test_sigterm_received_by_another_thread_than_the_main_one_stops_it():
    """The kernel hands a process's signal to any of its threads, and Python runs the handler
    in the main thread when it next runs bytecode: a main thread asleep without a timeout
    never did (CI caught it once, while requests kept the serving threads busy)."""
    server = start("--documents", "10", ignoring=True)
    try:
        banner = read_until_export_line(server.stdout, seconds=WAIT_SECONDS)
        assert any(line.startswith("export ") for line in banner), banner
        [other, *_] = (
            int(task.name)
            for task in Path(f"/proc/{server.pid}/task").iterdir()
            if int(task.name) != server.pid
        )
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.syscall(TGKILL, server.pid, other, signal.SIGTERM) == 0, ctypes.get_errno()
        server.wait(timeout=WAIT_SECONDS)
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate()
    assert server.returncode == 0
