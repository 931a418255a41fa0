"""Sensors: react to changes in Papra and to finished syncs.

Cursors are small JSON documents. Run keys are derived from the cursor and what changed, so
a tick evaluated twice from the same cursor (a crashed daemon, a retried tick) never
requests the same run twice, while the same state seen again later (a document trashed,
then restored) still gets its own run. Papra being briefly unavailable makes a tick skip
with the reason; a rejected API key or login makes it fail, visibly, until fixed.
"""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import dagster as dg

from papra_pipeline.client import (
    PapraConnectionError,
    PapraRateLimitError,
    PapraServerError,
    PapraTimeoutError,
)
from papra_pipeline.defs.jobs import (
    apply_tagging_rules_job,
    full_sync_job,
    quick_sync_job,
    sync_run_config,
    tagging_run_config,
)
from papra_pipeline.defs.names import DEFAULT_NAMES, Names
from papra_pipeline.defs.resources import PapraResource, WarehouseResource
from papra_pipeline.defs.rules import apply_rules_job, rules_run_config
from papra_pipeline.sync.gone import gone_message
from papra_pipeline.sync.probe import probe
from papra_pipeline.sync.records import short_digest
from papra_pipeline.sync.tagging import list_rules, rule_fingerprint
from papra_pipeline.warehouse import WarehouseLockedError, WarehouseMissingError
from papra_pipeline.warehouse.figures import document_rows_per_organization
from papra_pipeline.warehouse.inbox import WebhookInbox
from papra_pipeline.warehouse.rules import changed_documents, newest_sync

# Each sensor reads its instance's resources from ``context.resources`` under the instance's
# keys (``Names``). Called directly (in tests), Dagster also passes them as keyword arguments:
# ``**_called_with`` takes those.
TRANSIENT_ERRORS = (PapraConnectionError, PapraRateLimitError, PapraServerError, PapraTimeoutError)
# Sensors must finish within Dagster's tick timeout: never wait long for the DuckDB lock.
SENSOR_LOCK_TIMEOUT = 5.0


def _load(cursor: str | None) -> dict[str, Any]:
    return json.loads(cursor) if cursor else {}


def _dump(cursor: dict[str, Any]) -> str:
    return json.dumps(cursor, sort_keys=True, separators=(",", ":"))


def _transient(exc: Exception) -> dg.SkipReason:
    return dg.SkipReason(
        f"Papra is unavailable right now ({type(exc).__name__}: {exc}); "
        "will look again on the next tick."
    )


def build_change_sensor(
    minimum_interval_seconds: int, names: Names = DEFAULT_NAMES
) -> dg.SensorDefinition:
    @dg.sensor(
        name=names("papra_change_sensor"),
        jobs=[quick_sync_job(names), full_sync_job(names)],
        minimum_interval_seconds=minimum_interval_seconds,
        description="Probes Papra cheaply (statistics and newest document per organization) "
        "and requests a quick sync of the organizations whose fingerprint moved (a full sync when "
        "a new organization appears). Renames and tag edits do not move it: the scheduled "
        "full sync catches those.",
        required_resource_keys={names.papra},
    )
    def papra_change_sensor(
        context: dg.SensorEvaluationContext, **_called_with: object
    ) -> dg.SensorResult | dg.SkipReason:
        papra = names.papra_of(context)
        cursor = _load(context.cursor)
        previous = cursor.get("organizations", {})
        try:
            with papra.get_client() as client:
                result = probe(client, papra.organization_ids or None)
        except TRANSIENT_ERRORS as exc:
            return _transient(exc)
        # Gone since the last tick (no longer listed) or while probing (403): the others go on.
        gone = sorted(set(result.gone) | (set(previous) - set(result.organizations)))
        for org in gone:
            context.log.warning(gone_message(org))
        changed = result.changed_since(previous)
        if not changed:
            return dg.SensorResult(
                skip_reason=f"No change in {len(result.organizations)} organization(s) "
                f"({result.requests} requests)." + "".join(f" {gone_message(org)}" for org in gone),
                cursor=_dump({**cursor, "organizations": result.organizations}),
            )
        seq = cursor.get("seq", 0) + 1
        states = {org: result.organizations[org] for org in changed}
        # A quick sync only reads organizations the warehouse knows: a new one needs a full
        # sync, which lists organizations (the first tick has nothing to compare with).
        new = bool(previous) and any(org not in previous for org in changed)
        request = (
            dg.RunRequest(
                run_key=f"full-sync-{seq}-{short_digest(states)}",
                job_name=full_sync_job(names).name,
                tags={"papra/trigger": "change_sensor"},
            )
            if new
            else dg.RunRequest(
                run_key=f"quick-sync-{seq}-{short_digest(states)}",
                job_name=quick_sync_job(names).name,
                run_config=sync_run_config("quick", changed, names=names),
                tags={"papra/trigger": "change_sensor"},
            )
        )
        return dg.SensorResult(
            run_requests=[request],
            cursor=_dump({"seq": seq, "organizations": result.organizations}),
        )

    return papra_change_sensor


