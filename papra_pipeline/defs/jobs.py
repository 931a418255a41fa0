"""Jobs and schedules: what a user runs by hand and what runs on the clock."""

from __future__ import annotations

from functools import cache

import dagster as dg

from papra_pipeline.defs.assets import SYNCED_TABLES
from papra_pipeline.defs.names import DEFAULT_NAMES, Names
from papra_pipeline.settings import Settings

SYNC_OP = "papra_sync"
TAGGING_OP = "papra_tagging_rule_applications"


def sync_run_config(
    mode: str,
    organization_ids: list[str] | None = None,
    *,
    verify: bool = False,
    names: Names = DEFAULT_NAMES,
) -> dict:
    """Run config of the sync jobs; sensors use it to narrow a quick sync to some orgs."""
    config: dict = {"mode": mode}
    if organization_ids:
        config["organization_ids"] = list(organization_ids)
    if verify:
        config["verify"] = True
    return {"ops": {names(SYNC_OP): {"config": config}}}


def tagging_run_config(
    organization_ids: list[str], rule_ids: list[str], reason: str, names: Names = DEFAULT_NAMES
) -> dict:
    return {
        "ops": {
            names.asset(TAGGING_OP).to_python_identifier(): {  # the op Dagster names
                "config": {
                    "organization_ids": organization_ids,
                    "rule_ids": rule_ids,
                    "reason": reason,
                }
            }
        }
    }


# Each job is built once per instance (cached): the sensors that target a job and the
# definitions that list it hold the same object.


def _synced(names: Names) -> dg.AssetSelection:
    return dg.AssetSelection.assets(*(names.asset(t.asset) for t in SYNCED_TABLES))


@cache
def full_sync_job(names: Names) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        names("papra_full_sync_job"),
        selection=_synced(names),
        config=sync_run_config("full", names=names),
        description="Scan every organization completely: new, changed, trashed, restored and "
        "purged documents, tags, custom properties and activity; then run the checks. Set "
        "verify: true in the op config to re-read every document's text and activity too.",
    )


@cache
def quick_sync_job(names: Names) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        names("papra_quick_sync_job"),
        selection=_synced(names),
        config=sync_run_config("quick", names=names),
        description="Read only the newest pages, the trash and the statistics: a few requests "
        "per organization. Requested by the change sensor.",
    )


@cache
def apply_tagging_rules_job(names: Names) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        names("papra_apply_tagging_rules_job"),
        selection=dg.AssetSelection.assets(names.asset("papra_tagging_rule_applications")),
        description="Ask Papra to apply tagging rules to existing documents and record each "
        "task id. Config: organization_ids and rule_ids (empty: every enabled rule, which needs "
        "PAPRA_EMAIL and PAPRA_PASSWORD).",
    )


@cache
def statistics_snapshot_job(names: Names) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        names("papra_statistics_snapshot_job"),
        selection=dg.AssetSelection.assets(names.asset("papra_organization_statistics")),
        description="Append one snapshot of Papra's statistics counters per organization.",
    )


def build_reports_job(
    reports: dg.AssetsDefinition, names: Names = DEFAULT_NAMES
) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        names("papra_daily_reports_job"),
        selection=dg.AssetSelection.assets(reports),
        description="Recompute the daily report tables for one day, or a range in a backfill.",
    )


def build_schedules(
    settings: Settings,
    reports_job: dg.UnresolvedAssetJobDefinition,
    names: Names = DEFAULT_NAMES,
) -> list[dg.ScheduleDefinition]:
    """Stopped by default: turn them on in the UI once the connection works."""
    return [
        dg.ScheduleDefinition(
            name=names("papra_full_sync_schedule"),
            job=full_sync_job(names),
            cron_schedule=settings.full_sync_cron,
            execution_timezone="UTC",
            description=f"Full sync on '{settings.full_sync_cron}' (PAPRA_FULL_SYNC_CRON).",
        ),
        dg.ScheduleDefinition(
            name=names("papra_statistics_snapshot_schedule"),
            job=statistics_snapshot_job(names),
            cron_schedule=settings.statistics_cron,
            execution_timezone="UTC",
            description=f"Statistics snapshot on '{settings.statistics_cron}' "
            "(PAPRA_STATISTICS_CRON).",
        ),
        dg.build_schedule_from_partitioned_job(
            reports_job,
            name=names("papra_daily_reports_schedule"),
            hour_of_day=1,
            description="Each night, compute yesterday's daily reports (UTC).",
        ),
    ]
