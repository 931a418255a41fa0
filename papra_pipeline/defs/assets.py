"""Assets: the warehouse tables the sync fills, statistics snapshots, rule applications and
daily reports. Each asset is one DuckDB table; the functions here call the sync layer and
report what it did as materialization metadata.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import dagster as dg
from pydantic import Field

from papra_pipeline.defs.names import DEFAULT_NAMES, Names
from papra_pipeline.defs.names import POOL as POOL  # without a name; else Names.pool
from papra_pipeline.sync import StreamStats, SyncOptions, SyncResult
from papra_pipeline.sync.gone import gone_message
from papra_pipeline.sync.probe import snapshot_statistics
from papra_pipeline.sync.summary import describe_progress, format_summary
from papra_pipeline.sync.tagging import apply_tagging_rules
from papra_pipeline.sync.webhooks import sync_draining_webhooks
from papra_pipeline.warehouse import TABLES, Warehouse
from papra_pipeline.warehouse.figures import (
    OrganizationFigures,
    count_rows,
    organization_figures,
    statistics_snapshot,
)
from papra_pipeline.warehouse.reports import refresh_daily_reports

KINDS = {"python", "duckdb"}
COUNTERS = (
    "inserted",
    "updated",
    "unchanged",
    "trashed",
    "restored",
    "purged",
    "removed",
    "untyped",
)


@dataclass(frozen=True)
class SyncedTable:
    """A table the sync fills: its asset, the engine streams counted into it, its story."""

    asset: str
    table: str
    streams: tuple[str, ...]
    description: str
    deps: tuple[str, ...] = ()


SYNCED_TABLES = (
    SyncedTable(
        "papra_organizations",
        "organizations",
        ("organizations",),
        "Organizations the API key can see, one row each. Organizations that disappear from "
        "Papra stay here with is_removed = true.",
    ),
    SyncedTable(
        "papra_tags",
        "tags",
        ("tags",),
        "Tags per organization with name, color and Papra's document count. Deleted tags stay "
        "with is_removed = true so old document_tags rows can still be named.",
        ("papra_organizations",),
    ),
    SyncedTable(
        "papra_custom_property_definitions",
        "custom_property_definitions",
        ("custom_property_definitions",),
        "Custom-property definitions (text, number, date, boolean, select, relations...).",
        ("papra_organizations",),
    ),
    SyncedTable(
        "papra_custom_property_options",
        "custom_property_options",
        ("custom_property_options",),
        "Options of select and multi-select custom properties.",
        ("papra_custom_property_definitions",),
    ),
    SyncedTable(
        "papra_documents",
        "documents",
        ("documents",),
        "Every document ever seen: live, in the trash (is_deleted, deleted_at) or purged "
        "(purged_at, the sync that noticed). Sizes are original file bytes; content holds the "
        "extracted text. Query v_documents for live documents only.",
        ("papra_organizations",),
    ),
    SyncedTable(
        "papra_document_tags",
        "document_tags",
        ("document_tags",),
        "Which tag is on which document right now (one row per pair).",
        ("papra_documents", "papra_tags"),
    ),
    SyncedTable(
        "papra_document_custom_property_values",
        "document_custom_property_values",
        ("document_custom_property_values",),
        "Custom-property values per document, with one typed column per value shape.",
        ("papra_documents", "papra_custom_property_definitions"),
    ),
    SyncedTable(
        "papra_document_activity",
        "document_activity",
        ("document_activity",),
        "The activity log: created, updated, deleted (trashed), restored, tagged, untagged; "
        "kept after Papra purges the document.",
        ("papra_documents",),
    ),
)


def table_schema(table: str) -> dg.TableSchema:
    """The column schema Dagster shows next to the asset, from the warehouse declaration."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name, sql_type) for name, sql_type in TABLES[table].columns]
    )


def table_metadata(table: str) -> dict[str, object]:
    return {"dagster/column_schema": table_schema(table), "dagster/table_name": table}


def row_count(warehouse: Warehouse, table: str) -> int:
    if not warehouse.path.exists():
        return 0
    with warehouse.read() as con:
        return count_rows(con, table)


def outcome_metadata(stats: StreamStats, mode: str) -> dict[str, object]:
    """The counters every materialization carries, whatever produced it."""
    metadata: dict[str, object] = {name: getattr(stats, name) for name in COUNTERS}
    metadata |= {
        "requests": stats.requests,
        "retries": stats.retries,
        "duration_seconds": round(stats.duration_seconds, 3),
        "mode": mode,
    }
    return metadata


