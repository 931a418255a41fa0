"""The names one Papra instance's definitions take in Dagster.

Dagster keeps one namespace per code location: asset keys, op, job, schedule and sensor names,
resource keys and pools must not repeat. An instance without a name keeps the names
papra-pipeline always had (existing deployments keep their run history, schedule states and
sensor cursors); a named instance carries its name in every one of them, so a work and a home
Papra, or one per team, live side by side in one project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

# DuckDB allows one writing process: every step that writes takes a slot of its instance's
# pool, whose limit is 1, so concurrent runs wait for each other instead of failing.
POOL = "papra_duckdb"
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True)
class Names:
    """Prefixes ``instance + "_"`` to every name (asset keys get it as their first part)."""

    instance: str | None = None

    def __post_init__(self) -> None:
        if self.instance is not None and not _NAME.fullmatch(self.instance):
            raise ValueError(
                f"name must be 1-40 lowercase letters, digits or underscores starting with a "
                f"letter (it prefixes Dagster names), got {self.instance!r}"
            )

    def __call__(self, name: str) -> str:
        """A job, schedule, sensor, op, pool or resource name of this instance."""
        return f"{self.instance}_{name}" if self.instance else name

    def file(self, path: str) -> str:
        """A file of this instance: ``path`` with the name prefixed, in the same folder
        (``data/papra.duckdb`` -> ``data/work_papra.duckdb``), so instances never share one."""
        return str(Path(path).with_name(self(Path(path).name)))

    def asset(self, name: str) -> dg.AssetKey:
        return dg.AssetKey([self.instance, name] if self.instance else [name])

    @property
    def group(self) -> str:
        return self("papra")

    @property
    def pool(self) -> str:
        return self(POOL)

    @property
    def papra(self) -> str:
        """The key of the Papra server resource."""
        return self("papra")

    @property
    def warehouse(self) -> str:
        """The key of the DuckDB warehouse resource."""
        return self("warehouse")

    def papra_of(self, context: object) -> Any:
        """This instance's ``PapraResource`` from a step's or a tick's context."""
        return getattr(context.resources, self.papra)  # type: ignore[attr-defined]

    def warehouse_of(self, context: object) -> Any:
        """This instance's ``WarehouseResource`` from a step's or a tick's context."""
        return getattr(context.resources, self.warehouse)  # type: ignore[attr-defined]


DEFAULT_NAMES = Names()


def is_writer_pool(pool: str | None) -> bool:
    """Whether ``pool`` is the single-writer pool of some instance."""
    return pool is not None and (pool == POOL or pool.endswith(f"_{POOL}"))
