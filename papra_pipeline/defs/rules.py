"""Tagging rules with the API key in Dagster: the planned additions (counts per rule), the
additions applied and recorded, and the job that applies them.

The rules are the YAML file of ``PAPRA_TAGGING_RULES`` (the component's ``tagging_rules``); the
key needs ``documents:update`` and ``tags:read``, checked before anything is planned or sent.
"""

from datetime import datetime
from functools import cache

import dagster as dg
from pydantic import Field

from papra_pipeline.defs.assets import KINDS, row_count, table_metadata
from papra_pipeline.defs.names import DEFAULT_NAMES, Names
from papra_pipeline.defs.resources import PapraResource, WarehouseResource
from papra_pipeline.sync.clock import utcnow
from papra_pipeline.sync.rules import (
    Plan,
    RulesError,
    apply_plan,
    check_apply_permissions,
    load_rules,
    plan_rules,
)
from papra_pipeline.warehouse.rules import Window

RULES_OP = "papra_tagging_rule_additions"
RULES_TABLE = "tagging_rule_additions"


class RulesConfig(dg.Config):
    """Which rules, where, and whether to send anything."""

    organization_ids: list[str] = Field(
        default_factory=list, description="Organizations; empty means every one synced."
    )
    rules: list[str] = Field(
        default_factory=list,
        description="Rule names; empty means every enabled rule of the file.",
    )
    dry_run: bool = Field(default=False, description="Plan and report, send nothing.")
    changed_after: str | None = Field(
        default=None,
        description="Only documents a sync stored as new or changed after this ISO time "
        "(the sensor sets it to the previous sync it saw).",
    )
    changed_until: str | None = Field(
        default=None, description="...and at or before this ISO time (the sync it saw)."
    )


def rules_run_config(
    organization_ids: list[str] | None = None,
    *,
    changed_after: datetime | None = None,
    changed_until: datetime | None = None,
    names: Names = DEFAULT_NAMES,
) -> dict:
    config: dict = {}
    if organization_ids:
        config["organization_ids"] = list(organization_ids)
    if changed_after is not None:
        config["changed_after"] = changed_after.isoformat()
    if changed_until is not None:
        config["changed_until"] = changed_until.isoformat()
    return {"ops": {rules_op(names): {"config": config}}}


def rules_op(names: Names = DEFAULT_NAMES) -> str:
    """The op of the additions asset: Dagster names it after the asset key."""
    return names.asset(RULES_OP).to_python_identifier()


def _plan(papra: PapraResource, warehouse: WarehouseResource, config: RulesConfig) -> Plan:
    if not papra.tagging_rules:
        raise dg.Failure(
            "No tagging rules: set PAPRA_TAGGING_RULES (or the component's tagging_rules) to a "
            "YAML file of rules."
        )
    window = None
    if config.changed_after:
        until = datetime.fromisoformat(config.changed_until) if config.changed_until else None
        window = Window(datetime.fromisoformat(config.changed_after), until)
    try:
        return plan_rules(
            warehouse.get_warehouse(),
            load_rules(papra.tagging_rules),
            organization_ids=config.organization_ids or papra.organization_ids or None,
            rule_names=config.rules or None,
            window=window,
        )
    except RulesError as exc:
        raise dg.Failure(str(exc)) from None


def _per_rule_metadata(counts: dict[str, int], what: str) -> dict[str, int]:
    """One plain number per rule: the UI plots each across materializations."""
    return {f"{what}: {rule}": count for rule, count in sorted(counts.items())}


def build_rule_plan_asset(names: Names = DEFAULT_NAMES) -> dg.AssetsDefinition:
    @dg.asset(
        key=names.asset("papra_tagging_rule_plan"),
        description="The tags the rules of PAPRA_TAGGING_RULES would add now, from the "
        "warehouse (nothing is sent): per rule, the count (plotted over time), and the "
        "documents in total.",
        group_name=names.group,
        kinds=KINDS,
        pool=names.pool,
        required_resource_keys={names.papra, names.warehouse},
    )
    def papra_tagging_rule_plan(
        context: dg.AssetExecutionContext, config: RulesConfig
    ) -> dg.MaterializeResult:
        plan = _plan(names.papra_of(context), names.warehouse_of(context), config)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(plan.additions),
                "documents": plan.documents,
                "pending": len(plan.pending),
                **_per_rule_metadata(plan.per_rule(), "planned"),
            }
        )

    return papra_tagging_rule_plan


def build_rule_additions_asset(names: Names = DEFAULT_NAMES) -> dg.AssetsDefinition:
    @dg.asset(
        key=names.asset(RULES_OP),
        description="One row per tag a rule of PAPRA_TAGGING_RULES added to a document through "
        "the API key's batch route: rule, document, tag, run and time. Applying again adds "
        "only what is new; the tags reach papra_document_tags with the next sync.",
        group_name=names.group,
        kinds=KINDS,
        metadata=table_metadata(RULES_TABLE),
        pool=names.pool,
        required_resource_keys={names.papra, names.warehouse},
    )
    def papra_tagging_rule_additions(
        context: dg.AssetExecutionContext, config: RulesConfig
    ) -> dg.MaterializeResult:
        return apply_and_record(context, config, names)

    return papra_tagging_rule_additions


def apply_and_record(
    context: dg.AssetExecutionContext, config: RulesConfig, names: Names
) -> dg.MaterializeResult:
    papra, warehouse = names.papra_of(context), names.warehouse_of(context)
    store = warehouse.get_warehouse()
    with papra.get_client() as client:
        try:
            check_apply_permissions(client)  # before anything is planned or sent
        except RulesError as exc:
            raise dg.Failure(str(exc)) from None
        plan = _plan(papra, warehouse, config)
        metadata: dict[str, object] = {
            "planned": len(plan.additions),
            "documents": plan.documents,
            "dry_run": config.dry_run,
            **_per_rule_metadata(plan.per_rule(), "planned"),
        }
        if config.dry_run:
            return dg.MaterializeResult(
                metadata=metadata | {"dagster/row_count": row_count(store, RULES_TABLE)}
            )
        started = utcnow()
        result = apply_plan(client, store, plan, context.run.run_id, log=context.log.info)
    for refused in result.refused:
        context.log.warning(
            f"not added in {refused.organization_id} to {', '.join(refused.document_ids)}: "
            f"{refused.reason}"
        )
    metadata |= {
        "dagster/row_count": row_count(store, RULES_TABLE),
        "added": result.applied,
        "requests": result.requests,
        "refused_documents": sum(len(r.document_ids) for r in result.refused),
        "duration_seconds": round((utcnow() - started).total_seconds(), 3),
        **_per_rule_metadata(result.per_rule, "added"),
    }
    if result.refused:
        # What was applied is recorded; the run fails so the refusal is seen.
        raise dg.Failure(
            f"{len(result.refused)} request(s) refused; the rest applied",
            metadata=metadata,
        )
    return dg.MaterializeResult(metadata=metadata)


@cache
def apply_rules_job(names: Names = DEFAULT_NAMES) -> "dg.UnresolvedAssetJobDefinition":
    return dg.define_asset_job(
        names("papra_apply_rules_job"),
        selection=dg.AssetSelection.assets(names.asset(RULES_OP)),
        description="Apply the rules of PAPRA_TAGGING_RULES with the API key (documents:update, "
        "tags:read): one request per tag set and 1,000 documents, each addition recorded. "
        "Config: organization_ids, rules (names), dry_run.",
    )