def _document_counts(warehouse: WarehouseResource) -> dict[str, int] | None:
    """Document rows per organization (rows are never deleted, so it only grows).

    ``None`` when a sync holds the file right now: the next tick will look again.
    """
    try:
        with warehouse.get_warehouse(lock_timeout=SENSOR_LOCK_TIMEOUT).read() as con:
            return document_rows_per_organization(con)
    except WarehouseMissingError:
        return {}
    except WarehouseLockedError:
        return None


def _rules_file_request(
    warehouse: WarehouseResource, seen: str | None, names: Names
) -> tuple[str | None, dg.RunRequest | None, str]:
    """The API-key path: a run of papra_apply_rules_job for the documents the syncs since
    ``seen`` (the finish time of the last sync looked at) stored as new or changed.

    Returns the new mark, the request (or ``None``) and what happened, for the skip reason.
    """
    try:
        with warehouse.get_warehouse(lock_timeout=SENSOR_LOCK_TIMEOUT).read() as con:
            newest = newest_sync(con)
            if newest is None:
                return seen, None, "No sync yet for the tagging rules to look at."
            run_id, finished = newest
            if seen is None:
                return (
                    finished.isoformat(),
                    None,
                    (
                        "Recorded the latest sync; documents later syncs bring will be tagged "
                        "(run papra_apply_rules_job once for the documents there already)."
                    ),
                )
            after = datetime.fromisoformat(seen)
            changed = changed_documents(con, after) if finished > after else {}
    except WarehouseMissingError:
        return seen, None, "No warehouse yet for the tagging rules."
    except WarehouseLockedError:
        return seen, None, "The warehouse is being written; will look again."
    if not changed:
        return finished.isoformat(), None, "No new or changed documents for the tagging rules."
    request = dg.RunRequest(
        run_key=f"rules-file-{run_id}",
        job_name=apply_rules_job(names).name,
        run_config=rules_run_config(
            sorted(changed), changed_after=after, changed_until=finished, names=names
        ),
        tags={"papra/trigger": "tagging_rules_sensor"},
    )
    return finished.isoformat(), request, ""


