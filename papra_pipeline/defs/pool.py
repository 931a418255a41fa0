"""The single-writer pools exist before any step claims them.

Dagster creates a pool's slots from ``default_limit`` the first time a step claims it, and two
runs claiming it at that same moment on a new instance can both get in. So every run of these
definitions makes sure ``papra_duckdb`` has its slot while its executor starts, before its
first step asks: no manual ``dagster instance concurrency set`` step on a new instance. With
several named Papra instances, each has its own pool (one DuckDB file each): a run makes sure
of the pools its own steps use.
"""

from __future__ import annotations

import dagster as dg

from papra_pipeline.defs.names import POOL, is_writer_pool

WRITER_SLOTS = 1  # DuckDB allows one writing process


def ensure_writer_pool(instance: dg.DagsterInstance, pool: str = POOL) -> None:
    """Give ``pool`` one slot unless it has slots already (a user's limit stays)."""
    storage = instance.event_log_storage
    if pool not in storage.get_concurrency_keys():
        storage.set_concurrency_slots(pool, WRITER_SLOTS)


def writer_pools_of(job: dg.JobDefinition) -> set[str]:
    """The writer pools the steps of ``job`` claim."""
    pools = {getattr(node.definition, "pool", None) for node in job.nodes}
    return {pool for pool in pools if is_writer_pool(pool)}


def with_writer_pool(default: dg.ExecutorDefinition) -> dg.ExecutorDefinition:
    """``default`` (same name, config and behaviour) that first ensures the pool."""

    def create_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
        for pool in writer_pools_of(init_context.job.get_definition()):
            ensure_writer_pool(init_context.instance, pool)
        return default.executor_creation_fn(init_context)

    return dg.ExecutorDefinition(
        name=default.name,
        config_schema=default.config_schema,
        requirements=default.get_requirements,
        executor_creation_fn=create_executor,
        description=default.description,
    )


def in_process_by_default() -> dg.ExecutorDefinition:
    """Dagster's default executor (same name and config) whose runs execute their steps in
    the run's own process unless their config asks for ``multiprocess``.

    A sync job is one writing step and five checks that each read the readers' file in a
    fraction of a second, and the writers of an instance take turns through its pool anyway:
    a process per step only added its imports of Dagster and the definitions to each step
    (seconds; to each webhook's way to its row) and six processes to each run. Runs still
    each start in a process of their own, and ``execution: config: multiprocess: {}`` in a
    run's config brings step processes back.
    """
    default = dg.multi_or_in_process_executor
    return dg.ExecutorDefinition(
        name=default.name,
        config_schema=dg.Field(
            default.config_schema.as_field().config_type, default_value={"in_process": {}}
        ),
        requirements=default.get_requirements,
        executor_creation_fn=default.executor_creation_fn,
        description=default.description,
    )


writer_pool_executor = with_writer_pool(in_process_by_default())
