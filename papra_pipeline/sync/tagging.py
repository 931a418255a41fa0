"""Apply Papra tagging rules and record each request in ``tagging_rule_applications``.

Papra queues an apply as a background task and offers no way to poll it, so the task id we
record is the only trace. A rule's ``updatedAt`` never moves when it is edited, so changes
are detected by hashing what the rule does (:func:`rule_fingerprint`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import partial

import pandas as pd

from papra_pipeline.client import PapraClient, PapraSessionRequiredError, TaggingRule
from papra_pipeline.sync.clock import utcnow
from papra_pipeline.sync.gone import unless_gone
from papra_pipeline.sync.records import short_digest
from papra_pipeline.warehouse import Warehouse

# Bookkeeping keys Papra puts on conditions and actions; they change when a rule is saved
# even if what it does does not, so they stay out of the fingerprint.
_VOLATILE_KEYS = frozenset({"id", "createdAt", "updatedAt", "taggingRuleId", "tag"})


@dataclass(frozen=True)
class RuleApplication:
    """One apply request sent to Papra; the row written to ``tagging_rule_applications``."""

    task_id: str
    organization_id: str
    tagging_rule_id: str
    tagging_rule_name: str | None
    rule_hash: str | None
    reason: str
    applied_at: datetime


def _stable(parts: Sequence[dict]) -> list[dict]:
    cleaned = [{k: v for k, v in part.items() if k not in _VOLATILE_KEYS} for part in parts]
    return sorted(cleaned, key=lambda part: json.dumps(part, sort_keys=True, default=str))


def rule_fingerprint(rule: TaggingRule) -> str:
    """Hash of name, enabled flag, match mode, conditions and action tags."""
    content = {
        "name": rule.name,
        "enabled": rule.enabled,
        "condition_match_mode": rule.condition_match_mode,
        "conditions": _stable(rule.conditions),
        "actions": _stable(rule.actions),
    }
    return short_digest(content)


def list_rules(
    client: PapraClient, organization_ids: Sequence[str] | None = None
) -> dict[str, tuple[TaggingRule, ...]]:
    """Rules per organization (every organization the key sees by default); needs a session.

    An organization that is gone is left out, with a warning.
    """
    if organization_ids is None:
        organization_ids = [org.id for org in client.list_organizations()]
    rules = {}
    for org in organization_ids:
        org_rules = unless_gone(org, partial(client.list_tagging_rules, org))
        if org_rules is not None:
            rules[org] = org_rules
    return rules


def apply_tagging_rules(
    client: PapraClient,
    warehouse: Warehouse,
    organization_ids: Sequence[str] | None = None,
    rule_ids: Sequence[str] | None = None,
    *,
    reason: str = "manual",
    now: Callable[[], datetime] = utcnow,
) -> list[RuleApplication]:
    """Apply the given rules (or every enabled rule) and record each task id in one write.

    With a session (``PAPRA_EMAIL``/``PAPRA_PASSWORD``) rules are listed so they can be
    chosen, named and hashed. Without one, explicit ``rule_ids`` in exactly one organization
    are sent with the API key as Papra's docs describe (this Papra version refuses that with
    401, raised as ``PapraSessionRequiredError``).
    """
    wanted = list(dict.fromkeys(rule_ids or ()))
    try:
        rules = list_rules(client, organization_ids)
    except PapraSessionRequiredError:
        if not wanted or organization_ids is None or len(organization_ids) != 1:
            raise
        chosen = [(organization_ids[0], rule_id, None) for rule_id in wanted]
    else:
        chosen = [
            (org, rule.id, rule)
            for org, org_rules in rules.items()
            for rule in org_rules
            if (rule.id in wanted if wanted else rule.enabled)
        ]
        missing = sorted(set(wanted) - {rule_id for _, rule_id, _ in chosen})
        if missing:
            raise ValueError(
                f"Tagging rule(s) {', '.join(missing)} not found in organization(s) "
                f"{', '.join(rules) or 'none'}."
            )
    applications: list[RuleApplication] = []
    try:
        for org, rule_id, rule in chosen:
            task = client.apply_tagging_rule(org, rule_id)
            applications.append(
                RuleApplication(
                    task_id=task.task_id,
                    organization_id=org,
                    tagging_rule_id=rule_id,
                    tagging_rule_name=rule.name if rule else None,
                    rule_hash=rule_fingerprint(rule) if rule else None,
                    reason=reason,
                    applied_at=now(),
                )
            )
    finally:
        # Papra has already queued what was applied: record it even if a later rule failed.
        if applications:
            with warehouse.write() as session:
                session.append(
                    "tagging_rule_applications", pd.DataFrame([asdict(a) for a in applications])
                )
    return applications
