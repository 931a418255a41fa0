"""The Dagster layer: thin definitions that call the sync layer and report what it did.

``build_definitions`` assembles everything; ``papra_pipeline.definitions`` calls it with the
resources and settings of the environment, the component with those of its YAML, tests with
their own.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from papra_pipeline.defs.assets import (
    build_report_assets,
    papra_organization_statistics,
    papra_tagging_rule_applications,
    sync_assets_fresh_within,
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
from papra_pipeline.defs.pool import with_writer_pool, writer_pool_executor
from papra_pipeline.defs.resources import resources_from_settings
from papra_pipeline.defs.rules import (
    apply_rules_job,
    papra_tagging_rule_additions,
    papra_tagging_rule_plan,
)
from papra_pipeline.defs.sensors import build_sensors, build_webhook_sensor
from papra_pipeline.settings import Settings


def build_definitions(
    resources: Mapping[str, object] | None = None,
    settings: Settings | None = None,
    *,
    schedules: bool = True,
    sensors: bool = True,
    executor: dg.ExecutorDefinition | None = writer_pool_executor,
) -> dg.Definitions:
    """Every asset, check, job, schedule and sensor, bound to ``resources`` (by default the
    ones ``settings`` describe). ``schedules`` and ``sensors`` False leave those out.

    ``executor`` makes sure of the writer pool's slot before a run's first step; a project
    merging these definitions into its own that sets an executor passes
    ``with_writer_pool(its_executor)`` here instead (or None, and sets the slot itself).
    """
    settings = settings or Settings.from_env()
    reports = build_report_assets(settings.reports_start_date)
    reports_job = build_reports_job(reports)
    return dg.Definitions(
        assets=[
            sync_assets_fresh_within(settings.freshness_hours),
            papra_organization_statistics,
            papra_tagging_rule_applications,
            papra_tagging_rule_plan,
            papra_tagging_rule_additions,
            reports,
        ],
        asset_checks=build_checks(),
        jobs=[
            full_sync_job,
            quick_sync_job,
            apply_tagging_rules_job,
            statistics_snapshot_job,
            reports_job,
            apply_rules_job,
        ],
        schedules=build_schedules(settings, reports_job) if schedules else [],
        sensors=[
            *build_sensors(
                settings.change_sensor_seconds,
                settings.tagging_sensor_seconds,
                settings.reapply_rule_ids,
            ),
            build_webhook_sensor(settings.webhook_sensor_seconds),
        ]
        if sensors
        else [],
        resources=dict(resources) if resources is not None else resources_from_settings(settings),
        executor=executor,
    )


__all__ = ["Settings", "build_definitions", "with_writer_pool"]
