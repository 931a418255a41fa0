"""Several Papra servers in one project: instances that differ by ``name`` (issue 21 §3)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import dagster as dg
import pytest

from papra_pipeline.defs import build_definitions
from papra_pipeline.defs.jobs import sync_run_config, tagging_run_config
from papra_pipeline.defs.names import Names
from papra_pipeline.defs.pool import writer_pools_of
from papra_pipeline.defs.rules import rules_run_config
from papra_pipeline.testing import FakePapra, populate, serve
from papra_pipeline.warehouse import Warehouse
from tests.defs.test_component import dg_command, load_project, project  # noqa: F401

INSTANCE_YAML = """\
    type: papra_pipeline.PapraComponent

    attributes:
      name: {name}
      api_url: "{{{{ env.{upper}_PAPRA_URL }}}}"
      api_key: "{{{{ env.{upper}_PAPRA_KEY }}}}"
    """


def organizations_in(path: Path) -> set[str]:
    with Warehouse(path).read() as con:
        return {row[0] for row in con.execute("SELECT id FROM organizations").fetchall()}


@pytest.mark.slow
def test_two_named_components_check_and_each_fills_its_own_warehouse(
    project,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    fakes = {}
    for seed, name in enumerate(("work", "home"), start=1):
        fakes[name] = FakePapra()
        populate(fakes[name], organizations=1, documents=6, seed=seed)
        folder = project / "src/my_project/defs" / name
        folder.mkdir(parents=True)
        (folder / "defs.yaml").write_text(
            textwrap.dedent(INSTANCE_YAML.format(name=name, upper=name.upper()))
        )
    with serve(fakes["work"]) as work_url, serve(fakes["home"]) as home_url:
        env = {
            "WORK_PAPRA_URL": work_url,
            "WORK_PAPRA_KEY": fakes["work"].api_key,
            "HOME_PAPRA_URL": home_url,
            "HOME_PAPRA_KEY": fakes["home"].api_key,
            "PAPRA_DUCKDB_PATH": str(tmp_path / "papra.duckdb"),
        }
        checked = dg_command(project, "check", "defs", **env)
        assert checked.returncode == 0, checked.stdout + checked.stderr

        for name in [n for n in os.environ if n.startswith("PAPRA_")]:
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        defs = load_project(project, monkeypatch)
        graph = defs.resolve_asset_graph()
        groups = {graph.get(key).group_name for key in graph.get_all_asset_keys()}
        assert groups == {"work_papra", "home_papra"}
        assert dg.AssetKey(["work", "papra_documents"]) in graph.get_all_asset_keys()
        with dg.instance_for_test() as instance:
            for name in ("work", "home"):
                job = defs.resolve_job_def(f"{name}_papra_full_sync_job")
                # (execute_in_process runs in process: the pool's executor is not used here)
                assert writer_pools_of(job) == {f"{name}_papra_duckdb"}
                assert job.execute_in_process(instance=instance).success
    assert not (tmp_path / "papra.duckdb").exists()
    for name, fake in fakes.items():
        expected = {org["id"] for org in fake.list_organizations()}
        assert organizations_in(tmp_path / f"{name}_papra.duckdb") == expected


def test_the_python_way_merges_two_named_instances(monkeypatch, tmp_path):
    monkeypatch.setenv("PAPRA_API_KEY", "ppapi_from_the_environment")
    monkeypatch.setenv("PAPRA_DUCKDB_PATH", str(tmp_path / "papra.duckdb"))
    merged = dg.Definitions.merge(build_definitions(name="a"), build_definitions(name="b"))
    repository = merged.get_repository_def()
    for name in ("a", "b"):
        assert repository.get_job(f"{name}_papra_quick_sync_job")
        assert repository.get_sensor_def(f"{name}_papra_webhook_sensor")
        assert repository.get_schedule_def(f"{name}_papra_full_sync_schedule")
        warehouse = merged.resources[f"{name}_warehouse"]
        assert warehouse.path == str(tmp_path / f"{name}_papra.duckdb")
        assert warehouse.inbox_path() == tmp_path / f"{name}_papra.webhooks.sqlite"
        sync = repository.get_job(f"{name}_papra_full_sync_job")
        assert writer_pools_of(sync) == {f"{name}_papra_duckdb"}


@pytest.mark.parametrize("name", [None, "work"])
def test_the_run_config_sensors_request_fits_the_instances_jobs(name, monkeypatch, tmp_path):
    """Asset ops take the name Dagster derives from the prefixed key (``work__...``)."""
    monkeypatch.setenv("PAPRA_API_KEY", "ppapi_from_the_environment")
    monkeypatch.setenv("PAPRA_DUCKDB_PATH", str(tmp_path / "papra.duckdb"))
    names = Names(name)
    repository = build_definitions(name=name).get_repository_def()
    for job, config in [
        ("papra_quick_sync_job", sync_run_config("quick", ["org_1"], names=names)),
        ("papra_apply_tagging_rules_job", tagging_run_config(["org_1"], ["r"], "why", names)),
        ("papra_apply_rules_job", rules_run_config(["org_1"], names=names)),
    ]:
        dg.validate_run_config(repository.get_job(names(job)), config)


def test_without_a_name_the_names_stay_as_they_were():
    names = Names()
    assert (names("papra_full_sync_job"), names.pool, names.papra, names.group) == (
        "papra_full_sync_job",
        "papra_duckdb",
        "papra",
        "papra",
    )
    assert names.asset("papra_documents") == dg.AssetKey("papra_documents")
    assert names.file("data/papra.duckdb") == "data/papra.duckdb"


@pytest.mark.parametrize("bad", ["Work", "1st", "my-papra", ""])
def test_a_name_that_cannot_prefix_dagster_names_is_refused(bad):
    with pytest.raises(ValueError, match="name must be 1-40 lowercase letters"):
        Names(bad)
