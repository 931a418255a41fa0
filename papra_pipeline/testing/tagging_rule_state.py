"""Tagging rules of the fake Papra and how they tag documents (a mixin of ``FakeState``)."""

from __future__ import annotations

from papra_pipeline.testing.common import PapraError, iso
from papra_pipeline.testing.models import (
    Document,
    Organization,
    RuleAction,
    RuleCondition,
    TaggingRule,
)

RULE_OPERATORS = ("equal", "not_equal", "contains", "not_contains", "starts_with", "ends_with")


def _rule_not_found() -> PapraError:
    return PapraError(404, "tagging-rules.not-found", "Tagging rule not found")


def _validate(operator: str, value: str, subject: str, case_sensitive: bool) -> bool:
    """One operator, as Papra's ``tagging-rule-conditions.models.ts``: both sides lowered
    (JavaScript's ``toLowerCase``, which Python's ``str.lower`` matches) unless the condition
    is case-sensitive; the negative operators negate the positive ones."""
    if operator.startswith("not_"):
        return not _validate(operator[4:], value, subject, case_sensitive)
    if not case_sensitive:
        value, subject = value.lower(), subject.lower()
    return {
        "equal": value == subject,
        "contains": value in subject,
        "starts_with": subject.startswith(value),
        "ends_with": subject.endswith(value),
    }[operator]


def rule_matches(rule: TaggingRule, doc: Document) -> bool:
    """Papra's ``applyTaggingRule``: no condition means "always"; the field's value is the
    document's column, ``""`` when unset (text not extracted yet is ``""`` too); ``any`` needs
    one condition, ``all`` (the default) every one."""
    if not rule.conditions:
        return True
    results = (
        _validate(
            cond.operator,
            cond.value,
            (doc.name if cond.field == "name" else doc.content) or "",
            cond.is_case_sensitive,
        )
        for cond in rule.conditions
    )
    return any(results) if rule.condition_match_mode == "any" else all(results)


class TaggingRuleState:
    """Tagging rules: the ``FakeState`` methods for them."""

    def create_tagging_rule(
        self,
        org_id: str,
        name: str,
        conditions: list[dict] | None = None,
        tag_ids: list[str] | None = None,
        enabled: bool = True,
        condition_match_mode: str = "all",
        description: str | None = None,
        *,
        user_id: str | None = None,
    ) -> str:
        with self.lock:
            org = self.org(org_id, user_id)
            rule = TaggingRule(
                self.ids.new("tr"),
                self.now(),
                org.id,
                name,
                description,
                enabled,
                condition_match_mode,
            )
            self._set_rule_parts(org, rule, conditions or [], tag_ids or [])
            org.rules[rule.id] = rule
            return rule.id

    def _set_rule_parts(
        self, org: Organization, rule: TaggingRule, conditions: list[dict], tag_ids: list[str]
    ) -> None:
        for tag_id in tag_ids:
            self._tag(org, tag_id)
        for cond in conditions:
            if cond["field"] not in ("name", "content") or cond["operator"] not in RULE_OPERATORS:
                raise ValueError(f"unsupported tagging-rule condition {cond!r}")
        rule.conditions = [
            RuleCondition(
                self.ids.new("trc"),
                self.now(),
                rule.id,
                c["field"],
                c["operator"],
                c["value"],
                c.get("isCaseSensitive", False),
            )
            for c in conditions
        ]
        rule.actions = [RuleAction(self.ids.new("tra"), self.now(), rule.id, t) for t in tag_ids]

    def update_tagging_rule(
        self,
        org_id: str,
        rule_id: str,
        *,
        name: str | None = None,
        conditions: list[dict] | None = None,
        tag_ids: list[str] | None = None,
        enabled: bool | None = None,
        condition_match_mode: str | None = None,
        description: str | None = None,
        user_id: str | None = None,
    ) -> None:
        with self.lock:
            org = self.org(org_id, user_id)
            rule = org.rules.get(rule_id)
            if rule is None:
                raise _rule_not_found()
            if name is not None:
                rule.name = name
            if description is not None:
                rule.description = description
            if enabled is not None:
                rule.enabled = enabled
            if condition_match_mode is not None:
                rule.condition_match_mode = condition_match_mode
            self._set_rule_parts(
                org,
                rule,
                conditions
                if conditions is not None
                else [
                    {
                        "field": c.field,
                        "operator": c.operator,
                        "value": c.value,
                        "isCaseSensitive": c.is_case_sensitive,
                    }
                    for c in rule.conditions
                ],
                tag_ids if tag_ids is not None else [a.tag_id for a in rule.actions],
            )

    def delete_tagging_rule(self, org_id: str, rule_id: str, *, user_id: str | None = None) -> None:
        with self.lock:
            org = self.org(org_id, user_id)
            if org.rules.pop(rule_id, None) is None:
                raise _rule_not_found()

    def tagging_rule_api(self, org: Organization, rule: TaggingRule) -> dict:
        return {
            "id": rule.id,
            "createdAt": iso(rule.created_at),
            "updatedAt": iso(rule.created_at),
            "organizationId": rule.organization_id,
            "name": rule.name,
            "description": rule.description,
            "enabled": rule.enabled,
            "conditionMatchMode": rule.condition_match_mode,
            "conditions": [c.to_api() for c in rule.conditions],
            "actions": [
                {
                    "id": a.id,
                    "createdAt": iso(a.created_at),
                    "updatedAt": iso(a.created_at),
                    "taggingRuleId": a.rule_id,
                    "tagId": a.tag_id,
                    "tag": org.tags[a.tag_id].to_api() if a.tag_id in org.tags else None,
                }
                for a in rule.actions
            ],
        }

    def list_tagging_rules(self, org_id: str, *, user_id: str | None = None) -> list[dict]:
        with self.lock:
            org = self.org(org_id, user_id)
            rules = sorted(org.rules.values(), key=lambda r: (r.created_at, r.id))
            return [self.tagging_rule_api(org, r) for r in rules]

    def apply_tagging_rule(self, org_id: str, rule_id: str, *, user_id: str | None = None) -> str:
        """Apply one rule (even a disabled one) to every non-trashed document, synchronously."""
        with self.lock:
            org = self.org(org_id, user_id)
            rule = org.rules.get(rule_id)
            if rule is None:
                raise _rule_not_found()
            for doc in list(org.active.items):
                self._apply_rule(org, rule, doc)
            return self.ids.bare()

    def _apply_rule(self, org: Organization, rule: TaggingRule, doc: Document) -> None:
        if rule_matches(rule, doc):
            for action in rule.actions:
                if action.tag_id in org.tags and action.tag_id not in doc.tag_ids:
                    self._link(org, doc, action.tag_id, None)

    def _run_enabled_rules(self, org: Organization, doc: Document) -> None:
        for rule in sorted(org.rules.values(), key=lambda r: (r.created_at, r.id)):
            if rule.enabled:
                self._apply_rule(org, rule, doc)