def build_tagging_rules_sensor(
    minimum_interval_seconds: int, reapply_rule_ids: Sequence[str], names: Names = DEFAULT_NAMES
) -> dg.SensorDefinition:
    """``reapply_rule_ids``: rules to apply again whenever a sync brought new documents."""
    reapply = tuple(reapply_rule_ids)

    def papras_own_rules(
        context: dg.SensorEvaluationContext,
        papra: PapraResource,
        warehouse: WarehouseResource,
    ) -> dg.SensorResult | dg.SkipReason:
        try:
            with papra.get_client() as client:
                rules = list_rules(client, papra.organization_ids or None)
        except TRANSIENT_ERRORS as exc:
            return _transient(exc)
        hashes = {
            org: {rule.id: rule_fingerprint(rule) for rule in org_rules}
            for org, org_rules in rules.items()
        }
        enabled = {
            org: {rule.id for rule in org_rules if rule.enabled} for org, org_rules in rules.items()
        }
        counts = _document_counts(warehouse)
        cursor = _load(context.cursor)
        new_cursor = {
            "seq": cursor.get("seq", 0),
            "rules": hashes,
            "documents": cursor.get("documents", {}) if counts is None else counts,
        }
        if not cursor:
            total = sum(len(h) for h in hashes.values())
            return dg.SensorResult(
                skip_reason=f"Recorded {total} tagging rule(s) as they are now; changes from "
                "here on will be applied.",
                cursor=_dump(new_cursor),
            )

        requests = []
        seen_rules = cursor.get("rules", {})
        seen_documents = cursor.get("documents", {})
        for org in sorted(hashes):
            changed = sorted(
                rule_id
                for rule_id, fingerprint in hashes[org].items()
                if rule_id in enabled[org] and seen_rules.get(org, {}).get(rule_id) != fingerprint
            )
            if changed:
                new_cursor["seq"] += 1
                changed_hashes = {rule_id: hashes[org][rule_id] for rule_id in changed}
                digest = short_digest(changed_hashes)
                requests.append(
                    dg.RunRequest(
                        run_key=f"rules-changed-{new_cursor['seq']}-{org}-{digest}",
                        job_name=apply_tagging_rules_job(names).name,
                        run_config=tagging_run_config([org], changed, "rule_changed", names),
                        tags={"papra/trigger": "tagging_rules_sensor"},
                    )
                )
            grown = counts is not None and counts.get(org, 0) > seen_documents.get(org, 0)
            again = sorted((set(reapply) & enabled[org]) - set(changed))
            if grown and again:
                requests.append(
                    dg.RunRequest(
                        run_key=f"rules-new-documents-{org}-{counts[org]}",
                        job_name=apply_tagging_rules_job(names).name,
                        run_config=tagging_run_config([org], again, "new_documents", names),
                        tags={"papra/trigger": "tagging_rules_sensor"},
                    )
                )
        if not requests:
            return dg.SensorResult(
                skip_reason="No new or changed enabled rule, and no new documents for the "
                "rules to re-apply.",
                cursor=_dump(new_cursor),
            )
        return dg.SensorResult(run_requests=requests, cursor=_dump(new_cursor))

    @dg.sensor(
        name=names("papra_tagging_rules_sensor"),
        jobs=[apply_tagging_rules_job(names), apply_rules_job(names)],
        minimum_interval_seconds=minimum_interval_seconds,
        description="With PAPRA_TAGGING_RULES: requests papra_apply_rules_job (the API key) "
        "for the documents each new sync stored as new or changed. With PAPRA_EMAIL and "
        "PAPRA_PASSWORD: applies Papra's own rules that are new or changed (their content is "
        "hashed: Papra never moves a rule's updatedAt), and re-applies the rules listed in "
        "PAPRA_REAPPLY_RULES_ON_NEW_DOCUMENTS when a sync brought new documents. The first "
        "tick only records where things are.",
        required_resource_keys={names.papra, names.warehouse},
    )
    def papra_tagging_rules_sensor(
        context: dg.SensorEvaluationContext, **_called_with: object
    ) -> dg.SensorResult | dg.SkipReason:
        papra, warehouse = names.papra_of(context), names.warehouse_of(context)
        if not papra.has_session and not papra.tagging_rules:
            return dg.SkipReason(
                "No tagging rules to apply: set PAPRA_TAGGING_RULES to a rules file (applied "
                "with the API key), or PAPRA_EMAIL and PAPRA_PASSWORD for Papra's own rules."
            )
        if not papra.tagging_rules:
            return papras_own_rules(context, papra, warehouse)
        cursor = _load(context.cursor)
        requests: list[dg.RunRequest] = []
        reasons: list[str] = []
        if papra.has_session:
            own = papras_own_rules(context, papra, warehouse)
            if isinstance(own, dg.SkipReason):  # Papra unavailable: its part waits
                reasons.append(own.skip_message or "")
            else:
                requests += own.run_requests or []
                reasons.append(own.skip_reason.skip_message if own.skip_reason else "")
                cursor = {**_load(own.cursor), "rules_file": cursor.get("rules_file")}
        mark, request, reason = _rules_file_request(warehouse, cursor.get("rules_file"), names)
        cursor["rules_file"] = mark
        requests += [request] if request else []
        reasons.append(reason)
        if requests:
            return dg.SensorResult(run_requests=requests, cursor=_dump(cursor))
        return dg.SensorResult(skip_reason=" ".join(r for r in reasons if r), cursor=_dump(cursor))

    return papra_tagging_rules_sensor


def build_sensors(
    change_seconds: int,
    tagging_seconds: int,
    reapply_rule_ids: Sequence[str],
    names: Names = DEFAULT_NAMES,
) -> list[dg.SensorDefinition]:
    return [
        build_change_sensor(change_seconds, names),
        build_tagging_rules_sensor(tagging_seconds, reapply_rule_ids, names),
    ]


def build_webhook_sensor(
    minimum_interval_seconds: int, names: Names = DEFAULT_NAMES
) -> dg.SensorDefinition:
    """Requests a quick sync while the webhook inbox holds pending deliveries."""

    @dg.sensor(
        name=names("papra_webhook_sensor"),
        job=quick_sync_job(names),
        minimum_interval_seconds=minimum_interval_seconds,
        description="Requests a quick sync when `papra-pipeline webhooks serve` has stored "
        "deliveries the sync has not consumed yet; the sync re-reads each document they name "
        "(text, activity, tags, trash state). One run per high-water mark of the inbox.",
        required_resource_keys={names.warehouse},
    )
    def papra_webhook_sensor(
        context: dg.SensorEvaluationContext, **_called_with: object
    ) -> dg.SensorResult | dg.SkipReason:
        path = names.warehouse_of(context).inbox_path()
        if not path.exists():
            return dg.SkipReason(
                f"No webhook inbox at {path}: start `papra-pipeline webhooks serve` and "
                "register it with `papra-pipeline webhooks register`."
            )
        with WebhookInbox(path) as inbox:
            pending, high_water_mark = inbox.pending_summary()
        if not pending:
            return dg.SkipReason("No pending webhook deliveries.")
        # Deliveries stored after this request raise the mark and get a run of their own;
        # those this run leaves pending (it failed) wait for the next delivery or full sync.
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"webhooks-{high_water_mark}",
                    run_config=sync_run_config("quick", names=names),
                    tags={"papra/trigger": "webhook_sensor"},
                )
            ]
        )

    return papra_webhook_sensor
