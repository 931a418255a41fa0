"""Jobs and schedules: what a user runs by hand and what runs on the clock."""

from __future__ import annotations

import dagster as dg

from papra_pipeline.defs.assets import (
    papra_organization_statistics,
    papra_sync,
    papra_tagging_rule_applications,
)
from papra_pipeline.settings import Settings

SYNC_OP = "papra_sync"
TAGGING_OP = "papra_tagging_rule_applications"


def sync_run_config(
    mode: str, organization_ids: list[str] | None = None, *, verify: bool = False
) -> dict:
    """Run config of the sync jobs; sensors use it to narrow a quick sync to some orgs."""
    config: dict = {"mode": mode}
    if organization_ids:
        config["organization_ids"] = list(organization_ids)
    if verify:
        config["verify"] = True
    return {"ops": {SYNC_OP: {"config": config}}}


def tagging_run_config(organization_ids: list[str], rule_ids: list[str], reason: str) -> dict:
    return {
        "ops": {
            TAGGING_OP: {
                "config": {
                    "organization_ids": organization_ids,
                    "rule_ids": rule_ids,
                    "reason": reason,
                }
            }
        }
    }


full_sync_job = dg.define_asset_job(
    "papra_full_sync_job",
    selection=dg.AssetSelection.assets(papra_sync),
    config=sync_run_config("full"),
    description="Scan every organization completely: new, changed, trashed, restored and "
    "purged documents, tags, custom properties and activity; then run the checks. Set "
    "verify: true in the op config to re-read every document's text and activity too.",
)

quick_sync_job = dg.define_asset_job(
    "papra_quick_sync_job",
    selection=dg.AssetSelection.assets(papra_sync),
    config=sync_run_config("quick"),
    description="Read only the newest pages, the trash and the statistics: a few requests "
    "per organization. Requested by the change sensor.",
)

apply_tagging_rules_job = dg.define_asset_job(
    "papra_apply_tagging_rules_job",
    selection=dg.AssetSelection.assets(papra_tagging_rule_applications),
    description="Ask Papra to apply tagging rules to existing documents and record each task "
    "id. Config: organization_ids and rule_ids (empty: every enabled rule, which needs "
    "PAPRA_EMAIL and PAPRA_PASSWORD).",
)

statistics_snapshot_job = dg.define_asset_job(
    "papra_statistics_snapshot_job",
    selection=dg.AssetSelection.assets(papra_organization_statistics),
    description="Append one snapshot of Papra's statistics counters per organization.",
)


def build_reports_job(reports: dg.AssetsDefinition) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        "papra_daily_reports_job",
        selection=dg.AssetSelection.assets(reports),
        description="Recompute the daily report tables for one day, or a range in a backfill.",
    )


def build_schedules(
    settings: Settings, reports_job: dg.UnresolvedAssetJobDefinition
) -> list[dg.ScheduleDefinition]:
    """Stopped by default: turn them on in the UI once the connection works."""
    return [
        dg.ScheduleDefinition(
            name="papra_full_sync_schedule",
            job=full_sync_job,
            cron_schedule=settings.full_sync_cron,
            execution_timezone="UTC",
            description=f"Full sync on '{settings.full_sync_cron}' (PAPRA_FULL_SYNC_CRON).",
        ),
        dg.ScheduleDefinition(
            name="papra_statistics_snapshot_schedule",
            job=statistics_snapshot_job,
            cron_schedule=settings.statistics_cron,
            execution_timezone="UTC",
            description=f"Statistics snapshot on '{settings.statistics_cron}' "
            "(PAPRA_STATISTICS_CRON).",
        ),
        dg.build_schedule_from_partitioned_job(
            reports_job,
            name="papra_daily_reports_schedule",
            hour_of_day=1,
            description="Each night, compute yesterday's daily reports (UTC).",
        ),
    ]
