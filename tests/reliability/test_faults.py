"""Transient faults over a whole full sync end in the same warehouse as a fault-free sync;
faults beyond the retry budget fail the run with a clear message and change nothing."""

from __future__ import annotations

import shutil

import pytest

from papra_pipeline.client import PapraError
from papra_pipeline.sync import SyncOptions, sync
from papra_pipeline.testing import serve
from papra_pipeline.warehouse import Warehouse
from tests.reliability.conftest import (
    change_things,
    cli_env,
    duplicate_keys,
    in_process_client,
    internal_state,
    record,
    reference_fingerprints,
    run_cli,
)
from tests.sync.helpers import assert_matches_server, table_fingerprints

FULL = SyncOptions(mode="full")
TRANSIENT = ("429", "500", "502", "503", "drop", "timeout", "truncate")


def faulted_sync(fake, warehouse, kinds, probability):
    fake.faults.clear()
    for kind in kinds:
        fake.faults.add(kind, probability=probability)
    sleeps: list[float] = []
    with in_process_client(fake, sleep=sleeps.append) as client:
        result = sync(client, warehouse, FULL)
    injected = dict(fake.faults.injected)
    fake.faults.clear()
    return result, injected, sleeps


CASES = [*[(k, "first") for k in TRANSIENT], ("+".join(TRANSIENT), "first"),
         ("+".join(TRANSIENT), "incremental")]


@pytest.mark.parametrize(("kinds", "stage"), CASES)
def test_ten_percent_faults_end_identical_to_a_fault_free_sync(fake, tmp_path, kinds, stage):
    """Every kind alone at 10% of responses over a first full sync; all kinds mixed (10% in
    all) over a first sync and over an incremental one after edits, trashes and purges."""
    kinds = tuple(kinds.split("+"))
    warehouse = Warehouse(tmp_path / "papra.duckdb")
    before = None
    if stage == "incremental":
        with in_process_client(fake) as client:
            sync(client, warehouse, FULL)
        change_things(fake)
        before = tmp_path / "before.duckdb"
        shutil.copyfile(warehouse.path, before)
    # 10% of responses faulted: all of one kind, or spread evenly over every kind.
    result, injected, sleeps = faulted_sync(fake, warehouse, kinds, 0.10 / len(kinds))

    # (a truncated 404 needs no retry: its status says enough)
    assert sum(injected.values()) > 0 and result.retries > 0
    if kinds == ("429",):
        assert sleeps and all(s == 1 for s in sleeps)  # the fake's Retry-After: 1
    reference = reference_fingerprints(fake, tmp_path / "ref.duckdb", before)
    assert table_fingerprints(warehouse) == reference
    assert_matches_server(fake, warehouse)
    assert not any(duplicate_keys(warehouse).values())
    record(
        "faults_in_process",
        **{f"{stage}:{'+'.join(kinds)}": {
            "requests": result.requests, "retries": result.retries, "injected": injected,
        }},
    )


def test_drops_timeouts_and_truncations_over_loopback(fake, tmp_path):
    """Real sockets: the server closes unanswered, hangs past the client timeout, or cuts the
    body; 10% of responses in all, over a whole first sync."""
    warehouse = Warehouse(tmp_path / "papra.duckdb")
    # A timeout well above a busy machine's latency, so only the injected hangs reach it.
    fake.faults.hang_seconds = 3.0
    for kind in ("drop", "timeout", "truncate", "429", "503"):
        fake.faults.add(kind, probability=0.02)
    with serve(fake) as url:
        from papra_pipeline.client import PapraClient

        with PapraClient(url, fake.api_key, timeout=1.0, sleep=lambda s: None) as client:
            result = sync(client, warehouse, FULL)
    injected = dict(fake.faults.injected)
    fake.faults.clear()
    assert injected.get("drop") and injected.get("timeout") and injected.get("truncate")
    assert table_fingerprints(warehouse) == reference_fingerprints(fake, tmp_path / "ref.duckdb")
    record("faults_loopback", requests=result.requests, retries=result.retries, injected=injected)


ROUTES = {
    "organizations": "GET /api/organizations",
    "tags": "GET /api/organizations/{org}/tags",
    "custom properties": "GET /api/organizations/{org}/custom-properties",
    "statistics": "GET /api/organizations/{org}/documents/statistics",
    "document pages": "GET /api/organizations/{org}/documents",
    "trash": "GET /api/organizations/{org}/documents/deleted",
    "document detail": "GET /api/organizations/{org}/documents/{doc}",
    "activity": "GET /api/organizations/{org}/documents/{doc}/activity",
}


BUDGET_CASES = [(route, "503") for route in ROUTES] + [
    ("document pages", kind) for kind in ("429", "drop", "truncate")
]


@pytest.mark.parametrize(("route", "kind"), BUDGET_CASES)
def test_faults_beyond_the_retry_budget_fail_clearly_and_change_nothing(
    fake, tmp_path, route, kind
):
    warehouse = Warehouse(tmp_path / "papra.duckdb")
    with in_process_client(fake) as client:
        sync(client, warehouse, FULL)
    before = table_fingerprints(warehouse), internal_state(warehouse)
    change_things(fake)
    # From the second matching request on, every answer on the route fails (the first goes
    # through, so the run dies part-way through, with rows already fetched).
    fake.faults.add(kind, route=ROUTES[route], on_requests=range(2, 10_000))
    fake.faults.add(kind, route=ROUTES[route], times=10_000)  # routes asked only once
    with in_process_client(fake, max_retries=3) as client, pytest.raises(PapraError) as failed:
        sync(client, warehouse, FULL)
    fake.faults.clear()

    message = str(failed.value)
    assert fake.api_key not in message
    expected = {"503": "503", "429": "429", "drop": "could not talk", "truncate": "JSON"}[kind]
    assert expected.lower() in message.lower(), message
    assert (table_fingerprints(warehouse), internal_state(warehouse)) == before
    with warehouse.read_private() as con:  # a failed run is logged, not published
        status, error = con.execute(
            "SELECT status, error FROM _papra_sync_runs ORDER BY started_at DESC LIMIT 1"
        ).fetchall()[0]
    assert status == "failed" and expected.lower() in error.lower()


def test_the_cli_fails_with_one_line_and_leaves_the_file_as_it_was(fake, tmp_path):
    db = tmp_path / "papra.duckdb"
    with serve(fake) as url:
        env = cli_env(fake, url, db)
        assert run_cli(["sync", "--full"], env).returncode == 0
        warehouse = Warehouse(db)
        before = table_fingerprints(warehouse), internal_state(warehouse)
        change_things(fake)
        # 429 with Retry-After: 0 is retried at once, so the budget runs out in no time.
        fake.faults.add(
            "429", route=ROUTES["activity"], on_requests=range(3, 10_000), retry_after=0
        )
        done = run_cli(["sync", "--full"], env)
        fake.faults.clear()
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "429" in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    assert (table_fingerprints(warehouse), internal_state(warehouse)) == before
    record("faults_beyond_budget", cli_error_line=errors[0])
