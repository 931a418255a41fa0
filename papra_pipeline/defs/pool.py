"""The single-writer pool exists before any step claims it.

Dagster creates a pool's slots from ``default_limit`` the first time a step claims it, and two
runs claiming it at that same moment on a new instance can both get in. So every run of these
definitions makes sure ``papra_duckdb`` has its slot while its executor starts, before its
first step asks: no manual ``dagster instance concurrency set`` step on a new instance.
"""

from __future__ import annotations

import dagster as dg

from papra_pipeline.defs.assets import POOL

WRITER_SLOTS = 1  # DuckDB allows one writing process


def ensure_writer_pool(instance: dg.DagsterInstance) -> None:
    """Give ``papra_duckdb`` one slot unless it has slots already (a user's limit stays)."""
    storage = instance.event_log_storage
    if POOL not in storage.get_concurrency_keys():
        storage.set_concurrency_slots(POOL, WRITER_SLOTS)


def with_writer_pool(default: dg.ExecutorDefinition) -> dg.ExecutorDefinition:
    """``default`` (same name, config and behaviour) that first ensures the pool."""

    def create_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
        ensure_writer_pool(init_context.instance)
        return default.executor_creation_fn(init_context)

    return dg.ExecutorDefinition(
        name=default.name,
        config_schema=default.config_schema,
        requirements=default.get_requirements,
        executor_creation_fn=create_executor,
        description=default.description,
    )


writer_pool_executor = with_writer_pool(dg.multi_or_in_process_executor)
