"""Asset checks: what must hold in the warehouse after a sync, read from the readers' file
with the queries of :mod:`papra_pipeline.warehouse.health`.

They only read, so they take no slot of the writer pool and can be re-run from the UI at
any time.
"""

from collections.abc import Iterator

import dagster as dg

from papra_pipeline.defs.assets import SYNCED_TABLES
from papra_pipeline.defs.names import DEFAULT_NAMES, Names
from papra_pipeline.defs.resources import WarehouseResource
from papra_pipeline.warehouse import TABLES, WarehouseMissingError
from papra_pipeline.warehouse.health import (
    key_health,
    last_successful_run,
    listed_untyped_values,
    live_counts,
    reference_health,
)

UNIQUE_IDS = "unique_ids"


def _missing(check_name: str, asset: dg.AssetKey) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=check_name,
        passed=False,
        description="The warehouse file does not exist yet: run the full sync job first.",
    )


def unique_ids(names: Names) -> dg.AssetChecksDefinition:
    @dg.multi_asset_check(
        name=names("papra_unique_ids"),
        specs=[
            dg.AssetCheckSpec(
                UNIQUE_IDS,
                asset=names.asset(t.asset),
                description=f"Every row of {t.table} has a non-null, unique "
                f"({', '.join(TABLES[t.table].key)}).",
            )
            for t in SYNCED_TABLES
        ],
        required_resource_keys={names.warehouse},
    )
    def papra_unique_ids(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        warehouse = names.warehouse_of(context)
        try:
            with warehouse.get_warehouse().read() as con:
                for t in SYNCED_TABLES:
                    health = key_health(con, t.table)
                    yield dg.AssetCheckResult(
                        asset_key=names.asset(t.asset),
                        check_name=UNIQUE_IDS,
                        passed=health.duplicates == 0 and health.null_keys == 0,
                        metadata={
                            "rows": health.rows,
                            "duplicates": health.duplicates,
                            "null_keys": health.null_keys,
                        },
                    )
        except WarehouseMissingError:
            for t in SYNCED_TABLES:
                yield _missing(UNIQUE_IDS, names.asset(t.asset))

    return papra_unique_ids


def _references_check(
    names: Names, asset: str, table: str, description: str, missing_names: dict[str, str]
) -> dg.AssetChecksDefinition:
    """A check that every row of ``table`` points at stored rows; ``missing_names`` names
    the metadata entry counting the misses of each referencing column."""
    key = names.asset(asset)

    @dg.asset_check(
        asset=key,
        name="references_existing_rows",
        description=description,
        required_resource_keys={names.warehouse},
    )
    def check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        warehouse = names.warehouse_of(context)
        try:
            with warehouse.get_warehouse().read() as con:
                health = reference_health(con, table)
        except WarehouseMissingError:
            return _missing("references_existing_rows", key)
        return dg.AssetCheckResult(
            passed=not any(health.missing.values()),
            metadata={
                "rows": health.rows,
                **{missing_names[c]: n for c, n in health.missing.items()},
            },
        )

    return check


def document_tags_reference_existing_rows(names: Names) -> dg.AssetChecksDefinition:
    return _references_check(
        names,
        "papra_document_tags",
        "document_tags",
        "Every document tag points at a stored document and a stored tag.",
        {"document_id": "missing_documents", "tag_id": "missing_tags"},
    )


def custom_property_values_reference_existing_rows(names: Names) -> dg.AssetChecksDefinition:
    return _references_check(
        names,
        "papra_document_custom_property_values",
        "document_custom_property_values",
        "Every custom-property value points at a stored document and a stored property definition.",
        {"document_id": "missing_documents", "property_definition_id": "missing_definitions"},
    )


def live_count_matches_api(names: Names) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=names.asset("papra_documents"),
        name="live_count_matches_api",
        description="For each organization of the last successful sync, the live documents in "
        "the warehouse equal the documentsCount Papra reported during that sync.",
        required_resource_keys={names.warehouse},
    )
    def check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return live_count_result(names.warehouse_of(context), names)

    return check


def live_count_result(warehouse: WarehouseResource, names: Names) -> dg.AssetCheckResult:
    try:
        with warehouse.get_warehouse().read() as con:
            last = last_successful_run(con)
            if not last:
                return dg.AssetCheckResult(
                    passed=False, description="No successful sync is recorded yet."
                )
            run_id, mode = last
            rows = live_counts(con, run_id)
    except WarehouseMissingError:
        return _missing("live_count_matches_api", names.asset("papra_documents"))
    organizations = {org: {"api": api, "warehouse": live} for org, api, live in rows}
    mismatched = sorted(org for org, c in organizations.items() if c["api"] != c["warehouse"])
    return dg.AssetCheckResult(
        passed=bool(rows) and not mismatched,
        metadata={
            "sync_run_id": run_id,
            "mode": mode,
            "organizations": organizations,
            "mismatched_organizations": mismatched,
        },
    )


UNTYPED_SHOWN = 50


def all_values_typed(names: Names) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=names.asset("papra_documents"),
        name="all_values_typed",
        description="Every value Papra sent fits its typed column. A value the sync could not "
        "type (a shape a later Papra may send) does not stop the sync: the document is stored "
        "with that column empty and the value exactly as sent in _raw or raw_value, and it is "
        "listed in _papra_untyped_values. This check warns while any is listed.",
        required_resource_keys={names.warehouse},
    )
    def check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return untyped_result(names.warehouse_of(context), names)

    return check


def untyped_result(warehouse: WarehouseResource, names: Names) -> dg.AssetCheckResult:
    try:
        with warehouse.get_warehouse().read() as con:
            rows = listed_untyped_values(con)
    except WarehouseMissingError:
        return _missing("all_values_typed", names.asset("papra_documents"))
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        description=None
        if not rows
        else f"{len(rows)} value(s) Papra sent could not be typed; the documents are stored "
        "with the typed column empty and the exact value in _raw or raw_value. Upgrade "
        "papra-pipeline if Papra changed a format, or correct the value in Papra.",
        metadata={
            "untyped_values": len(rows),
            "documents": len({document_id for document_id, _, _ in rows}),
            "values": [
                f"{document_id} {field}: {reason}"
                for document_id, field, reason in rows[:UNTYPED_SHOWN]
            ],
        },
    )


def build_checks(names: Names = DEFAULT_NAMES) -> list[dg.AssetChecksDefinition]:
    # Freshness is not a check (one would only run after a sync, so could never see syncs
    # stop): the synced assets carry a FreshnessPolicy the Dagster daemon evaluates.
    return [
        unique_ids(names),
        document_tags_reference_existing_rows(names),
        custom_property_values_reference_existing_rows(names),
        live_count_matches_api(names),
        all_values_typed(names),
    ]
