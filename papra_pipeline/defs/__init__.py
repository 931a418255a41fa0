"""The Dagster layer: thin definitions that call the sync layer and report what it did.

``build_definitions`` assembles everything; ``papra_pipeline.definitions`` calls it with the
resources and settings of the environment, tests with their own.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from papra_pipeline.defs.assets import (
    build_report_assets,
    papra_organization_statistics,
    papra_sync,
    papra_tagging_rule_applications,
)
from papra_pipeline.defs.checks import build_checks
from papra_pipeline.defs.jobs import (
    apply_tagging_rules_job,
    build_reports_job,
    build_schedules,
    full_sync_job,
    quick_sync_job,
    statistics_snapshot_job,
)
from papra_pipeline.defs.resources import resources_from_env
from papra_pipeline.defs.sensors import build_sensors, build_webhook_sensor
from papra_pipeline.defs.settings import Settings


def build_definitions(
    resources: Mapping[str, object] | None = None, settings: Settings | None = None
) -> dg.Definitions:
    """Every asset, check, job, schedule and sensor, bound to ``resources``."""
    settings = settings or Settings.from_env()
    reports = build_report_assets(settings.reports_start_date)
    reports_job = build_reports_job(reports)
    return dg.Definitions(
        assets=[
            papra_sync,
            papra_organization_statistics,
            papra_tagging_rule_applications,
            reports,
        ],
        asset_checks=build_checks(settings.freshness_hours),
        jobs=[
            full_sync_job,
            quick_sync_job,
            apply_tagging_rules_job,
            statistics_snapshot_job,
            reports_job,
        ],
        schedules=build_schedules(settings, reports_job),
        sensors=[
            *build_sensors(
                settings.change_sensor_seconds,
                settings.tagging_sensor_seconds,
                settings.reapply_rule_ids,
            ),
            build_webhook_sensor(settings.webhook_sensor_seconds),
        ],
        resources=dict(resources) if resources is not None else resources_from_env(),
    )


__all__ = ["Settings", "build_definitions"]
