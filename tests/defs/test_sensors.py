"""Sensors evaluated with ``build_sensor_context`` against the fake server over HTTP."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from papra_pipeline.client import PapraAuthenticationError
from papra_pipeline.defs.resources import PapraResource
from papra_pipeline.defs.sensors import (
    build_change_sensor,
    build_tagging_rules_sensor,
)
from papra_pipeline.sync import SyncOptions, sync


def tick(sensor, cursor, instance, **resources):
    context = dg.build_sensor_context(cursor=cursor, instance=instance, resources=resources)
    return sensor(context)


def org_ids(fake) -> list[str]:
    return sorted(org["id"] for org in fake.list_organizations())


class TestChangeSensor:
    sensor = build_change_sensor(60)

    def test_first_tick_requests_one_quick_sync_of_every_organization(self, fake, papra, instance):
        result = tick(self.sensor, None, instance, papra=papra)

        [request] = result.run_requests
        assert request.job_name == "papra_quick_sync_job"
        config = request.run_config["ops"]["papra_sync"]["config"]
        assert config == {"mode": "quick", "organization_ids": org_ids(fake)}
        cursor = json.loads(result.cursor)
        assert cursor["seq"] == 1
        assert sorted(cursor["organizations"]) == org_ids(fake)

    def test_nothing_changed_skips_with_a_reason(self, papra, instance):
        cursor = tick(self.sensor, None, instance, papra=papra).cursor

        result = tick(self.sensor, cursor, instance, papra=papra)

        assert result.run_requests == []
        assert "No change in 2 organization(s)" in result.skip_reason.skip_message
        assert result.cursor == cursor

    def test_one_run_per_change_and_never_the_same_run_twice(self, fake, papra, instance):
        cursor = tick(self.sensor, None, instance, papra=papra).cursor
        org = org_ids(fake)[1]
        uploaded = fake.upload_document(org, "new.txt", "fresh content")

        first = tick(self.sensor, cursor, instance, papra=papra)
        replay = tick(self.sensor, cursor, instance, papra=papra)

        [request] = first.run_requests
        assert request.run_config["ops"]["papra_sync"]["config"]["organization_ids"] == [org]
        # The same tick evaluated again (daemon restart) asks for the very same run.
        assert [r.run_key for r in replay.run_requests] == [request.run_key]
        after = json.loads(first.cursor)
        assert after["seq"] == 2
        assert after["organizations"][org]["newest_document_id"] == uploaded["id"]

        # Trash and restore: the state comes back to what it was, yet both need a sync.
        fake.trash_document(org, uploaded["id"])
        trashed = tick(self.sensor, first.cursor, instance, papra=papra)
        fake.restore_document(org, uploaded["id"])
        restored = tick(self.sensor, trashed.cursor, instance, papra=papra)
        keys = [request.run_key, trashed.run_requests[0].run_key, restored.run_requests[0].run_key]
        assert len(set(keys)) == 3
        assert tick(self.sensor, restored.cursor, instance, papra=papra).run_requests == []

    def test_a_new_organization_gets_a_full_sync(self, fake, papra, instance):
        cursor = tick(self.sensor, None, instance, papra=papra).cursor
        org = fake.create_organization("Arrived later")["id"]

        result = tick(self.sensor, cursor, instance, papra=papra)

        [request] = result.run_requests
        assert request.job_name == "papra_full_sync_job"
        assert org in json.loads(result.cursor)["organizations"]

    def test_transient_errors_skip_the_tick_and_keep_the_cursor(self, fake, papra, instance):
        cursor = tick(self.sensor, None, instance, papra=papra).cursor
        fake.faults.add("503")

        result = tick(self.sensor, cursor, instance, papra=papra)

        assert isinstance(result, dg.SkipReason)
        assert "PapraServerError" in result.skip_message

    def test_a_rejected_key_fails_the_tick(self, papra_url, instance):
        wrong = PapraResource(base_url=papra_url, api_key="ppapi_" + "x" * 64, max_retries=0)
        with pytest.raises(PapraAuthenticationError):
            tick(self.sensor, None, instance, papra=wrong)


def synced(fake, papra, warehouse) -> None:
    with papra.get_client() as client:
        sync(client, warehouse.get_warehouse(), SyncOptions(mode="quick"))


def make_rule(fake, org: str, name: str, value: str = "invoice") -> str:
    tag = fake.create_tag(org, f"tag {name}")
    return fake.create_tagging_rule(
        org, name, conditions=[{"field": "name", "operator": "contains", "value": value}],
        tag_ids=[tag["id"]],
    )


class TestTaggingRulesSensor:
    sensor = build_tagging_rules_sensor(60, reapply_rule_ids=())

    def test_without_a_login_it_skips_and_says_why(self, fake, papra_url, warehouse, instance):
        keyed = PapraResource(base_url=papra_url, api_key=fake.api_key)
        result = tick(self.sensor, None, instance, papra=keyed, warehouse=warehouse)
        assert isinstance(result, dg.SkipReason)
        assert "PAPRA_EMAIL" in result.skip_message

    def test_first_tick_records_a_baseline_then_new_and_changed_rules_are_applied(
        self, fake, papra, warehouse, instance
    ):
        org = org_ids(fake)[0]
        existing = make_rule(fake, org, "Existing")
        baseline = tick(self.sensor, None, instance, papra=papra, warehouse=warehouse)
        assert baseline.run_requests == []
        assert "Recorded 1 tagging rule(s)" in baseline.skip_reason.skip_message

        quiet = tick(self.sensor, baseline.cursor, instance, papra=papra, warehouse=warehouse)
        assert quiet.run_requests == [] and quiet.skip_reason is not None

        created = make_rule(fake, org, "Created")
        new = tick(self.sensor, quiet.cursor, instance, papra=papra, warehouse=warehouse)
        [request] = new.run_requests
        config = request.run_config["ops"]["papra_tagging_rule_applications"]["config"]
        assert config == {
            "organization_ids": [org], "rule_ids": [created], "reason": "rule_changed"
        }
        replay = tick(self.sensor, quiet.cursor, instance, papra=papra, warehouse=warehouse)
        assert [r.run_key for r in replay.run_requests] == [request.run_key]

        # updatedAt never moves in Papra: only the content hash shows the edit.
        fake.update_tagging_rule(
            org, existing, conditions=[{"field": "content", "operator": "contains", "value": "x"}]
        )
        edited = tick(self.sensor, new.cursor, instance, papra=papra, warehouse=warehouse)
        [request] = edited.run_requests
        rule_ids = request.run_config["ops"]["papra_tagging_rule_applications"]["config"]
        assert rule_ids["rule_ids"] == [existing]

        fake.update_tagging_rule(org, existing, enabled=False)
        disabled = tick(self.sensor, edited.cursor, instance, papra=papra, warehouse=warehouse)
        assert disabled.run_requests == []

    def test_new_documents_reapply_the_configured_rules(self, fake, papra, warehouse, instance):
        org = org_ids(fake)[0]
        rule = make_rule(fake, org, "Invoices")
        sensor = build_tagging_rules_sensor(60, reapply_rule_ids=[rule, "tr_not_in_this_org"])
        synced(fake, papra, warehouse)
        baseline = tick(sensor, None, instance, papra=papra, warehouse=warehouse).cursor
        assert tick(sensor, baseline, instance, papra=papra, warehouse=warehouse).run_requests == []

        fake.upload_document(org, "invoice-2026.txt", "new invoice")
        synced(fake, papra, warehouse)
        result = tick(sensor, baseline, instance, papra=papra, warehouse=warehouse)

        [request] = result.run_requests
        config = request.run_config["ops"]["papra_tagging_rule_applications"]["config"]
        assert config == {"organization_ids": [org], "rule_ids": [rule], "reason": "new_documents"}
        after = tick(sensor, result.cursor, instance, papra=papra, warehouse=warehouse)
        assert after.run_requests == []

    def test_transient_errors_skip_and_auth_errors_raise(self, fake, papra, papra_url, warehouse,
                                                          instance):
        fake.faults.add("429")
        result = tick(self.sensor, None, instance, papra=papra, warehouse=warehouse)
        assert isinstance(result, dg.SkipReason) and "PapraRateLimitError" in result.skip_message
        fake.faults.clear()

        wrong = PapraResource(
            base_url=papra_url, api_key=fake.api_key, email=fake.email, password="wrong",
            max_retries=0,
        )
        with pytest.raises(PapraAuthenticationError):
            tick(self.sensor, None, instance, papra=wrong, warehouse=warehouse)


def test_the_rules_to_reapply_come_from_the_environment(fake, papra, warehouse, instance):
    from papra_pipeline.defs import Settings, build_definitions

    org = org_ids(fake)[0]
    rule = make_rule(fake, org, "Invoices")
    settings = Settings.from_env({"PAPRA_REAPPLY_RULES_ON_NEW_DOCUMENTS": rule})
    defs = build_definitions({"papra": papra, "warehouse": warehouse}, settings)
    [sensor] = [s for s in defs.sensors if s.name == "papra_tagging_rules_sensor"]
    synced(fake, papra, warehouse)
    baseline = tick(sensor, None, instance, papra=papra, warehouse=warehouse).cursor

    fake.upload_document(org, "invoice-2026.txt", "new invoice")
    synced(fake, papra, warehouse)
    [request] = tick(sensor, baseline, instance, papra=papra, warehouse=warehouse).run_requests
    assert request.run_config["ops"]["papra_tagging_rule_applications"]["config"]["rule_ids"] == [
        rule
    ]
