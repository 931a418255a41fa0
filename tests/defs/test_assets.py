"""Every asset and check materialized through Dagster against the fake server over HTTP."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from papra_pipeline.client import PapraSessionRequiredError
from papra_pipeline.defs.assets import COUNTERS, SYNCED_TABLES
from papra_pipeline.defs.checks import (
    all_values_typed,
    custom_property_values_reference_existing_rows,
    document_tags_reference_existing_rows,
    live_count_matches_api,
)
from papra_pipeline.defs.jobs import sync_run_config
from papra_pipeline.defs.names import DEFAULT_NAMES
from papra_pipeline.defs.resources import PapraResource
from tests.defs.conftest import DOCUMENTS, ORGANIZATIONS, check_results, materializations, run_job

SYNC_ASSETS = {t.asset for t in SYNCED_TABLES}


def count(warehouse, sql: str, params=()) -> int:
    with warehouse.get_warehouse().read() as con:
        return con.execute(sql, list(params)).fetchall()[0][0]


def test_full_sync_materializes_every_table_with_its_counts(defs, instance, warehouse, fake):
    result = run_job(defs, "papra_full_sync_job", instance)

    assert result.success
    metadata = materializations(result)
    # The statistics the sync appended materialize their asset too.
    assert set(metadata) == SYNC_ASSETS | {"papra_organization_statistics"}
    for t in SYNCED_TABLES:
        meta = metadata[t.asset]
        assert meta["dagster/row_count"] == count(warehouse, f"SELECT count(*) FROM {t.table}")
        assert meta["mode"] == "full"
        for key in (*COUNTERS, "requests", "retries", "sync_run_id"):
            assert key in meta, (t.asset, key)
    documents = metadata["papra_documents"]
    assert documents["dagster/row_count"] == DOCUMENTS
    assert documents["inserted"] == DOCUMENTS
    assert documents["requests"] > 0 and documents["retries"] == 0
    assert metadata["papra_organizations"]["inserted"] == ORGANIZATIONS
    assert sum(documents["api_documents_count"].values()) == count(
        warehouse, "SELECT count(*) FROM documents WHERE NOT is_deleted"
    )
    # Nothing secret leaks into what the UI shows.
    assert fake.api_key not in repr(metadata) and fake.password not in repr(metadata)

    checks = check_results(result)
    assert {(asset, "unique_ids") for asset in SYNC_ASSETS} <= set(checks)
    assert {key: c.passed for key, c in checks.items() if not c.passed} == {}
    assert (
        checks[("papra_documents", "live_count_matches_api")]
        .metadata["mismatched_organizations"]
        .value
        == []
    )


def test_second_full_sync_changes_nothing_and_quick_sync_sees_an_upload(
    defs, instance, fake, warehouse
):
    run_job(defs, "papra_full_sync_job", instance)
    again = materializations(run_job(defs, "papra_full_sync_job", instance))
    assert again["papra_documents"]["inserted"] == 0
    assert again["papra_documents"]["updated"] == 0
    assert again["papra_documents"]["trashed"] == 0

    org = fake.list_organizations()[0]["id"]
    fake.upload_document(org, "invoice.txt", "a brand new invoice", extract=True)
    quick = run_job(defs, "papra_quick_sync_job", instance)
    metadata = materializations(quick)
    assert metadata["papra_documents"]["mode"] == "quick"
    assert metadata["papra_documents"]["inserted"] == 1
    assert metadata["papra_documents"]["dagster/row_count"] == DOCUMENTS + 1
    assert all(c.passed for c in quick.get_asset_check_evaluations())


def test_trash_in_papra_is_counted_as_trashed(defs, instance, fake):
    run_job(defs, "papra_full_sync_job", instance)
    org = fake.list_organizations()[0]["id"]
    doc = fake.documents(org, include_deleted=False)[0]
    fake.trash_document(org, doc["id"])

    metadata = materializations(run_job(defs, "papra_full_sync_job", instance))

    assert metadata["papra_documents"]["trashed"] == 1
    assert metadata["papra_documents"]["updated"] == 1


def test_full_sync_job_with_verify_brings_a_text_edit(defs, instance, fake, warehouse):
    run_job(defs, "papra_full_sync_job", instance)
    org = fake.list_organizations()[0]["id"]
    doc = fake.documents(org, include_deleted=False)[0]["id"]
    fake.update_document(org, doc, content="corrected OCR text")

    verified = materializations(
        run_job(
            defs,
            "papra_full_sync_job",
            instance,
            run_config=sync_run_config("full", verify=True),
        )
    )

    assert verified["papra_documents"]["content_updated"] == 1
    assert verified["papra_documents"]["content_requests"] == DOCUMENTS
    assert count(warehouse, "SELECT content FROM documents WHERE id = ?", [doc]) == (
        "corrected OCR text"
    )


def test_statistics_snapshot_appends_one_row_per_organization(defs, instance, warehouse):
    run_job(defs, "papra_full_sync_job", instance)
    before = count(warehouse, "SELECT count(*) FROM organization_statistics")

    result = run_job(defs, "papra_statistics_snapshot_job", instance)

    meta = materializations(result)["papra_organization_statistics"]
    assert meta["inserted"] == ORGANIZATIONS
    assert meta["dagster/row_count"] == before + ORGANIZATIONS
    assert meta["mode"] == "snapshot"
    assert meta["requests"] == ORGANIZATIONS  # one statistics request per organization
    run_id = result.run_id
    assert (
        count(warehouse, "SELECT count(*) FROM organization_statistics WHERE run_id = ?", [run_id])
        == ORGANIZATIONS
    )


def _rule(fake, org: str, name: str = "Invoices") -> str:
    tag = fake.create_tag(org, f"tag for {name}")
    return fake.create_tagging_rule(
        org,
        name,
        conditions=[{"field": "name", "operator": "contains", "value": "invoice"}],
        tag_ids=[tag["id"]],
    )


def test_apply_tagging_rules_records_each_task_id(defs, instance, fake, warehouse):
    org = fake.list_organizations()[0]["id"]
    enabled = _rule(fake, org, "Invoices")
    disabled = _rule(fake, org, "Receipts")
    fake.update_tagging_rule(org, disabled, enabled=False)

    result = run_job(
        defs,
        "papra_apply_tagging_rules_job",
        instance,
        run_config={"ops": {"papra_tagging_rule_applications": {"config": {"reason": "test"}}}},
    )

    meta = materializations(result)["papra_tagging_rule_applications"]
    assert meta["inserted"] == 1 and meta["dagster/row_count"] == 1
    assert meta["mode"] == "apply"
    [application] = meta["applications"]
    assert application["rule_id"] == enabled and application["task_id"]
    with warehouse.get_warehouse().read() as con:
        rows = con.execute(
            "SELECT task_id, organization_id, tagging_rule_id, tagging_rule_name, rule_hash, "
            "reason FROM tagging_rule_applications"
        ).fetchall()
    assert len(rows) == 1
    task_id, row_org, rule_id, name, rule_hash, reason = rows[0]
    assert (task_id, row_org, rule_id, name, reason) == (
        application["task_id"],
        org,
        enabled,
        "Invoices",
        "test",
    )
    assert len(rule_hash) == 16


def test_apply_tagging_rules_without_a_login_fails_visibly(fake, papra_url, warehouse, defs):
    keyed = PapraResource(base_url=papra_url, api_key=fake.api_key, max_retries=0)
    job = defs.resolve_job_def("papra_apply_tagging_rules_job")
    with dg.instance_for_test() as instance, pytest.raises(PapraSessionRequiredError):
        job.execute_in_process(instance=instance, resources={"papra": keyed})
    assert not warehouse.get_warehouse().path.exists()


def test_checks_fail_when_the_warehouse_is_inconsistent(defs, instance, warehouse):
    run_job(defs, "papra_full_sync_job", instance)
    path = warehouse.get_warehouse().path
    con = duckdb.connect(str(path))
    con.execute(
        "INSERT INTO document_tags VALUES ('doc_missing', 'tag_missing', 'org', now())"
    ).fetchall()
    con.execute(
        "UPDATE document_custom_property_values SET property_definition_id = 'cpd_gone' "
        "WHERE rowid = (SELECT min(rowid) FROM document_custom_property_values)"
    ).fetchall()
    con.execute(
        "UPDATE documents SET is_deleted = true WHERE id = (SELECT min(id) FROM documents "
        "WHERE NOT is_deleted)"
    ).fetchall()
    con.close()

    context = dg.build_op_context(resources={"warehouse": warehouse})
    tags = document_tags_reference_existing_rows(DEFAULT_NAMES)(context)
    values = custom_property_values_reference_existing_rows(DEFAULT_NAMES)(context)
    live = live_count_matches_api(DEFAULT_NAMES)(context)

    assert not tags.passed
    assert tags.metadata["missing_documents"].value == 1
    assert tags.metadata["missing_tags"].value == 1
    assert not values.passed and values.metadata["missing_definitions"].value == 1
    assert not live.passed and len(live.metadata["mismatched_organizations"].value) == 1


def test_a_value_that_could_not_be_typed_warns_until_papra_sends_a_typed_one(
    defs, instance, fake, warehouse
):
    """A later Papra sends a number as text: the sync succeeds, the check names the document."""
    org = fake.list_organizations()[0]["id"]
    doc_id = fake.documents(org, include_deleted=False)[0]["id"]
    amount = next(d for d in fake.list_custom_properties(org) if d["type"] == "number")
    with fake.lock:
        fake.docs_by_id[doc_id].cp_values[amount["id"]] = "12.50"

    result = run_job(defs, "papra_full_sync_job", instance)

    assert result.success
    check = check_results(result)[("papra_documents", "all_values_typed")]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["untyped_values"].value == 1
    assert (
        check.metadata["values"].value[0].startswith(f"{doc_id} customProperties.{amount['key']}: ")
    )
    metadata = materializations(result)
    assert metadata["papra_document_custom_property_values"]["untyped"] == 1
    assert metadata["papra_documents"]["untyped"] == 0

    with fake.lock:
        fake.docs_by_id[doc_id].cp_values[amount["id"]] = 12.5
    fixed = run_job(defs, "papra_full_sync_job", instance)
    assert check_results(fixed)[("papra_documents", "all_values_typed")].passed


def test_checks_fail_before_any_sync(warehouse):
    context = dg.build_op_context(resources={"warehouse": warehouse})
    assert not all_values_typed(DEFAULT_NAMES)(context).passed
    assert not live_count_matches_api(DEFAULT_NAMES)(context).passed
