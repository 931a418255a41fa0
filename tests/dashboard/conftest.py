"""A warehouse synced from the fake over HTTP with two report backfills, the dashboard served
on it by the command ``papra-pipeline dashboard`` runs, and Debian's Chromium driven by
Playwright."""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from papra_pipeline.client import PapraClient
from papra_pipeline.dashboard import command
from papra_pipeline.sync import SyncOptions, sync
from papra_pipeline.testing import FakePapra, populate, serve
from papra_pipeline.warehouse import Warehouse
from papra_pipeline.warehouse.reports import refresh_daily_reports

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and nothing of Chromium's own talks to the network.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT = 90  # seconds; Streamlit starts in ~3 s on a quiet machine
REPO = Path(__file__).resolve().parents[2]
# Streamlit brings pyarrow, which pandas uses for strings once installed: the suite's own
# environment leaves the extra out (see pyproject.toml), and the dashboard runs from this one.
SIDE = REPO / ".venv" / "dashboard-test"


def dashboard_python() -> str:
    """A Python with the dashboard extra and, behind it, this environment's packages (the
    project among them); built once and reused."""
    if importlib.util.find_spec("streamlit") is not None:
        return sys.executable
    python = SIDE / "bin" / "python"
    ready = SIDE / ".installed"
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["dashboard"]
    if not ready.exists() or ready.read_text() != repr(extra):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(SIDE)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *extra],
            check=True,
        )
        side_packages = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        ours = sysconfig.get_paths()["purelib"]
        Path(side_packages, "papra-test-environment.pth").write_text(
            f"import site; site.addsitedir({ours!r})\n"
        )
        ready.write_text(repr(extra))
    return str(python)


@dataclass
class Synced:
    """The synced warehouse, its fake, and the days the reports were backfilled for."""

    warehouse: Warehouse
    fake: FakePapra
    papra_url: str
    reported: list[date]
    gap: date

    def sync(self) -> None:
        with PapraClient(self.papra_url, self.fake.api_key, max_retries=0) as client:
            sync(client, self.warehouse, SyncOptions(mode="full"))


@pytest.fixture(scope="package")
def synced(tmp_path_factory) -> Iterator[Synced]:
    """Two organizations of 100 documents over ~4 days; reports backfilled for the first two
    days and the fourth, not the third."""
    fake = FakePapra()
    populate(fake, organizations=2, documents=200, tags=8, custom_properties=8, seed=11)
    warehouse = Warehouse(tmp_path_factory.mktemp("warehouse") / "papra.duckdb", lock_timeout=5)
    with serve(fake) as url:
        synced = Synced(warehouse, fake, url, [], date.min)
        synced.sync()
        with warehouse.read() as con:
            first = con.execute("SELECT min(created_at) FROM documents").fetchall()[0][0].date()
        days = [first + timedelta(days=i) for i in range(4)]
        refresh_daily_reports(warehouse, days[0], days[1])
        refresh_daily_reports(warehouse, days[3], days[3])
        synced.reported, synced.gap = [days[0], days[1], days[3]], days[2]
        yield synced


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _healthy(url: str, process: subprocess.Popen) -> bool:
    """Wait until Streamlit answers its health check; ``False`` if it exited first."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as response:
                if response.read() == b"ok":
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the dashboard did not start within {STARTUP_TIMEOUT}s")


@contextmanager
def dashboard_server(db: Path, log: Path) -> Iterator[str]:
    """Serve the dashboard of ``db`` with the command ``papra-pipeline dashboard`` runs, on a
    free loopback port; yield its URL."""
    for _ in range(3):  # the port may be taken between the probe and Streamlit's bind
        url_port = free_port()
        with open(log, "a") as out:
            process = subprocess.Popen(
                command(db, port=url_port, freshness_hours=2, python=dashboard_python()),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{url_port}"
        if _healthy(url, process):
            break
    else:
        raise AssertionError(f"the dashboard did not start: {log.read_text()}")
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # Streamlit logs only warnings and errors, each on a line of its own starting with the
    # time: what the pages ran into would show here rather than in the browser.
    logged = log.read_text()
    assert not re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d", logged, flags=re.MULTILINE), logged


@pytest.fixture(scope="package")
def dashboard_url(synced, tmp_path_factory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("dashboard") / "streamlit.log"
    with dashboard_server(synced.warehouse.path, log) as url:
        yield url


@pytest.fixture(scope="package")
def browser():
    if not CHROMIUM.exists():
        message = "Debian's chromium is missing: run .ci/install-chromium (as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
