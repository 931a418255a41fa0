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
    build_statistics_asset,
    build_tagging_asset,
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
from papra_pipeline.defs.names import Names
from papra_pipeline.defs.pool import with_writer_pool, writer_pool_executor
from papra_pipeline.defs.resources import resources_from_settings
from papra_pipeline.defs.rules import (
    apply_rules_job,
    build_rule_additions_asset,
    build_rule_plan_asset,
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
    name: str | None = None,
) -> dg.Definitions:
    """Every asset, check, job, schedule and sensor, bound to ``resources`` (by default the
    ones ``settings`` describe). ``schedules`` and ``sensors`` False leave those out.

    ``name`` prefixes every name (asset keys, jobs, schedules, sensors, resource keys, the
    pool, the group) so several Papra servers can be merged into one project; ``resources``
    are still given as ``papra`` and ``warehouse``. Without it, the names stay unprefixed.
    Settings read from the environment give a named instance files of its own
    (``papra.duckdb`` -> ``NAME_papra.duckdb``, and its inbox beside it).

    ``executor`` makes sure of the writer pool's slot before a run's first step; a project
    merging these definitions into its own that sets an executor passes
    ``with_writer_pool(its_executor)`` here instead (or None, and sets the slot itself).
    """
    names = Names(name)
    if settings is None:
        settings = Settings.from_env()
        if name:  # the environment's files, one of their own per named instance
            settings = settings.replace(
                duckdb_path=names.file(settings.duckdb_path),
                webhook_inbox=settings.webhook_inbox and names.file(settings.webhook_inbox),
            )
    reports = build_report_assets(settings.reports_start_date, names)
    reports_job = build_reports_job(reports, names)
    bound = resources_from_settings(settings) if resources is None else resources
    return dg.Definitions(
        assets=[
            sync_assets_fresh_within(settings.freshness_hours, names),
            build_statistics_asset(names),
            build_tagging_asset(names),
            build_rule_plan_asset(names),
            build_rule_additions_asset(names),
            reports,
        ],
        asset_checks=build_checks(names),
        jobs=[
            full_sync_job(names),
            quick_sync_job(names),
            apply_tagging_rules_job(names),
            statistics_snapshot_job(names),
            reports_job,
            apply_rules_job(names),
        ],
        schedules=build_schedules(settings, reports_job, names) if schedules else [],
        sensors=[
            *build_sensors(
                settings.change_sensor_seconds,
                settings.tagging_sensor_seconds,
                settings.reapply_rule_ids,
                names,
            ),
            build_webhook_sensor(settings.webhook_sensor_seconds, names),
        ]
        if sensors
        else [],
        resources={names(key): resource for key, resource in bound.items()},
        executor=executor,
    )


__all__ = ["Settings", "build_definitions", "with_writer_pool"]
