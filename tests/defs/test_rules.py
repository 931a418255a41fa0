"""Tagging rules with the API key in Dagster: the plan asset, papra_apply_rules_job and the
sensor's request for the documents a sync brought, against the fake Papra over HTTP with only
an API key (no login)."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from papra_pipeline.defs import build_definitions
from papra_pipeline.defs.resources import PapraResource
from papra_pipeline.defs.rules import build_rule_plan_asset
from papra_pipeline.defs.sensors import build_tagging_rules_sensor
from papra_pipeline.sync import SyncOptions, sync
from tests.defs.conftest import materializations, run_job

RULES = """
rules:
  - name: Everything with an e
    conditions:
      - {field: content, operator: contains, value: e}
    tags: [Checked]
  - name: Text files
    conditions:
      - {field: mime_type, operator: equal, value: TEXT/PLAIN}
    tags: [Plain]
"""
JOB = "papra_apply_rules_job"
OP = "papra_tagging_rule_additions"


@pytest.fixture
def keyed(fake, papra_url, tmp_path) -> PapraResource:
    """The API key only, and a rules file; the tags the rules add exist in every org."""
    for org in fake.organizations:
        for name in ("Checked", "Plain"):
            fake.create_tag(org, name, "#abcdef")
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    return PapraResource(
        base_url=papra_url,
        api_key=fake.api_key,
        max_retries=0,
        timeout=10,
        tagging_rules=str(rules),
    )


@pytest.fixture
def rules_defs(keyed, warehouse, settings) -> dg.Definitions:
    defs = build_definitions({"papra": keyed, "warehouse": warehouse}, settings)
    run_job(defs, "papra_full_sync_job", dg.DagsterInstance.ephemeral())
    return defs


def _tags(fake) -> set[tuple[str, str]]:
    return {
        (doc["id"], tag["id"])
        for org in fake.organizations
        for doc in fake.documents(org)
        for tag in doc["tags"]
    }


def test_plan_asset_counts_per_rule_and_sends_nothing(rules_defs, keyed, warehouse, instance, fake):
    fake.reset_requests()
    plan = dg.materialize(
        [build_rule_plan_asset()],
        instance=instance,
        resources={"papra": keyed, "warehouse": warehouse},
    )
    metadata = materializations(plan)["papra_tagging_rule_plan"]
    assert fake.request_count() == 0
    assert metadata["planned: Everything with an e"] > 0 and metadata["planned: Text files"] > 0
    assert metadata["dagster/row_count"] == (
        metadata["planned: Everything with an e"] + metadata["planned: Text files"]
    )


def test_apply_job_tags_what_was_planned_and_a_second_run_adds_nothing(rules_defs, instance, fake):
    dry_run = {"ops": {OP: {"config": {"dry_run": True}}}}
    dry = run_job(rules_defs, JOB, instance, run_config=dry_run)
    planned = materializations(dry)[OP]["planned"]
    before = _tags(fake)
    assert planned > 0

    applied = run_job(rules_defs, JOB, instance)
    metadata = materializations(applied)[OP]
    assert metadata["added"] == planned == len(_tags(fake) - before)
    assert metadata["dagster/row_count"] == planned

    fake.reset_requests()
    again = run_job(rules_defs, JOB, instance)
    assert materializations(again)[OP]["added"] == 0
    assert fake.request_count("POST /api/organizations/{org}/documents/batch/tags") == 0


def test_a_key_without_documents_update_fails_the_job_before_it_sends(
    rules_defs, keyed, instance, fake
):
    token = fake.create_api_key(["organizations:read", "documents:read", "tags:read"])
    weak = PapraResource(
        base_url=keyed.base_url, api_key=token, max_retries=0, tagging_rules=keyed.tagging_rules
    )
    fake.reset_requests()
    result = rules_defs.resolve_job_def(JOB).execute_in_process(
        instance=instance, resources={"papra": weak}, raise_on_error=False
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "lacks documents:update" in failure.step_failure_data.error.message
    assert fake.request_count("POST /api/organizations/{org}/documents/batch/tags") == 0


def test_the_sensor_asks_for_the_documents_a_sync_brought_only(
    rules_defs, keyed, warehouse, instance, fake
):
    sensor = build_tagging_rules_sensor(60, reapply_rule_ids=())
    resources = {"papra": keyed, "warehouse": warehouse}
    baseline = sensor(dg.build_sensor_context(instance=instance, resources=resources))
    assert baseline.run_requests == [] and "Recorded the latest sync" in (
        baseline.skip_reason.skip_message
    )
    run_job(rules_defs, JOB, instance)  # the documents there already

    org = next(iter(fake.organizations))
    new = fake.upload_document(org, "fresh.txt", "a new text", extract=True)["id"]
    with keyed.get_client() as client:
        sync(client, warehouse.get_warehouse(), SyncOptions(mode="quick"))
    result = sensor(
        dg.build_sensor_context(cursor=baseline.cursor, instance=instance, resources=resources)
    )
    [request] = result.run_requests
    assert request.job_name == JOB
    config = request.run_config["ops"][OP]["config"]
    # The quick sync wrote the new document (and read again texts still empty elsewhere).
    assert org in config["organization_ids"] and config["changed_after"] < config["changed_until"]

    before = _tags(fake)
    fake.reset_requests()
    run = run_job(rules_defs, JOB, instance, run_config=request.run_config)
    assert materializations(run)[OP]["added"] == 2  # Checked and Plain, on the new one only
    assert {doc for doc, _ in _tags(fake) - before} == {new}

    quiet = sensor(
        dg.build_sensor_context(cursor=result.cursor, instance=instance, resources=resources)
    )
    assert quiet.run_requests == []
    assert json.loads(quiet.cursor)["rules_file"] == json.loads(result.cursor)["rules_file"]


def test_the_components_rules_file_reaches_the_runs(monkeypatch):
    from papra_pipeline.defs.component import PapraComponent
    from papra_pipeline.defs.resources import resources_from_settings

    monkeypatch.delenv("PAPRA_TAGGING_RULES", raising=False)
    component = PapraComponent.from_attributes_dict(attributes={"tagging_rules": "rules.yaml"})
    assert resources_from_settings(component.settings())["papra"].tagging_rules == "rules.yaml"
    monkeypatch.setenv("PAPRA_TAGGING_RULES", "from-env.yaml")
    unset = PapraComponent.from_attributes_dict(attributes={})
    assert resources_from_settings(unset.settings())["papra"].tagging_rules == "from-env.yaml"
