"""Shared pieces of the reliability suite: a small fake Papra, CLI runs against it over
loopback, reference warehouses, and a place to record the figures docs/reliability.md quotes.

Set ``RELIABILITY_FIGURES=/some/file.json`` to have the figures of a run written there.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from papra_pipeline.client import PapraClient
from papra_pipeline.sync import SyncOptions, sync
from papra_pipeline.testing import FakePapra, populate, serve
from papra_pipeline.warehouse import Warehouse
from tests.sync.helpers import table_fingerprints

# Two organizations of 150 documents: two pages each, a few hundred documents in all.
DOCUMENTS = 300
ORGANIZATIONS = 2
CLI = [sys.executable, "-m", "papra_pipeline.cli"]

FIGURES: dict[str, dict] = {}


def record(area: str, **values) -> None:
    """Keep a figure for docs/reliability.md (written out when RELIABILITY_FIGURES is set)."""
    FIGURES.setdefault(area, {}).update(values)


def pytest_sessionfinish(session, exitstatus) -> None:
    target = os.environ.get("RELIABILITY_FIGURES")
    if target and FIGURES:
        Path(target).write_text(json.dumps(FIGURES, indent=2, sort_keys=True, default=str))


def make_fake(documents: int = DOCUMENTS, seed: int = 11, **kwargs) -> FakePapra:
    fake = FakePapra(seed=seed, **kwargs)
    populate(
        fake, organizations=ORGANIZATIONS, documents=documents, tags=8, custom_properties=8,
        activity_per_document=2, text_bytes=600, seed=seed,
    )
    return fake


@pytest.fixture
def fake() -> FakePapra:
    return make_fake()


@pytest.fixture
def papra_url(fake: FakePapra) -> Iterator[str]:
    with serve(fake) as url:
        yield url


_CHANGES = itertools.count()


def change_things(fake) -> None:
    """Edits, a trash, a restore, a purge and an upload, so the incremental run has work."""
    for org in (o["id"] for o in fake.list_organizations()):
        n = next(_CHANGES)
        docs = fake.documents(org, include_deleted=False)
        fake.update_document(org, docs[3]["id"], name=f"renamed-{n}.pdf", notes="edited")
        fake.trash_document(org, docs[5]["id"])
        fake.trash_document(org, docs[7]["id"])
        fake.purge_document(org, docs[7]["id"])
        fake.upload_document(org, f"new-{n}.txt", f"uploaded between runs {n}", extract=True)
        trashed = [d for d in fake.documents(org) if d["isDeleted"] and d["id"] != docs[5]["id"]]
        if trashed:
            fake.restore_document(org, trashed[0]["id"])


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any PAPRA_/DAGSTER_ variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPRA_", "DAGSTER_"))}
    env.update(extra)
    return env


def cli_env(fake: FakePapra, url: str, db: Path, **extra: str) -> dict[str, str]:
    return clean_env(
        PAPRA_API_URL=url, PAPRA_API_KEY=fake.api_key, PAPRA_DUCKDB_PATH=str(db), **extra
    )


def run_cli(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def in_process_client(fake: FakePapra, **kwargs) -> PapraClient:
    """A client on the fake's in-process transport that never really sleeps."""
    kwargs.setdefault("sleep", lambda seconds: None)
    return PapraClient("http://papra.test", fake.api_key, transport=fake.transport(), **kwargs)


def reference_fingerprints(
    fake: FakePapra, path: Path, start_from: Path | None = None, **options
) -> dict[str, str]:
    """What an uninterrupted, fault-free full sync of the fake's current state holds, run on a
    copy of ``start_from`` (the warehouse as it was before the run under test) or from scratch.

    Starting from the same file matters: purged documents stay in a warehouse that saw them.
    """
    if path.exists():
        path.unlink()
    if start_from is not None:
        shutil.copyfile(start_from, path)
    warehouse = Warehouse(path)
    with in_process_client(fake) as client:
        sync(client, warehouse, SyncOptions(mode="full", **options))
    return table_fingerprints(warehouse)


