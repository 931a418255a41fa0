"""Run retention for a deployment: Dagster's own retention setting covers schedule and sensor
ticks only, so run history (and each run's events in Postgres) would grow for ever with an
hourly sync. A daily job deletes finished runs older than ``days``.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster._core.storage.dagster_run import FINISHED_STATUSES
from pydantic import Field

BATCH = 500


class RetentionConfig(dg.Config):
    days: int = Field(default=90, ge=1, description="Keep finished runs this many days.")


@dg.op(name="papra_delete_old_runs")
def delete_old_runs(context: dg.OpExecutionContext, config: RetentionConfig) -> int:
    """Delete finished runs last updated more than ``days`` ago, with their events."""
    cutoff = datetime.now(UTC) - timedelta(days=config.days)
    instance = context.instance
    deleted = 0
    while records := instance.get_run_records(
        filters=dg.RunsFilter(statuses=list(FINISHED_STATUSES), updated_before=cutoff),
        limit=BATCH,
    ):
        for record in records:
            instance.delete_run(record.dagster_run.run_id)
        deleted += len(records)
    context.log.info(f"deleted {deleted} run(s) finished before {cutoff:%Y-%m-%d %H:%M} UTC")
    return deleted


@dg.job(
    name="papra_run_retention_job",
    description="Delete finished runs older than 90 days (op config: days) with their events.",
)
def run_retention_job() -> None:
    delete_old_runs()


run_retention_schedule = dg.ScheduleDefinition(
    name="papra_run_retention_schedule",
    job=run_retention_job,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    description="Each night, delete finished runs older than 90 days (stopped by default).",
)

retention_definitions = dg.Definitions(jobs=[run_retention_job], schedules=[run_retention_schedule])
