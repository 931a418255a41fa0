"""End to end, as a user runs it: the Dagster CLI and webserver in their own processes,
loading ``papra_pipeline.definitions`` from the environment, against the fake over HTTP."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest
from dagster._core.instance.ref import InstanceRef  # no public way to open a given home

from papra_pipeline.demo import dagster_home, demo_env, fill_instance, run_full_sync_job
from papra_pipeline.warehouse import Warehouse
from tests.defs.conftest import DOCUMENTS
from tests.defs.test_definitions import ASSETS

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def user_env(tmp_path, fake, papra_url) -> dict[str, str]:
    """A clean environment like a user's ``.env``, with its own DAGSTER_HOME."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPRA_", "DAGSTER_"))}
    env |= {
        "DAGSTER_HOME": str(home),
        "PAPRA_API_URL": papra_url,
        "PAPRA_API_KEY": fake.api_key,
        "PAPRA_DUCKDB_PATH": str(tmp_path / "papra.duckdb"),
    }
    return env


def dagster(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dagster", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
    )


def test_definitions_validate_without_any_papra_variable(tmp_path, user_env):
    env = {k: v for k, v in user_env.items() if not k.startswith("PAPRA_")}
    done = dagster("definitions", "validate", "-w", str(REPO / "workspace.yaml"), env=env,
                   cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not list(REPO.glob(".tmp_dagster_home_*"))


def test_dg_check_defs_passes_in_the_repo(user_env):
    env = {k: v for k, v in user_env.items() if not k.startswith("PAPRA_")}
    env["VIRTUAL_ENV"] = str(Path(sys.executable).parent.parent)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dg"), "check", "defs"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All definitions loaded successfully" in done.stdout + done.stderr


QUERY = """{ assetNodes { assetKey { path } groupName
             assetMaterializations(limit: 1) { runId } } }"""


def _asset_nodes(url: str, server: subprocess.Popen) -> list[dict]:
    deadline = time.monotonic() + 120
    while True:
        assert server.poll() is None, "the webserver exited"
        try:
            response = httpx.post(url, json={"query": QUERY}, timeout=10)
            body = response.json()
            if response.status_code == 200 and body.get("data", {}).get("assetNodes"):
                return body["data"]["assetNodes"]
        except (httpx.HTTPError, ValueError):
            pass
        assert time.monotonic() < deadline, "the webserver did not answer in time"
        time.sleep(0.5)


def test_cli_runs_fill_an_instance_that_the_webserver_shows(tmp_path, fake, papra_url, capfd):
    """What `papra-pipeline demo --ui` does before `dg dev`: `dg launch` of the full sync (which
    materializes the statistics too) and of a report backfill over a partition range; then the
    webserver, on the same instance, answers GraphQL."""
    env = demo_env(papra_url, fake.api_key, tmp_path / "demo.duckdb")
    home = dagster_home()
    try:
        fill_instance(env, home)
        output = capfd.readouterr()
        assert fake.api_key not in output.out + output.err
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
            days = instance.get_materialized_partitions(dg.AssetKey("papra_report_daily_documents"))
            stats = instance.get_latest_materialization_event(
                dg.AssetKey("papra_organization_statistics")
            )
        assert stats is not None
        with Warehouse(env["PAPRA_DUCKDB_PATH"]).read() as con:
            report_days = con.execute("SELECT count(DISTINCT day) FROM report_daily_documents")
            assert report_days.fetchall()[0][0] == len(days) > 1
            uploaded = con.execute("SELECT sum(documents_uploaded) FROM report_daily_documents")
            assert uploaded.fetchall()[0][0] == DOCUMENTS

        nodes = _webserver_asset_nodes({**os.environ, **env, "DAGSTER_HOME": str(home)}, tmp_path)
    finally:
        shutil.rmtree(home)
    assert {".".join(n["assetKey"]["path"]) for n in nodes} == ASSETS
    by_key = {n["assetKey"]["path"][0]: n for n in nodes}
    assert by_key["papra_documents"]["groupName"] == "papra"
    # The CLI runs show up in the UI: same instance, same definitions.
    assert by_key["papra_documents"]["assetMaterializations"]
    assert by_key["papra_report_daily_activity"]["assetMaterializations"]


def _webserver_asset_nodes(env: dict[str, str], cwd: Path) -> list[dict]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "dagster_webserver", "-m", "papra_pipeline.definitions",
         "-h", "127.0.0.1", "-p", str(port)],
        env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        return _asset_nodes(f"http://127.0.0.1:{port}/graphql", server)
    finally:
        server.terminate()
        server.wait(timeout=120)


def test_make_demo_runs_the_deployed_full_sync_job_in_process(tmp_path, fake, papra_url):
    env = demo_env(papra_url, fake.api_key, tmp_path / "demo.duckdb")
    result = run_full_sync_job(env)
    assert result.success
    assert "PAPRA_API_KEY" not in os.environ or os.environ["PAPRA_API_KEY"] != fake.api_key
    with Warehouse(env["PAPRA_DUCKDB_PATH"]).read() as con:
        assert con.execute("SELECT count(*) FROM documents").fetchall()[0][0] == DOCUMENTS