def internal_state(warehouse: Warehouse) -> list[tuple]:
    """Sync cursors and the schema version: what a failed run must not move either (in the
    sync's own file, which holds what readers have not been given yet)."""
    with warehouse.read_private() as con:
        state = con.execute(
            "SELECT stream, organization_id, state FROM _papra_sync_state ORDER BY ALL"
        ).fetchall()
        version = con.execute("SELECT max(version) FROM _papra_schema_version").fetchall()
        succeeded = con.execute(
            "SELECT count(*) FROM _papra_sync_runs WHERE status = 'succeeded'"
        ).fetchall()
    return [*state, *version, *succeeded]


def duplicate_keys(warehouse: Warehouse) -> dict[str, int]:
    """Rows sharing a primary key, per synced table (must be all zero)."""
    from papra_pipeline.warehouse import PUBLIC_TABLES

    found = {}
    with warehouse.read() as con:
        for table in PUBLIC_TABLES:
            if not table.key:
                continue
            keys = ", ".join(f'"{k}"' for k in table.key)
            found[table.name] = con.execute(
                f"SELECT count(*) - count(DISTINCT ({keys})) FROM {table.name}"
            ).fetchall()[0][0]
    return found


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


# A login the secrets tests look for everywhere (the fake accepts it for its user).
PASSWORD = "Kn0wn-Passw0rd-for-leak-search!"

RUN_CONFIG = """ops:
  papra_sync:
    config:
      mode: full
"""


def _wait_until_blocked_on_the_pool(home: Path, timeout: float) -> None:
    """Until a run of the instance at ``home`` logged that its step waits for papra_duckdb
    (or ``timeout``: the test then finds no such wait and says so)."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    deadline = time.monotonic() + timeout
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        while time.monotonic() < deadline:
            for run in instance.get_runs():
                if any("blocked by limit for pool papra_duckdb" in (entry.message or "")
                       for entry in instance.all_logs(run.run_id)):
                    return
            time.sleep(0.2)


@pytest.fixture(scope="session")
def dagster_runs(tmp_path_factory):
    """Two ``dg launch`` of the full sync on one new DAGSTER_HOME (the repo's dagster.yaml, no
    pool slot set by hand: each run makes sure of it) and one DuckDB file, with a known key
    and password. Shared by the pool test and the secrets test (it is the slow part).

    The first run's sync holds the slot at a gate (its first document page waits) until the
    second run's step has been told the pool is full, however slow the machine: with a fixed
    head start and delay instead, a loaded machine once let both steps ask within 50 ms, and
    Dagster's SQLite storage then granted the slot twice (seen in CI too)."""
    import shutil as _shutil

    import dagster as dg
    from dagster._core.instance.ref import InstanceRef  # no public way to open a given home

    root = tmp_path_factory.mktemp("dagster")
    home = root / "home"
    home.mkdir()
    _shutil.copy(Path(__file__).resolve().parents[2] / "dagster.yaml", home / "dagster.yaml")
    # Create the instance's storage first: two processes racing to create it collide.
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        assert "papra_duckdb" not in instance.event_log_storage.get_concurrency_keys()
    (root / "run.yaml").write_text(RUN_CONFIG)
    fake = make_fake(password=PASSWORD)
    holding, release = threading.Event(), threading.Event()

    def gate(record) -> None:
        if record.route == "GET /api/organizations/{org}/documents" and not holding.is_set():
            holding.set()
            release.wait(timeout=600)

    fake.add_hook(gate)
    db = root / "papra.duckdb"
    with serve(fake) as url:
        env = cli_env(fake, url, db, DAGSTER_HOME=str(home), PAPRA_EMAIL=fake.email,
                      PAPRA_PASSWORD=fake.password)
        command = [str(Path(sys.executable).parent / "dg"), "launch", "-m",
                   "papra_pipeline.definitions", "--job", "papra_full_sync_job",
                   "-c", str(root / "run.yaml")]
        started = time.monotonic()

        def launch() -> subprocess.Popen:
            return subprocess.Popen(command, env=env, cwd=root, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)

        processes = [launch()]
        try:
            assert holding.wait(timeout=300), "the first run's sync never listed documents"
            processes.append(launch())
            _wait_until_blocked_on_the_pool(home, timeout=300)
        finally:
            release.set()
        outputs = [p.communicate(timeout=300) for p in processes]
        seconds = time.monotonic() - started
    return {
        "fake": fake, "home": home, "db": db, "root": root, "seconds": seconds,
        "codes": [p.returncode for p in processes], "outputs": outputs,
    }
