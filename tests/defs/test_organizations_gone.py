"""Dagster runs and sensors carry on when an organization is deleted in Papra."""

from __future__ import annotations

import json

from papra_pipeline.defs.sensors import build_change_sensor, build_tagging_rules_sensor
from tests.defs.conftest import materializations, run_job
from tests.defs.test_sensors import make_rule, org_ids, tick


def test_quick_sync_and_statistics_jobs_skip_a_deleted_organization(defs, instance, fake):
    gone, kept = org_ids(fake)
    run_job(defs, "papra_full_sync_job", instance)
    fake.delete_organization(gone)
    fake.upload_document(kept, "after.txt", "uploaded after the delete", extract=True)

    quick = run_job(defs, "papra_quick_sync_job", instance)
    statistics = run_job(defs, "papra_statistics_snapshot_job", instance)

    assert quick.success and statistics.success
    documents = materializations(quick)["papra_documents"]
    assert (documents["inserted"], documents["skipped_organizations"]) == (1, [gone])
    failed = {e.check_name: e.metadata for e in quick.get_asset_check_evaluations() if not e.passed}
    assert failed == {}
    snapshot = materializations(statistics)["papra_organization_statistics"]
    assert (snapshot["inserted"], snapshot["skipped_organizations"]) == (1, [gone])
    warnings = [
        e.message
        for e in instance.all_logs(quick.run_id) + instance.all_logs(statistics.run_id)
        if e.level == 30 and gone in e.message
    ]
    assert len(warnings) == 2, warnings


def test_change_sensor_skips_an_organization_deleted_while_it_probes(fake, papra, instance):
    gone, kept = org_ids(fake)
    cursor = tick(build_change_sensor(60), None, instance, papra=papra).cursor
    fake.upload_document(kept, "new.txt", "fresh content")

    def delete_when_probed(record) -> None:
        if record.path == f"/api/organizations/{gone}/documents/statistics":
            fake.clear_hooks()
            fake.delete_organization(gone)

    fake.add_hook(delete_when_probed)
    result = tick(build_change_sensor(60), cursor, instance, papra=papra)

    [request] = result.run_requests
    assert request.run_config["ops"]["papra_sync"]["config"]["organization_ids"] == [kept]
    assert sorted(json.loads(result.cursor)["organizations"]) == [kept]


def test_change_sensor_names_an_organization_no_longer_listed(fake, papra, instance):
    gone, kept = org_ids(fake)
    cursor = tick(build_change_sensor(60), None, instance, papra=papra).cursor
    fake.remove_member(gone)

    result = tick(build_change_sensor(60), cursor, instance, papra=papra)

    assert result.run_requests == []
    assert f"Organization {gone} is gone" in result.skip_reason.skip_message
    assert sorted(json.loads(result.cursor)["organizations"]) == [kept]


def test_tagging_rules_sensor_skips_an_organization_deleted_while_it_lists_rules(
    fake, papra, warehouse, instance
):
    gone, kept = org_ids(fake)
    sensor = build_tagging_rules_sensor(60, reapply_rule_ids=())
    baseline = tick(sensor, None, instance, papra=papra, warehouse=warehouse)
    rule = make_rule(fake, kept, "Created")

    def delete_when_listed(record) -> None:
        if record.path == f"/api/organizations/{gone}/tagging-rules":
            fake.clear_hooks()
            fake.delete_organization(gone)

    fake.add_hook(delete_when_listed)
    result = tick(sensor, baseline.cursor, instance, papra=papra, warehouse=warehouse)

    [request] = result.run_requests
    config = request.run_config["ops"]["papra_tagging_rule_applications"]["config"]
    assert (config["organization_ids"], config["rule_ids"]) == ([kept], [rule])


def test_a_full_sync_of_a_named_organization_that_is_gone_skips_it(defs, instance, fake):
    gone, kept = org_ids(fake)
    run_job(defs, "papra_full_sync_job", instance)
    fake.delete_organization(gone)
    fake.upload_document(kept, "after.txt", "uploaded after the delete", extract=True)

    config = {"ops": {"papra_sync": {"config": {"mode": "full", "organization_ids": [gone, kept]}}}}
    result = run_job(defs, "papra_full_sync_job", instance, run_config=config)

    assert result.success
    documents = materializations(result)["papra_documents"]
    assert (documents["inserted"], documents["skipped_organizations"]) == (1, [gone])
    warnings = [e.message for e in instance.all_logs(result.run_id) if e.level == 30]
    assert any(f"Organization {gone} is gone" in message for message in warnings), warnings
