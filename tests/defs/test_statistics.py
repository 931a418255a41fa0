"""Statistics follow the syncs: one snapshot per organization per sync, whatever sensors run,
and each materialization carries per-organization numbers the Dagster UI can plot."""

from __future__ import annotations

import dagster as dg

from papra_pipeline.warehouse import Warehouse
from tests.defs.conftest import ORGANIZATIONS, materializations, run_job


def evaluate_every_sensor(defs: dg.Definitions, instance, finished) -> list[dg.RunRequest]:
    """One tick of every sensor of the definitions, after the run ``finished``."""
    run = instance.get_run_by_id(finished.run_id)
    success = next(
        e for e in finished.all_events if e.event_type == dg.DagsterEventType.RUN_SUCCESS
    )
    requests = []
    for sensor in defs.get_repository_def().sensor_defs:
        if isinstance(sensor, dg.RunStatusSensorDefinition):
            context = dg.build_run_status_sensor_context(
                sensor_name=sensor.name, dagster_instance=instance, dagster_run=run,
                dagster_event=success,
            )
            result = sensor(context)
        else:
            context = dg.build_sensor_context(instance=instance, resources=defs.resources)
            result = sensor(context)
        if isinstance(result, dg.SkipReason):
            result = []
        if isinstance(result, dg.RunRequest):
            result = [result]
        if isinstance(result, dg.SensorResult):
            result = result.run_requests or []
        for request in result or []:
            job_name = request.job_name or sensor.job_name
            requests.append(request.with_replaced_attrs(job_name=job_name))
    return requests


def test_one_statistics_row_per_organization_per_sync_with_every_sensor_on(
    defs, instance, warehouse
):
    finished = run_job(defs, "papra_full_sync_job", instance)
    for request in evaluate_every_sensor(defs, instance, finished):
        ran = run_job(defs, request.job_name, instance, run_config=request.run_config)
        assert ran.success

    with Warehouse(warehouse.path).read() as con:
        syncs = con.execute(
            "SELECT count(*) FROM _papra_sync_runs WHERE status = 'succeeded'"
        ).fetchall()[0][0]
        per_sync = con.execute(
            """SELECT count(*), count(DISTINCT (run_id, organization_id)),
                      count(*) FILTER (WHERE run_id NOT IN (SELECT run_id FROM _papra_sync_runs))
               FROM organization_statistics"""
        ).fetchall()[0]
    rows, distinct, outside_syncs = per_sync
    assert rows == distinct == syncs * ORGANIZATIONS
    assert outside_syncs == 0


def test_the_sync_materializes_the_statistics_it_wrote(defs, instance):
    result = run_job(defs, "papra_full_sync_job", instance)

    statistics = materializations(result)["papra_organization_statistics"]
    assert statistics["snapshots"] == ORGANIZATIONS
    assert statistics["sync_run_id"]


def test_each_materialization_carries_numbers_per_organization(defs, instance, warehouse):
    result = run_job(defs, "papra_full_sync_job", instance)

    documents = materializations(result)["papra_documents"]
    with Warehouse(warehouse.path).read() as con:
        papra_counts = con.execute(
            """SELECT organization_id, documents_count, documents_size, deleted_documents_count
               FROM organization_statistics ORDER BY organization_id"""
        ).fetchall()
        activity = dict(
            con.execute("SELECT organization_id, count(*) FROM document_activity GROUP BY ALL")
            .fetchall()
        )
    assert len(papra_counts) == ORGANIZATIONS
    for org, count, size, trashed in papra_counts:
        assert documents[f"{org} documents"] == count
        assert documents[f"{org} bytes"] == size
        assert documents[f"{org} trashed"] == trashed
        assert documents[f"{org} activity this run"] == activity[org] > 0
        assert all(isinstance(documents[f"{org} {n}"], int) for n in ("documents", "bytes"))
