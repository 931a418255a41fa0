"""The code location as users load it: names, groups, pools, resources and dagster.yaml."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef  # no public way to open a given home

from papra_pipeline.defs import Settings, build_definitions
from papra_pipeline.defs.assets import POOL
from papra_pipeline.defs.checks import build_checks
from papra_pipeline.defs.resources import PapraResource, resources_from_env

REPO = Path(__file__).resolve().parents[2]

ASSETS = {
    "papra_organizations",
    "papra_tags",
    "papra_custom_property_definitions",
    "papra_custom_property_options",
    "papra_documents",
    "papra_document_tags",
    "papra_document_custom_property_values",
    "papra_document_activity",
    "papra_organization_statistics",
    "papra_tagging_rule_applications",
    "papra_tagging_rule_plan",
    "papra_tagging_rule_additions",
    "papra_report_daily_documents",
    "papra_report_daily_activity",
}
JOBS = {
    "papra_full_sync_job",
    "papra_quick_sync_job",
    "papra_apply_tagging_rules_job",
    "papra_statistics_snapshot_job",
    "papra_daily_reports_job",
    "papra_apply_rules_job",
    "papra_run_retention_job",  # the deployment's, once per code location (defs/retention.py)
}
SCHEDULES = {
    "papra_full_sync_schedule",
    "papra_statistics_snapshot_schedule",
    "papra_daily_reports_schedule",
    "papra_run_retention_schedule",
}
SENSORS = {
    "papra_change_sensor",
    "papra_tagging_rules_sensor",
    "papra_webhook_sensor",
}


@pytest.fixture
def repository(monkeypatch):
    """The module ``workspace.yaml`` points at, loaded with nothing but an API key set."""
    for name in ("PAPRA_API_URL", "PAPRA_EMAIL", "PAPRA_PASSWORD", "PAPRA_DUCKDB_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAPRA_API_KEY", "ppapi_from_env")
    module = importlib.reload(importlib.import_module("papra_pipeline.definitions"))
    return module.defs.get_repository_def()


def test_workspace_points_at_the_definitions_module():
    assert "module_name: papra_pipeline.definitions" in (REPO / "workspace.yaml").read_text()


def test_the_documented_assets_jobs_schedules_and_sensors(repository):
    keys = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}
    assert keys == ASSETS
    assert {job.name for job in repository.get_all_jobs()} - {"__ASSET_JOB"} == JOBS
    assert {s.name for s in repository.schedule_defs} == SCHEDULES
    assert {s.name for s in repository.sensor_defs} == SENSORS
    check_keys = repository.asset_graph.asset_check_keys
    checks = {(k.asset_key.to_user_string(), k.name) for k in check_keys}
    assert {
        ("papra_documents", "unique_ids"),
        ("papra_documents", "live_count_matches_api"),
        ("papra_documents", "all_values_typed"),
        ("papra_document_tags", "references_existing_rows"),
        ("papra_document_custom_property_values", "references_existing_rows"),
    } <= checks


def test_every_asset_is_in_group_papra_with_kinds_and_a_description(repository):
    graph = repository.asset_graph
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name == "papra", key
        assert {"python", "duckdb"} <= node.kinds, key
        assert node.description and len(node.description) > 40, key


def test_every_writer_takes_the_single_duckdb_slot_and_checks_do_not(repository):
    graph = repository.asset_graph
    writers = {graph.get(key).assets_def for key in graph.get_all_asset_keys()}
    # The sync, statistics, tagging rules (Papra's apply, the file's plan and additions, which
    # read the sync's own file) and the reports.
    assert len(writers) == 6
    assert {assets_def.op.pool for assets_def in writers} == {POOL}
    assert {checks_def.op.pool for checks_def in build_checks()} == {None}


def test_schedules_default_to_hourly_full_sync_and_follow_the_environment():
    settings = Settings.from_env({"PAPRA_STATISTICS_CRON": "*/10 * * * *"})
    defs = build_definitions(resources_from_env({}), settings)
    schedules = {s.name: s for s in defs.get_repository_def().schedule_defs}
    assert schedules["papra_full_sync_schedule"].cron_schedule == "0 * * * *"
    assert schedules["papra_full_sync_schedule"].job_name == "papra_full_sync_job"
    assert schedules["papra_statistics_snapshot_schedule"].cron_schedule == "*/10 * * * *"
    assert schedules["papra_daily_reports_schedule"].job_name == "papra_daily_reports_job"


def test_secrets_reach_dagster_only_as_environment_variable_names():
    resources = resources_from_env({
        "PAPRA_API_KEY": "ppapi_secret",
        "PAPRA_EMAIL": "me@example.com",
        "PAPRA_PASSWORD": "hunter2",
        "PAPRA_DUCKDB_PATH": "/data/papra.duckdb",
    })
    papra = resources["papra"]
    assert papra.api_key == dg.EnvVar("PAPRA_API_KEY")
    assert papra.password == dg.EnvVar("PAPRA_PASSWORD")
    assert papra.email == dg.EnvVar("PAPRA_EMAIL")
    assert resources["warehouse"].path == "/data/papra.duckdb"  # not a secret: parsed at load
    assert "hunter2" not in repr(resources) and "ppapi_secret" not in repr(resources)


def test_optional_variables_fall_back_to_defaults():
    resources = resources_from_env({"PAPRA_API_KEY": "ppapi_secret"})
    papra = resources["papra"]
    assert papra.base_url == "https://api.papra.app"
    assert papra.email is None and papra.password is None
    assert resources["warehouse"].path == "papra.duckdb"
    assert not PapraResource(api_key="k", email="a@b.c", password=None).has_session


def test_settings_parse_the_rule_list():
    settings = Settings.from_env({"PAPRA_REAPPLY_RULES_ON_NEW_DOCUMENTS": " tr_a, ,tr_b "})
    assert settings.reapply_rule_ids == ("tr_a", "tr_b")
    assert Settings.from_env({}) == Settings()


def test_dagster_yaml_gives_the_duckdb_pool_one_slot_and_turns_telemetry_off(tmp_path):
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    ref = InstanceRef.from_dir(str(tmp_path))
    with dg.DagsterInstance.from_ref(ref) as instance:
        pools = instance.get_concurrency_config().pool_config
        assert pools.default_pool_limit == 1
        assert instance.get_settings("telemetry") == {"enabled": False}
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