def figures_metadata(
    before: dict[str, OrganizationFigures], after: dict[str, OrganizationFigures]
) -> dict[str, int]:
    """Per organization, plain numbers the UI plots across materializations (one key each)."""
    metadata: dict[str, int] = {}
    for org, figures in after.items():
        previous = before.get(org)
        metadata |= {
            f"{org} documents": figures.documents,
            f"{org} bytes": figures.bytes,
            f"{org} trashed": figures.trashed,
            f"{org} activity this run": figures.activity - (previous.activity if previous else 0),
        }
    return metadata


def statistics_metadata(store: Warehouse, run_id: str) -> dict[str, int]:
    """Papra's counters a run recorded, per organization, as plottable numbers."""
    metadata: dict[str, int] = {}
    for org, (documents, size, trashed) in statistics_snapshot(store, run_id).items():
        metadata |= {
            f"{org} documents": documents,
            f"{org} bytes": size,
            f"{org} trashed": trashed,
        }
    return metadata


def _combined(result: SyncResult, streams: tuple[str, ...]) -> StreamStats:
    total = StreamStats()
    for name in streams:
        stats = result.streams[name]
        for field in (*COUNTERS, "requests", "retries", "duration_seconds"):
            setattr(total, field, getattr(total, field) + getattr(stats, field))
    return total


class SyncConfig(dg.Config):
    """What one sync run does; the full- and quick-sync jobs preset ``mode``."""

    mode: str = Field(
        default="full",
        description="full: scan everything (authoritative). quick: newest pages, trash and "
        "statistics only (a few requests per organization).",
    )
    organization_ids: list[str] = Field(
        default_factory=list,
        description="Only these organizations; empty means the papra resource's choice (all "
        "by default).",
    )
    content: bool | None = Field(
        default=None,
        description="Store extracted document text; unset means the papra resource's choice.",
    )
    verify: bool = Field(
        default=False,
        description="Full mode: re-read the text and activity of every document, so the "
        "warehouse equals Papra even for changes its document list cannot show (a text edit, "
        "a trash-then-restore, a re-upload of a trashed file). Two requests per document.",
    )


def build_sync_assets(names: Names = DEFAULT_NAMES) -> dg.AssetsDefinition:
    """The multi-asset of the synced tables, under ``names``."""

    @dg.multi_asset(
        name=names("papra_sync"),
        specs=[
            dg.AssetSpec(
                names.asset(t.asset),
                description=t.description,
                deps=[names.asset(d) for d in t.deps],
                group_name=names.group,
                kinds=KINDS,
                metadata=table_metadata(t.table),
            )
            for t in SYNCED_TABLES
        ],
        description="One pass over the Papra API fills every table below in a single DuckDB "
        "transaction: a failed run leaves the warehouse exactly as the last good run left it.",
        pool=names.pool,
        required_resource_keys={names.papra, names.warehouse},
    )
    def papra_sync(
        context: dg.AssetExecutionContext, config: SyncConfig
    ) -> Iterator[dg.MaterializeResult]:
        yield from sync_and_report(context, config, names)

    return papra_sync


