"""A sync that fails or is killed half-way leaves the last good state; the next run converges."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from papra_pipeline.client import PapraClient, PapraServerError
from papra_pipeline.sync import SyncOptions, sync
from papra_pipeline.testing import serve
from papra_pipeline.warehouse import Warehouse
from tests.sync.helpers import assert_matches_server, table_fingerprints

FULL = SyncOptions(mode="full", reverify_period=timedelta(0))


def change_things(fake):
    org = fake.list_organizations()[0]["id"]
    docs = fake.documents(org, include_deleted=False)
    fake.update_document(org, docs[1]["id"], name="changed-name.txt")
    fake.trash_document(org, docs[2]["id"])
    fake.upload_document(org, "after-failure.txt", "uploaded between runs", extract=True)


def test_an_error_beyond_the_retry_budget_leaves_the_previous_state(fake, client, warehouse):
    sync(client, warehouse, FULL)
    before = table_fingerprints(warehouse)
    change_things(fake)
    # Every activity request fails: the run dies after the scan, before writing anything.
    fake.faults.add("503", route="GET /api/organizations/{org}/documents/{doc}/activity")

    with pytest.raises(PapraServerError):
        sync(client, warehouse, FULL)

    assert table_fingerprints(warehouse) == before
    with warehouse.read_private() as con:  # the sync's own run log: readers keep the last good
        status = con.execute(
            "SELECT status, error FROM _papra_sync_runs ORDER BY started_at DESC LIMIT 1"
        ).fetchall()
    assert status[0][0] == "failed" and "503" in status[0][1]
    assert fake.api_key not in status[0][1]

    fake.faults.clear()
    sync(client, warehouse, FULL)
    assert_matches_server(fake, warehouse)


def _reference(fake, tmp_path) -> dict[str, str]:
    reference = Warehouse(tmp_path / "reference.duckdb")
    with PapraClient("http://papra.test", fake.api_key, transport=fake.transport()) as client:
        sync(client, reference, FULL)
    return table_fingerprints(reference)


def test_killed_syncs_converge_to_an_uninterrupted_one(fake, warehouse, tmp_path):
    """SIGKILL a CLI sync at random moments; one more run must end identical to a clean sync,
    and remove the staging directories the killed runs left in the temporary directory."""
    rng = random.Random(20261128)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with serve(fake) as base_url:
        env = {
            **os.environ,
            "PAPRA_API_URL": base_url,
            "PAPRA_API_KEY": fake.api_key,
            "PAPRA_DUCKDB_PATH": str(warehouse.path),
            "TMPDIR": str(scratch),
        }
        command = [sys.executable, "-m", "papra_pipeline.cli", "sync", "--full"]
        durations = []  # a first sync, then a re-sync: interpreter start, fetch, merge
        for _ in range(2):
            started = time.monotonic()
            subprocess.run(
                command,
                env={**env, "PAPRA_DUCKDB_PATH": str(tmp_path / "timing.duckdb")},
                check=True,
                capture_output=True,
                timeout=120,
            )
            durations.append(time.monotonic() - started)
        kills = 0
        for attempt in range(6):
            if attempt == 3:
                change_things(fake)
            process = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            # Killed while it runs: the first attempt is a first sync, the others re-syncs.
            time.sleep(rng.uniform(0.3, 1.0) * durations[min(attempt, 1)])
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait(timeout=30)
        finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert finished.returncode == 0, finished.stderr
    assert kills >= 3
    assert not list(scratch.glob("papra-staging-*"))
    assert table_fingerprints(warehouse) == _reference(fake, tmp_path)
