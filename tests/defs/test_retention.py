"""The deployment's run retention job deletes finished runs older than its ``days``."""

from __future__ import annotations

from datetime import datetime, timedelta

import dagster as dg

from papra_pipeline.defs import retention


def test_old_finished_runs_are_deleted_and_recent_ones_kept(monkeypatch):
    with dg.instance_for_test() as instance:
        job = retention.run_retention_job
        kept = job.execute_in_process(instance=instance)
        assert kept.output_for_node("papra_delete_old_runs") == 0  # one fresh run: kept

        class Later(datetime):
            @classmethod
            def now(cls, tz=None):
                return datetime.now(tz) + timedelta(days=91)

        monkeypatch.setattr(retention, "datetime", Later)
        purged = job.execute_in_process(instance=instance)
        # Both earlier runs are older than 90 days from "now"; the purging run is still running.
        assert purged.output_for_node("papra_delete_old_runs") == 1
        assert {r.run_id for r in instance.get_runs()} == {purged.run_id}


def test_the_deployed_code_location_has_the_job_and_its_schedule_stopped():
    from papra_pipeline.definitions import defs

    assert defs.resolve_job_def("papra_run_retention_job")
    schedule = defs.resolve_schedule_def("papra_run_retention_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
