"""Deployment settings read once when the code location loads (schedules, sensors, reports).

Everything has a default, so ``dagster dev`` works with only PAPRA_API_URL and PAPRA_API_KEY.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """Knobs that shape the definitions themselves rather than one run."""

    full_sync_cron: str = "0 * * * *"
    statistics_cron: str = "30 * * * *"
    change_sensor_seconds: int = 120
    tagging_sensor_seconds: int = 300
    webhook_sensor_seconds: int = 10
    reapply_rule_ids: tuple[str, ...] = ()
    freshness_hours: float = 2.0
    reports_start_date: str = "2024-01-01"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        default = cls()
        rules = environ.get("PAPRA_REAPPLY_RULES_ON_NEW_DOCUMENTS", "")
        return cls(
            full_sync_cron=environ.get("PAPRA_FULL_SYNC_CRON") or default.full_sync_cron,
            statistics_cron=environ.get("PAPRA_STATISTICS_CRON") or default.statistics_cron,
            change_sensor_seconds=int(
                environ.get("PAPRA_CHANGE_SENSOR_SECONDS") or default.change_sensor_seconds
            ),
            tagging_sensor_seconds=int(
                environ.get("PAPRA_TAGGING_SENSOR_SECONDS") or default.tagging_sensor_seconds
            ),
            webhook_sensor_seconds=int(
                environ.get("PAPRA_WEBHOOK_SENSOR_SECONDS") or default.webhook_sensor_seconds
            ),
            reapply_rule_ids=tuple(r.strip() for r in rules.split(",") if r.strip()),
            freshness_hours=float(environ.get("PAPRA_FRESHNESS_HOURS") or default.freshness_hours),
            reports_start_date=environ.get("PAPRA_REPORTS_START_DATE")
            or default.reports_start_date,
        )
