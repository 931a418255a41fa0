"""Memory while syncing, and a server that pages forever."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from papra_pipeline.client import (
    PapraClient,
    PapraError,
    PapraResponseError,
    PapraValidationError,
)
from papra_pipeline.sync import SyncOptions, sync
from papra_pipeline.testing import serve
from papra_pipeline.warehouse import Warehouse
from tests.reliability.conftest import cli_env, make_fake, record

SIZES = (400, 2000)
LARGE = 10_000
MEASURED: dict[int, float] = {}


# The CLI's own peak: VmHWM belongs to the process image after exec. (getrusage's ru_maxrss
# would not do: it survives fork and exec, so it reports the test process's size.)
MEASURE = """
import sys
from papra_pipeline.cli import main
code = main(sys.argv[2:])
with open("/proc/self/status") as status:
    peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
open(sys.argv[1], "w").write(peak)
sys.exit(code)
"""


def peak_rss_mb(documents: int, tmp_path) -> float:
    """Peak RSS of a CLI full sync (first sync) of ``documents`` documents."""
    if documents not in MEASURED:
        fake = make_fake(documents=documents, seed=5)
        out = tmp_path / f"peak-{documents}"
        with serve(fake) as url:
            done = subprocess.run(
                [sys.executable, "-c", MEASURE, str(out), "sync", "--full"],
                env=cli_env(fake, url, tmp_path / f"{documents}.duckdb"),
                capture_output=True, text=True, timeout=300, check=False,
            )
        assert done.returncode == 0, done.stderr[-500:]
        MEASURED[documents] = int(out.read_text()) / 1024  # kB
    return MEASURED[documents]


def test_memory_grows_at_most_linearly_and_modestly(tmp_path):
    small, large = (peak_rss_mb(n, tmp_path) for n in SIZES)
    per_thousand = (large - small) / (SIZES[1] - SIZES[0]) * 1000
    record("memory", peak_rss_mb={n: round(MEASURED[n], 1) for n in SIZES},
           growth_mb_per_1000_documents=round(per_thousand, 1))
    # Regression bound only (measured ~22 MB per 1,000 documents of ~600 bytes of text; ~37
    # before the write's memory limit).
    assert per_thousand < 75


def test_memory_does_not_hold_the_archive(tmp_path):
    """10,000 documents: holding them and their rows in Python until one final merge (as the
    sync once did, ~37 MB per 1,000 documents) would take ~530 MB. Pages are folded as they
    arrive and rows staged in a scratch DuckDB file, and the final write runs under a 96 MB
    DuckDB limit, spilling beyond it (measured ~260 MB peak in all, ~290 MB under 192 MB;
    ~400 MB without a limit)."""
    peak = peak_rss_mb(LARGE, tmp_path)
    record("memory", peak_rss_mb_at_10000_documents=round(peak, 1))
    assert peak < 330


def endless(fake, *, repeat: bool):
    """The fake, except document and trash listings always answer a full page of 100: new ids
    on every page (``repeat=False``) or the same page again (a server ignoring pageIndex)."""

    def handler(request: httpx.Request) -> httpx.Response:
        response = fake.handle(request)
        path = request.url.path
        if request.method != "GET" or not (path.endswith("/documents")
                                           or path.endswith("/documents/deleted")):
            return response
        page = int(request.url.params.get("pageIndex", 0))
        body = json.loads(response.content)
        template = body["documents"][0] if body["documents"] else None
        if template is None:
            org = path.split("/")[3]
            template = fake.documents(org, include_deleted=False)[0]
            template = {k: v for k, v in template.items() if k != "content"}
        suffix = "" if repeat else f"p{page}"
        body["documents"] = [
            {**template, "id": f"{template['id'][:-6]}{suffix}{i:03d}"} for i in range(100)
        ]
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(200, content=json.dumps(body).encode(), headers=headers)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize("repeat", [False, True], ids=["new-ids", "same-page"])
def test_a_server_that_pages_forever_is_stopped(fake, tmp_path, repeat):
    warehouse = Warehouse(tmp_path / "papra.duckdb")
    with PapraClient("http://papra.test", fake.api_key, transport=endless(fake, repeat=repeat),
                     sleep=lambda s: None) as client:
        with pytest.raises(PapraError) as stopped:
            sync(client, warehouse, SyncOptions(mode="full"))
    requests = client.stats.snapshot()["requests"]
    message = str(stopped.value)
    assert requests < 500  # stopped after a handful of extra pages, not thousands
    if repeat:
        assert isinstance(stopped.value, PapraResponseError)
        assert "never end" in message, message
    else:
        # Past total_pages + 10 the scan keeps what it saw and stops (a bulk import during
        # the scan looks the same); the made-up documents then fail their own requests.
        assert isinstance(stopped.value, PapraValidationError), message
    with warehouse.read_private() as con:
        assert con.execute("SELECT count(*) FROM documents").fetchall() == [(0,)]
    record("endless_pages", **{("same page" if repeat else "new ids"): {
        "requests_before_stop": requests, "message": message}})