def sync_and_report(
    context: dg.AssetExecutionContext, config: SyncConfig, names: Names
) -> Iterator[dg.MaterializeResult]:
    papra, warehouse = names.papra_of(context), names.warehouse_of(context)
    if config.mode not in ("full", "quick"):
        raise dg.Failure(f"mode must be 'full' or 'quick', got {config.mode!r}")
    options = SyncOptions(
        mode=config.mode,  # type: ignore[arg-type]
        organization_ids=tuple(config.organization_ids or papra.organization_ids) or None,
        content=papra.content if config.content is None else config.content,
        reverify_period=timedelta(days=papra.reverify_days),
        verify=config.verify,
    )
    store = warehouse.get_warehouse()
    # Activity is append-only: what this run added is the difference of the counts.
    before = organization_figures(store, options.organization_ids)
    with papra.get_client() as client:
        result = sync_draining_webhooks(
            client,
            store,
            options,
            inbox_file=warehouse.inbox_path(),
            progress=lambda *at: context.log.info(describe_progress(*at)),
        )
    context.log.info(f"sync {result.run_id}:\n{format_summary(result)}")
    for org in result.skipped_organization_ids:
        context.log.warning(gone_message(org))
    if result.untyped:
        context.log.warning(
            f"{len(result.untyped)} value(s) Papra sent could not be typed; the documents are "
            "stored with the value in _raw (see the all_values_typed check): "
            + "; ".join(f"{u.document_id} {u.field}" for u in result.untyped[:20])
        )
    with store.read() as con:
        counts = {t.table: count_rows(con, t.table) for t in SYNCED_TABLES}
    for t in SYNCED_TABLES:
        metadata = {
            "dagster/row_count": counts[t.table],
            **outcome_metadata(_combined(result, t.streams), result.mode),
            "sync_run_id": result.run_id,
            "organizations": len(result.organization_ids),
            "skipped_organizations": list(result.skipped_organization_ids),
        }
        if t.table == "documents":
            content = result.streams["document_content"]
            metadata["content_updated"] = content.updated
            metadata["content_requests"] = content.requests
            metadata["api_documents_count"] = dict(result.api_documents_count)
            metadata["statistics_snapshots"] = result.streams["organization_statistics"].inserted
            after = organization_figures(store, result.organization_ids)
            metadata |= figures_metadata(before, after)
        yield dg.MaterializeResult(asset_key=names.asset(t.asset), metadata=metadata)
    # The sync appended a statistics snapshot per organization: the statistics asset is
    # materialized by this run, so no second snapshot is needed to keep it current.
    context.log_event(
        dg.AssetMaterialization(
            asset_key=names.asset("papra_organization_statistics"),
            description=f"Snapshot appended by the {result.mode} sync.",
            metadata={
                "dagster/row_count": row_count(store, "organization_statistics"),
                "snapshots": result.streams["organization_statistics"].inserted,
                "sync_run_id": result.run_id,
                **statistics_metadata(store, result.run_id),
            },
        )
    )


def sync_assets_fresh_within(hours: float, names: Names = DEFAULT_NAMES) -> dg.AssetsDefinition:
    """``papra_sync`` whose tables count as stale (failing freshness) once no sync has
    materialized them for ``hours`` (PAPRA_FRESHNESS_HOURS), whether syncs stopped or fail."""
    policy = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=hours))
    return build_sync_assets(names).map_asset_specs(
        lambda spec: dg.apply_freshness_policy(spec, policy)
    )


def build_statistics_asset(names: Names = DEFAULT_NAMES) -> dg.AssetsDefinition:
    @dg.asset(
        key=names.asset("papra_organization_statistics"),
        description="Snapshots of Papra's own counters per organization over time: live and "
        "trashed documents and bytes. Append-only; every sync adds one too (and materializes "
        "this asset), so the statistics job is only needed between syncs.",
        group_name=names.group,
        kinds=KINDS,
        deps=[names.asset("papra_organizations")],
        metadata=table_metadata("organization_statistics"),
        pool=names.pool,
        required_resource_keys={names.papra, names.warehouse},
    )
    def papra_organization_statistics(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        return snapshot_and_report(context, names)

    return papra_organization_statistics


def snapshot_and_report(context: dg.AssetExecutionContext, names: Names) -> dg.MaterializeResult:
    papra, warehouse = names.papra_of(context), names.warehouse_of(context)
    store = warehouse.get_warehouse()
    with papra.get_client() as client:
        snapshot = snapshot_statistics(client, store, run_id=context.run.run_id)
        usage = client.stats.snapshot()
    for org in snapshot.gone:
        context.log.warning(gone_message(org))
    stats = StreamStats(
        inserted=snapshot.rows_written, requests=usage["requests"], retries=usage["retries"]
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": row_count(store, "organization_statistics"),
            **outcome_metadata(stats, "snapshot"),
            "snapshots": snapshot.rows_written,
            "skipped_organizations": snapshot.gone,
            **statistics_metadata(store, context.run.run_id),
        }
    )


class TaggingConfig(dg.Config):
    """Which tagging rules to apply."""

    organization_ids: list[str] = Field(
        default_factory=list, description="Organizations; empty means every one the key sees."
    )
    rule_ids: list[str] = Field(
        default_factory=list,
        description="Rules to apply; empty means every enabled rule (needs PAPRA_EMAIL and "
        "PAPRA_PASSWORD, since Papra serves tagging rules to logged-in sessions only).",
    )
    reason: str = Field(default="manual", description="Recorded with each application.")


