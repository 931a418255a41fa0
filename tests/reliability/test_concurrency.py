"""Two writers on one warehouse, and Dagster runs through the one-slot pool (readers during
syncs: test_readers.py)."""

from __future__ import annotations

import shutil
import subprocess

import dagster as dg
from dagster._core.instance.ref import InstanceRef

from papra_pipeline.testing import serve
from papra_pipeline.warehouse import Warehouse
from tests.reliability.conftest import (
    CLI,
    change_things,
    cli_env,
    duplicate_keys,
    record,
    reference_fingerprints,
)
from tests.sync.helpers import assert_matches_server, table_fingerprints


def test_two_syncs_started_at_once_on_one_file(fake, tmp_path):
    """Both start on an empty file: each either waits for the lock and finishes, or fails
    with one line naming the lock; the file ends consistent either way."""
    db = tmp_path / "papra.duckdb"
    outcomes = []
    with serve(fake) as url:
        env = cli_env(fake, url, db)
        for lock_timeout in ("30", "0"):  # waiting, then giving up at once
            if lock_timeout == "0":
                change_things(fake)
                shutil.copyfile(db, tmp_path / "before.duckdb")
            processes = [
                subprocess.Popen([*CLI, "sync", "--full", "--lock-timeout", lock_timeout],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
                for _ in range(2)
            ]
            for process in processes:
                out, err = process.communicate(timeout=120)
                errors = [line for line in err.splitlines() if line.startswith("error:")]
                if process.returncode:
                    assert process.returncode == 1 and len(errors) == 1, err
                    assert "locked by" in errors[0] and "Traceback" not in err, err
                outcomes.append((lock_timeout, process.returncode, errors))
        assert any(code == 0 for timeout, code, _ in outcomes if timeout == "0")
        assert all(code == 0 for timeout, code, _ in outcomes if timeout == "30"), outcomes
    warehouse = Warehouse(db)
    assert not any(duplicate_keys(warehouse).values())
    assert_matches_server(fake, warehouse)
    assert table_fingerprints(warehouse) == reference_fingerprints(
        fake, tmp_path / "ref.duckdb", tmp_path / "before.duckdb"
    )
    record("two_writers", outcomes=[f"lock-timeout {t}s: exit {c}" for t, c, _ in outcomes])


def test_dagster_runs_queue_through_the_pool(dagster_runs):
    """The second run's sync step waits for the papra_duckdb slot instead of failing on the
    DuckDB lock; the two sync steps never overlap."""
    assert dagster_runs["codes"] == [0, 0], dagster_runs["outputs"]
    blocked = sum(
        "blocked by limit for pool papra_duckdb" in out + err
        for out, err in dagster_runs["outputs"]
    )
    windows = []
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_runs["home"]))) as inst:
        for run in inst.get_runs():
            assert run.status == dg.DagsterRunStatus.SUCCESS
            times = {}
            for entry in inst.all_logs(run.run_id):
                if entry.step_key == "papra_sync" and entry.dagster_event is not None:
                    kind = entry.dagster_event.event_type_value
                    if kind in ("STEP_START", "STEP_SUCCESS"):
                        times[kind] = entry.timestamp
            windows.append((times["STEP_START"], times["STEP_SUCCESS"]))
    windows.sort()
    assert len(windows) == 2 and windows[0][1] <= windows[1][0], windows
    assert blocked >= 1
    warehouse = Warehouse(dagster_runs["db"])
    assert_matches_server(dagster_runs["fake"], warehouse)
    record("dagster_pool", runs=2, blocked_steps=blocked,
           seconds_for_both=round(dagster_runs["seconds"], 1),
           second_step_waited_seconds=round(windows[1][0] - windows[0][0], 1))
