"""The papra_duckdb slot exists before a run's first step claims it, on any new instance.

(tests/reliability/test_concurrency.py runs two syncs on a new instance through the pool.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef  # no public way to open a given home

from papra_pipeline.defs.assets import POOL
from papra_pipeline.defs.pool import ensure_writer_pool
from papra_pipeline.testing import FakePapra, populate, serve

DG = Path(sys.executable).parent / "dg"


def slots(home: Path) -> int:
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        return instance.event_log_storage.get_concurrency_info(POOL).slot_count


def launch(tmp_path: Path, job: str, seed: int) -> Path:
    """``dg launch`` of ``job`` on a new instance whose dagster.yaml sets no pool limit
    (another project's, say), against a small fake; returns the instance's home."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    fake = FakePapra()
    populate(fake, organizations=1, documents=5, seed=seed)
    with serve(fake) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPRA_", "DAGSTER_"))}
        env |= {
            "DAGSTER_HOME": str(home),
            "PAPRA_API_URL": url,
            "PAPRA_API_KEY": fake.api_key,
            "PAPRA_DUCKDB_PATH": str(tmp_path / "papra.duckdb"),
        }
        launched = subprocess.run(
            [str(DG), "launch", "-m", "papra_pipeline.definitions", "--job", job],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        )
    assert launched.returncode == 0, launched.stderr[-3000:]
    return home


def test_a_run_on_a_new_instance_creates_the_single_slot(tmp_path):
    """Dagster alone would let every writer in at once on an instance without a pool limit."""
    home = launch(tmp_path, "papra_statistics_snapshot_job", seed=2)
    assert slots(home) == 1


def test_a_sync_run_executes_its_steps_in_its_own_process_by_default(tmp_path):
    """The sync and its five checks in the run's process: no step process to start (the
    pool still serializes writers: tests/reliability/test_concurrency.py, with this default)."""
    home = launch(tmp_path, "papra_full_sync_job", seed=3)
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        [run] = instance.get_runs()
        events = [e.dagster_event for e in instance.all_logs(run.run_id) if e.is_dagster_event]
    [run_pid] = {e.pid for e in events if e.event_type == dg.DagsterEventType.RUN_START}
    started = {e.step_key: e.pid for e in events if e.event_type == dg.DagsterEventType.STEP_START}
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert len(started) == 6 and set(started.values()) == {run_pid}, (run_pid, started)


def test_a_limit_set_by_the_user_is_kept():
    with dg.instance_for_test() as instance:
        ensure_writer_pool(instance)
        assert instance.event_log_storage.get_concurrency_info(POOL).slot_count == 1
        instance.event_log_storage.set_concurrency_slots(POOL, 2)
        ensure_writer_pool(instance)
        assert instance.event_log_storage.get_concurrency_info(POOL).slot_count == 2