def build_tagging_asset(names: Names = DEFAULT_NAMES) -> dg.AssetsDefinition:
    @dg.asset(
        key=names.asset("papra_tagging_rule_applications"),
        description="One row per tagging-rule apply request sent to Papra, with the task id it "
        "returned, the rule's content hash and why it was applied. Papra runs the task in the "
        "background; tags appear in papra_document_tags after the next sync.",
        group_name=names.group,
        kinds=KINDS,
        metadata=table_metadata("tagging_rule_applications"),
        pool=names.pool,
        required_resource_keys={names.papra, names.warehouse},
    )
    def papra_tagging_rule_applications(
        context: dg.AssetExecutionContext, config: TaggingConfig
    ) -> dg.MaterializeResult:
        return apply_and_report(context, config, names)

    return papra_tagging_rule_applications


def apply_and_report(
    context: dg.AssetExecutionContext, config: TaggingConfig, names: Names
) -> dg.MaterializeResult:
    papra, warehouse = names.papra_of(context), names.warehouse_of(context)
    store = warehouse.get_warehouse()
    with papra.get_client() as client:
        applications = apply_tagging_rules(
            client,
            store,
            config.organization_ids or papra.organization_ids or None,
            config.rule_ids or None,
            reason=config.reason,
        )
        usage = client.stats.snapshot()
    for application in applications:
        context.log.info(
            f"applied rule {application.tagging_rule_name or application.tagging_rule_id} in "
            f"{application.organization_id}: task {application.task_id}"
        )
    stats = StreamStats(
        inserted=len(applications), requests=usage["requests"], retries=usage["retries"]
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": row_count(store, "tagging_rule_applications"),
            **outcome_metadata(stats, "apply"),
            "reason": config.reason,
            "applications": [
                {
                    "organization_id": a.organization_id,
                    "rule_id": a.tagging_rule_id,
                    "rule_name": a.tagging_rule_name,
                    "task_id": a.task_id,
                }
                for a in applications
            ],
        }
    )


REPORT_ASSETS = {
    "papra_report_daily_documents": (
        "report_daily_documents",
        "Per organization and UTC day: documents uploaded and bytes added, documents trashed "
        "and restored, tag applications, activity events, and the live documents and bytes "
        "at the end of the day (reconstructed from document history and the activity log).",
    ),
    "papra_report_daily_activity": (
        "report_daily_activity",
        "Per organization, UTC day and activity event type (created, updated, deleted, "
        "restored, tagged, untagged): events and distinct documents.",
    ),
}


def build_report_assets(start_date: str, names: Names = DEFAULT_NAMES) -> dg.AssetsDefinition:
    """The daily report tables, partitioned by UTC day from ``start_date``.

    A backfill runs as one run over its whole range (one transaction); re-running a day
    replaces its rows.
    """
    partitions = dg.DailyPartitionsDefinition(start_date=start_date, timezone="UTC")

    @dg.multi_asset(
        name=names("papra_daily_reports"),
        specs=[
            dg.AssetSpec(
                names.asset(asset),
                description=description,
                deps=[
                    names.asset(d)
                    for d in ("papra_documents", "papra_document_activity", "papra_organizations")
                ],
                group_name=names.group,
                kinds=KINDS,
                metadata={"dagster/table_name": table},
                partitions_def=partitions,
            )
            for asset, (table, description) in REPORT_ASSETS.items()
        ],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=names.pool,
        required_resource_keys={names.warehouse},
    )
    def papra_daily_reports(context: dg.AssetExecutionContext) -> Iterator[dg.MaterializeResult]:
        warehouse = names.warehouse_of(context)
        window = context.partition_time_window
        first = window.start.date()
        last = (window.end - timedelta(days=1)).date()
        counts = refresh_daily_reports(warehouse.get_warehouse(), first, last)
        context.log.info(f"daily reports {first}..{last}: {counts}")
        common = {"first_day": first.isoformat(), "last_day": last.isoformat(), "mode": "replace"}
        yield dg.MaterializeResult(
            asset_key=names.asset("papra_report_daily_documents"),
            metadata={"dagster/row_count": counts.document_rows, "days": counts.days, **common},
        )
        yield dg.MaterializeResult(
            asset_key=names.asset("papra_report_daily_activity"),
            metadata={"dagster/row_count": counts.activity_rows, "days": counts.days, **common},
        )

    return papra_daily_reports
