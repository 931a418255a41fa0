"""Tagging rules the pipeline evaluates itself: read from YAML, checked, planned over the
warehouse and applied through the API key's batch tag route, each addition recorded.

Papra serves its own tagging rules to a logged-in session only (``sync/tagging.py`` keeps that
path). An API key with ``documents:update`` and ``tags:read`` can add up to 50 tags to up to
1,000 documents per request, and the warehouse already holds every document's name, text, tags
and custom-property values: that is all a rule needs. Everything a rule names is checked
against the warehouse before any request, and a bad rule stops the whole run with one line
naming the rule and the field.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from papra_pipeline.client import PapraClient, PapraError, TaggingRule
from papra_pipeline.sync.clock import utcnow
from papra_pipeline.sync.records import short_digest
from papra_pipeline.warehouse import Warehouse
from papra_pipeline.warehouse import rules as sql
from papra_pipeline.warehouse.rules import Catalog, Condition, PlannedRule, Window

# What the batch route takes per request (papra-api.md §3.3).
BATCH_DOCUMENTS = 1000
BATCH_TAGS = 50
# How often an apply writes which of its requests Papra accepted (and at its end).
SETTLE_SECONDS = 2.0
# The API key's permissions the apply needs.
APPLY_PERMISSIONS = ("documents:update", "tags:read")

_RULE_KEYS = {
    "name",
    "match",
    "organizations",
    "conditions",
    "every_document",
    "tags",
    "enabled",
    "description",
}
_CONDITION_KEYS = {"field", "operator", "value", "case_sensitive", "property"}
_TEXT_FIELDS = ("name", "content", "mime_type")
_FIELDS = (*_TEXT_FIELDS, "size", "created_at", "document_date", "tags", "custom_property")
_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
}
_SIZE = re.compile(r"(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[KMG]I?B|B)?", re.IGNORECASE)


class RulesError(ValueError):
    """A rule cannot be used; the message names the rule and the field, in one line."""


@dataclass(frozen=True)
class ConditionSpec:
    """A condition as written (values checked for their field, not yet against the data)."""

    field: str
    operator: str
    value: Any = None
    case_sensitive: bool = False
    property: str | None = None


@dataclass(frozen=True)
class RuleSpec:
    """A rule as written in the YAML file."""

    name: str
    conditions: tuple[ConditionSpec, ...]
    tags: tuple[str, ...]
    match: str = "all"
    organizations: tuple[str, ...] = ()
    enabled: bool = True

    @property
    def digest(self) -> str:
        """What the rule does, hashed: recorded with each addition it makes."""
        return short_digest(
            {
                "match": self.match,
                "organizations": sorted(self.organizations),
                "conditions": [vars(c) for c in self.conditions],
                "tags": sorted(self.tags),
            }
        )


# ---------------------------------------------------------------------------------- reading


def load_rules(path: str | Path) -> tuple[RuleSpec, ...]:
    """The rules of a YAML file (see the README's "Tagging rules with an API key")."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{path}: cannot read the tagging rules ({exc.strerror})") from None
    return parse_rules(text, str(path))


def parse_rules(text: str, source: str = "rules") -> tuple[RuleSpec, ...]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise RulesError(f"{source}: malformed YAML{line}: {problem}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RulesError(f"{source}: expected a top-level 'rules:' list")
    extra = set(data) - {"rules"}
    if extra:
        raise RulesError(f"{source}: unknown top-level key(s) {', '.join(sorted(extra))}")
    rules = tuple(_rule(item, index, source) for index, item in enumerate(data["rules"], 1))
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise RulesError(f"{source}: rule {rule.name!r}: name: used by two rules")
        seen.add(rule.name)
    return rules


def _rule(item: Any, index: int, source: str) -> RuleSpec:
    if not isinstance(item, dict):
        raise RulesError(f"{source}: rule #{index}: expected a mapping with name, conditions, tags")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RulesError(f"{source}: rule #{index}: name: a non-empty name is required")
    name = name.strip()

    def fail(where: str, problem: str) -> RulesError:
        return RulesError(f"{source}: rule {name!r}: {where}: {problem}")

    extra = set(item) - _RULE_KEYS
    if extra:
        raise fail(
            ", ".join(sorted(extra)), f"unknown key (known: {', '.join(sorted(_RULE_KEYS))})"
        )
    match = item.get("match", "all")
    if match not in ("all", "any"):
        raise fail("match", f"{match!r} is not all or any")
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise fail("enabled", "expected true or false")
    organizations = _strings(item.get("organizations", []), lambda p: fail("organizations", p))
    tags = _strings(item.get("tags"), lambda p: fail("tags", p))
    if not tags:
        raise fail("tags", "name at least one tag (by name or id)")
    conditions = item.get("conditions")
    every = item.get("every_document", False)
    if every is not True and every is not False:
        raise fail("every_document", "expected true or false")
    if every:
        # Papra's rule without conditions: said outright, never by an empty list by mistake.
        if conditions:
            raise fail("every_document", "a rule with conditions does not match every document")
        conditions = []
    elif not isinstance(conditions, list) or not conditions:
        raise fail(
            "conditions",
            "a non-empty list is required (or every_document: true, for a rule that tags "
            "every document)",
        )
    return RuleSpec(
        name=name,
        conditions=tuple(_condition(c, i, fail) for i, c in enumerate(conditions, 1)),
        tags=tags,
        match=match,
        organizations=organizations,
        enabled=enabled,
    )


def _strings(value: Any, fail: Callable[[str], RulesError]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise fail("expected a list of names or ids")
    return tuple(dict.fromkeys(v.strip() for v in value))


def _condition(item: Any, index: int, fail: Callable[[str, str], RulesError]) -> ConditionSpec:
    where = f"conditions[{index}]"
    if not isinstance(item, dict):
        raise fail(where, "expected a mapping with field, operator and value")
    extra = set(item) - _CONDITION_KEYS
    if extra:
        raise fail(f"{where}.{sorted(extra)[0]}", "unknown key")
    name = item.get("field")
    if name not in _FIELDS:
        raise fail(f"{where}.field", f"unknown field {name!r} (known: {', '.join(_FIELDS)})")
    operator = item.get("operator")
    allowed = _operators(name)
    if operator not in allowed:
        raise fail(
            f"{where}.operator",
            f"unknown operator {operator!r} for {name} (known: {', '.join(allowed)})",
        )
    case_sensitive = item.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        raise fail(f"{where}.case_sensitive", "expected true or false")
    prop = item.get("property")
    if (name == "custom_property") != (prop is not None):
        raise fail(
            f"{where}.property",
            "required with field custom_property (its name or key)"
            if name == "custom_property"
            else "only with field custom_property",
        )
    if prop is not None and (not isinstance(prop, str) or not prop.strip()):
        raise fail(f"{where}.property", "expected the property's name or key")
    value = item.get("value")
    if operator in sql.SET_OPERATORS:
        if value is not None:
            raise fail(f"{where}.value", f"{operator} takes no value")
    else:
        try:
            value = _value(name, value)
        except ValueError as exc:
            raise fail(f"{where}.value", str(exc)) from None
    return ConditionSpec(name, operator, value, case_sensitive, prop.strip() if prop else None)


def _operators(name: str) -> tuple[str, ...]:
    if name in _TEXT_FIELDS:
        return sql.TEXT_OPERATORS
    if name in ("size", "created_at"):
        return sql.ORDER_OPERATORS
    if name == "document_date":
        return (*sql.ORDER_OPERATORS, *sql.SET_OPERATORS)
    if name == "tags":
        return (*sql.MEMBER_OPERATORS, *sql.SET_OPERATORS)
    # custom_property: which of these fit is checked against the property's type.
    return tuple(dict.fromkeys((*sql.TEXT_OPERATORS, *sql.ORDER_OPERATORS, *sql.SET_OPERATORS)))


def _value(name: str, value: Any) -> Any:
    """A value checked for its field (custom properties: for their type, later)."""
    if value is None or (isinstance(value, str) and not value):
        raise ValueError("a value is required")
    if name in _TEXT_FIELDS or name == "tags":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError("expected text")
        return str(value)
    if name == "size":
        return _size(value)
    if name in ("created_at", "document_date"):
        return _moment(value)
    return value


def _size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a size in bytes such as 1048576, 500 KB or 2 MiB")
    return int(float(match["number"]) * _UNITS[(match["unit"] or "").upper()])


def _moment(value: Any) -> date | datetime:
    """A date (compared with the UTC day) or a date and time (UTC unless it says)."""
    if isinstance(value, str):
        try:
            value = (
                date.fromisoformat(value)
                if len(value) == 10
                else datetime.fromisoformat(value.replace("Z", "+00:00"))
            )
        except ValueError:
            raise ValueError(
                f"{value!r} is not a date such as 2024-01-31 or 2024-01-31T12:00:00Z"
            ) from None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return value
    raise ValueError(f"{value!r} is not a date such as 2024-01-31 or 2024-01-31T12:00:00Z")


# ---------------------------------------------------------------------------------- resolving


def property_key(name: str) -> str:
    """The key Papra derives from a custom property's name: its letters and digits, lowered."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


_PROPERTY_OPERATORS = {
    "text": (*sql.TEXT_OPERATORS, *sql.SET_OPERATORS),
    "number": (*sql.ORDER_OPERATORS, *sql.SET_OPERATORS),
    "date": (*sql.ORDER_OPERATORS, *sql.SET_OPERATORS),
    "boolean": ("equal", "not_equal", *sql.SET_OPERATORS),
    "select": ("equal", "not_equal", *sql.SET_OPERATORS),
    "multi_select": (*sql.MEMBER_OPERATORS, *sql.SET_OPERATORS),
    "user_relation": (*sql.MEMBER_OPERATORS, *sql.SET_OPERATORS),
    "document_relation": (*sql.MEMBER_OPERATORS, *sql.SET_OPERATORS),
}


@dataclass(frozen=True)
class Resolved:
    """The rules ready to plan, and where a rule without ``organizations`` was left out
    because a tag it adds does not exist there: ``{rule: {organization: tag}}``."""

    rules: tuple[PlannedRule, ...]
    specs: tuple[RuleSpec, ...]
    left_out: dict[str, dict[str, str]]
    tag_names: dict[str, str] = field(default_factory=dict)


def resolve(
    rules: Sequence[RuleSpec],
    catalog: Catalog,
    *,
    organization_ids: Sequence[str] | None = None,
    rule_names: Sequence[str] | None = None,
) -> Resolved:
    """Check every name a rule uses against the warehouse and resolve it to ids.

    ``rule_names`` picks rules (disabled ones too, as Papra's own apply does); without it,
    every enabled rule. ``organization_ids`` narrows where they apply.
    """
    if rule_names:
        unknown = sorted(set(rule_names) - {r.name for r in rules})
        if unknown:
            known = ", ".join(repr(r.name) for r in rules) or "none"
            raise RulesError(f"no rule named {', '.join(map(repr, unknown))} (known: {known})")
        chosen = [r for r in rules if r.name in set(rule_names)]
    else:
        chosen = [r for r in rules if r.enabled]
    if organization_ids:
        missing = sorted(set(organization_ids) - set(catalog.organizations))
        if missing:
            raise RulesError(
                f"organization {', '.join(missing)} is not in the warehouse: sync it first"
            )
    planned, left_out = [], {}
    for rule in chosen:
        tag_ids, skipped = _tag_ids(rule, catalog, organization_ids)
        if skipped:
            left_out[rule.name] = skipped
        conditions = tuple(
            _resolved_condition(rule, i, c, catalog, tag_ids)
            for i, c in enumerate(rule.conditions, 1)
        )
        planned.append(PlannedRule(rule.name, rule.match, conditions, tag_ids))
    names = {tag_id: name for tag_id, (_, name) in catalog.tags_by_id.items()}
    return Resolved(tuple(planned), tuple(chosen), left_out, names)


def _tag_ids(
    rule: RuleSpec, catalog: Catalog, organization_ids: Sequence[str] | None
) -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    def fail(problem: str) -> RulesError:
        return RulesError(f"rule {rule.name!r}: tags: {problem}")

    for org in rule.organizations:
        if org not in catalog.organizations:
            raise RulesError(
                f"rule {rule.name!r}: organizations: {org} is not in the warehouse "
                "(no such organization, or not synced yet)"
            )
    candidates = list(rule.organizations or catalog.organizations)
    if organization_ids:
        candidates = [org for org in candidates if org in set(organization_ids)]
    resolved: dict[str, tuple[str, ...]] = {}
    skipped: dict[str, str] = {}
    for org in candidates:
        ids, missing = [], None
        for tag in rule.tags:
            tag_id = _tag_in(tag, org, catalog)
            if tag_id is None:
                missing = tag
                break
            ids.append(tag_id)
        if missing is None:
            resolved[org] = tuple(dict.fromkeys(ids))
        elif rule.organizations:
            raise fail(f"no tag {missing!r} in organization {org} (create it in Papra, then sync)")
        else:
            skipped[org] = missing
    if not resolved and candidates:
        missing = sorted(set(skipped.values()))
        raise fail(
            f"no tag {', '.join(map(repr, missing))} in any organization the warehouse holds "
            "(create it in Papra, then sync)"
        )
    return resolved, skipped


def _tag_in(tag: str, org: str, catalog: Catalog) -> str | None:
    if tag in catalog.tags_by_id:
        return tag if catalog.tags_by_id[tag][0] == org else None
    return catalog.tags_by_name.get(org, {}).get(tag.lower())


def _resolved_condition(
    rule: RuleSpec,
    index: int,
    c: ConditionSpec,
    catalog: Catalog,
    tag_ids: Mapping[str, tuple[str, ...]],
) -> Condition:
    def fail(where: str, problem: str) -> RulesError:
        return RulesError(f"rule {rule.name!r}: conditions[{index}].{where}: {problem}")

    fold = not c.case_sensitive
    if c.field in _TEXT_FIELDS:
        return Condition(
            c.field, c.operator, c.value.lower() if fold else c.value, c.case_sensitive
        )
    if c.field == "tags":
        if c.value is None:
            return Condition("tags", c.operator)
        ids = sorted({t for org in tag_ids if (t := _tag_in(c.value, org, catalog)) is not None})
        if not ids:
            raise fail("value", f"no tag {c.value!r} in the organizations the rule applies in")
        return Condition("tags", c.operator, tuple(ids))
    if c.field != "custom_property":
        return Condition(c.field, c.operator, c.value)
    key = c.property if c.property in _all_keys(catalog) else property_key(c.property)
    types = {catalog.properties.get(org, {}).get(key) for org in tag_ids} - {None}
    if not types:
        raise fail(
            "property",
            f"no custom property {c.property!r} in the organizations the rule applies in",
        )
    if len(types) > 1:
        raise fail(
            "property",
            f"{c.property!r} has different types across organizations: {', '.join(sorted(types))}",
        )
    kind = types.pop()
    if c.operator not in _PROPERTY_OPERATORS.get(kind, sql.SET_OPERATORS):
        raise fail(
            "operator",
            f"{c.operator!r} does not apply to a {kind} property "
            f"(known: {', '.join(_PROPERTY_OPERATORS.get(kind, sql.SET_OPERATORS))})",
        )
    value = c.value
    if c.operator not in sql.SET_OPERATORS:
        try:
            value = _property_value(kind, value, fold, catalog.options.get(key, set()))
        except ValueError as exc:
            raise fail("value", str(exc)) from None
    return Condition("custom_property", c.operator, value, c.case_sensitive, key, kind)


def _all_keys(catalog: Catalog) -> set[str]:
    return {key for keys in catalog.properties.values() for key in keys}


def _property_value(kind: str, value: Any, fold: bool, options: set[str]) -> Any:
    if kind == "text":
        text = str(value)
        return text.lower() if fold else text
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{value!r} is not a number")
        return float(value)
    if kind == "date":
        return _moment(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"{value!r} is not true or false")
        return value
    if kind in ("select", "multi_select"):
        text = str(value)
        if text not in options and text.lower() not in options:
            raise ValueError(f"no option {text!r} (options are matched by name or id)")
        return text if text.startswith("cpso_") else text.lower()
    return str(value)  # user and document ids


# ---------------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Plan:
    """What an apply would send: ``additions`` (rule name, organization, document, tag) new
    to this plan, and ``pending`` ones an interrupted apply left to send again."""

    resolved: Resolved
    additions: pd.DataFrame
    pending: pd.DataFrame

    @property
    def specs(self) -> dict[str, RuleSpec]:
        return {spec.name: spec for spec in self.resolved.specs}

    def per_rule(self) -> dict[str, int]:
        """Tags each rule would add (every chosen rule, 0 included)."""
        counts = self.additions.groupby("rule_name").size().to_dict()
        return {spec.name: int(counts.get(spec.name, 0)) for spec in self.resolved.specs}

    @property
    def documents(self) -> int:
        both = pd.concat([self.additions["document_id"], self.pending["document_id"]])
        return int(both.nunique())


def plan_rules(
    warehouse: Warehouse,
    rules: Sequence[RuleSpec],
    *,
    organization_ids: Sequence[str] | None = None,
    rule_names: Sequence[str] | None = None,
    window: Window | None = None,
) -> Plan:
    """The tags the rules would add now, from the sync's own file; sends nothing."""
    with warehouse.read_private() as con:
        resolved = resolve(
            rules, sql.catalog(con), organization_ids=organization_ids, rule_names=rule_names
        )
        found = sql.plan_additions(con, resolved.rules, window=window)
        pending = sql.pending_additions(con)
    names = [rule.name for rule in resolved.rules]
    additions = pd.DataFrame(
        {
            "rule_name": [names[i] for i in found["rule"]],
            "organization_id": found["organization_id"],
            "document_id": found["document_id"],
            "tag_id": found["tag_id"],
        },
        columns=["rule_name", "organization_id", "document_id", "tag_id"],
    )
    if not pending.empty:  # sent again as they were; not planned twice
        sent = set(zip(pending["document_id"], pending["tag_id"], strict=True))
        keep = [
            (doc, tag) not in sent
            for doc, tag in zip(additions["document_id"], additions["tag_id"], strict=True)
        ]
        additions = additions[keep].reset_index(drop=True)
    return Plan(resolved, additions, pending)


def describe_plan(plan: Plan) -> list[str]:
    """Lines for people: per rule and organization, the documents and the tags it adds."""
    names = plan.resolved.tag_names
    lines = []
    for spec in plan.resolved.specs:
        rows = plan.additions[plan.additions["rule_name"] == spec.name]
        skipped = plan.resolved.left_out.get(spec.name, {})
        if rows.empty:
            lines.append(f"rule {spec.name!r}: nothing to add")
        for org, per_org in rows.groupby("organization_id", sort=True):
            tags = sorted({names.get(t, t) for t in per_org["tag_id"]})
            docs = sorted(set(per_org["document_id"]))
            lines.append(
                f"rule {spec.name!r} in {org}: {len(per_org)} tag(s) on {len(docs)} "
                f"document(s): {', '.join(tags)}"
            )
            lines.extend(f"  {doc}" for doc in docs)
        for org, tag in sorted(skipped.items()):
            lines.append(f"rule {spec.name!r}: not in {org} (it has no tag {tag!r})")
    if not plan.pending.empty:
        lines.append(
            f"{len(plan.pending)} addition(s) an interrupted apply left unconfirmed will be "
            "sent again"
        )
    return lines


# ---------------------------------------------------------------------------------- applying


class RulesPermissionError(RulesError):
    """The API key lacks a permission the apply needs."""


def check_apply_permissions(client: PapraClient) -> None:
    """Refuse, before anything is sent, a key that cannot add tags in batches."""
    key = client.get_current_api_key()
    missing = [p for p in APPLY_PERMISSIONS if p not in key.permissions]
    if missing:
        raise RulesPermissionError(
            f"the API key {key.name!r} lacks {' and '.join(missing)}, which applying tagging "
            "rules needs (add it to the key in Papra, Settings > API keys)"
        )


@dataclass(frozen=True)
class Refused:
    """Additions Papra turned down, and why (the rest of the run went on)."""

    organization_id: str
    document_ids: tuple[str, ...]
    tag_ids: tuple[str, ...]
    reason: str


@dataclass
class ApplyResult:
    run_id: str
    requests: int = 0
    applied: int = 0
    documents: int = 0
    per_rule: dict[str, int] = field(default_factory=dict)
    refused: list[Refused] = field(default_factory=list)


@dataclass(frozen=True)
class _Batch:
    organization_id: str
    document_ids: tuple[str, ...]
    tag_ids: tuple[str, ...]


def batches(pairs: pd.DataFrame) -> list[_Batch]:
    """One request per tag set and per 1,000 documents (and 50 tags)."""
    per_document: dict[tuple[str, str], set[str]] = {}
    for org, doc, tag in zip(
        pairs["organization_id"], pairs["document_id"], pairs["tag_id"], strict=True
    ):
        per_document.setdefault((org, doc), set()).add(tag)
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for (org, doc), tags in sorted(per_document.items()):
        groups.setdefault((org, tuple(sorted(tags))), []).append(doc)
    out = []
    for (org, tags), docs in sorted(groups.items()):
        for t in range(0, len(tags), BATCH_TAGS):
            for d in range(0, len(docs), BATCH_DOCUMENTS):
                out.append(
                    _Batch(org, tuple(docs[d : d + BATCH_DOCUMENTS]), tags[t : t + BATCH_TAGS])
                )
    return out


def apply_plan(
    client: PapraClient,
    warehouse: Warehouse,
    plan: Plan,
    run_id: str,
    *,
    now: Callable[[], datetime] = utcnow,
    log: Callable[[str], None] = lambda line: None,
    settle_every: float | None = None,
) -> ApplyResult:
    """Send the plan, recording each addition: pending before any request, applied once Papra
    accepted the request that made it (written at least every ``settle_every`` seconds,
    default ``SETTLE_SECONDS``, and at the end, also when a request fails).

    A run killed meanwhile leaves what it had not written as applied pending; the next apply
    sends that again (Papra ignores a tag a document has), so nothing is applied twice and
    nothing is recorded as applied that Papra did not accept. A request Papra refuses because
    a document is gone (purged meanwhile) is split until the documents that are gone are
    named; the rest is applied. Any other error stops the run, keeping what was applied.
    """
    result = ApplyResult(run_id)
    settle_every = SETTLE_SECONDS if settle_every is None else settle_every
    digests = {name: spec.digest for name, spec in plan.specs.items()}
    rows = plan.additions.assign(
        run_id=run_id,
        rule_hash=[digests[name] for name in plan.additions["rule_name"]],
        planned_at=now(),
    )
    pending = plan.pending.drop(columns=["run_id"]).assign(run_id=run_id)
    everything = pd.concat([pending, rows], ignore_index=True)
    if everything.empty:
        return result
    todo = batches(everything)
    with warehouse.write() as session:
        session.publish = False
        sql.adopt_pending(session, run_id, sorted(set(plan.pending["run_id"])))
        sql.record_pending(session, rows)
    applied: list[tuple[str, str]] = []
    unsettled: tuple[list[tuple[str, str]], list[tuple[str, str]]] = ([], [])
    written = time.monotonic()

    def settle(*, publish: bool) -> None:
        nonlocal unsettled, written
        with warehouse.write() as session:
            session.publish = publish
            sql.settle_pending(session, run_id, *unsettled, now())
        unsettled, written = ([], []), time.monotonic()

    try:
        for index, batch in enumerate(todo):
            done, refused = _send(client, batch, result)
            for item in refused:
                log(
                    f"refused in {item.organization_id}: {', '.join(item.document_ids)} "
                    f"(tags {', '.join(item.tag_ids)}): {item.reason}"
                )
                unsettled[1].extend(_pairs(item.document_ids, item.tag_ids))
            result.refused.extend(refused)
            pairs = _pairs(done, batch.tag_ids)
            unsettled[0].extend(pairs)
            applied.extend(pairs)
            log(
                f"added {len(batch.tag_ids)} tag(s) to {len(done)} document(s) in "
                f"{batch.organization_id} ({index + 1}/{len(todo)} requests)"
            )
            if time.monotonic() - written >= settle_every and index < len(todo) - 1:
                settle(publish=False)
    finally:
        settle(publish=True)
    added = pd.DataFrame(applied, columns=["document_id", "tag_id"])
    result.applied = len(added)
    result.documents = int(added["document_id"].nunique())
    per_rule = everything.merge(added, on=["document_id", "tag_id"]).groupby("rule_name").size()
    result.per_rule = {str(rule): int(count) for rule, count in per_rule.items()}
    return result


def _pairs(documents: Iterable[str], tags: Sequence[str]) -> list[tuple[str, str]]:
    return [(doc, tag) for doc in documents for tag in tags]


def _send(
    client: PapraClient, batch: _Batch, result: ApplyResult
) -> tuple[list[str], list[Refused]]:
    """Send one batch; split it while Papra refuses it for a document that is gone."""
    try:
        result.requests += 1
        client.batch_update_document_tags(
            batch.organization_id, document_ids=list(batch.document_ids), add_tag_ids=batch.tag_ids
        )
        return list(batch.document_ids), []
    except PapraError as exc:
        if exc.code == "tags.not_found":
            reason = "a tag no longer exists in Papra (sync, then plan again)"
            return [], [Refused(batch.organization_id, batch.document_ids, batch.tag_ids, reason)]
        if exc.code != "documents.batch.documents_not_from_organization":
            raise
    if len(batch.document_ids) == 1:
        reason = "the document is no longer in the organization (purged?)"
        return [], [Refused(batch.organization_id, batch.document_ids, batch.tag_ids, reason)]
    half = len(batch.document_ids) // 2
    applied, refused = [], []
    for part in (batch.document_ids[:half], batch.document_ids[half:]):
        ok, no = _send(client, _Batch(batch.organization_id, part, batch.tag_ids), result)
        applied += ok
        refused += no
    return applied, refused


# ---------------------------------------------------------------------------------- importing


def papra_rules_as_yaml(rules: Mapping[str, Sequence[TaggingRule]]) -> str:
    """Papra's own rules (per organization, as a session lists them) in this file's form:
    one rule per Papra rule, bound to its organization, tags by name."""
    out = []
    taken: set[str] = set()
    for org, org_rules in rules.items():
        for rule in org_rules:
            name = rule.name if rule.name not in taken else f"{rule.name} ({org})"
            taken.add(name)
            conditions = []
            for c in rule.conditions:
                condition = {"field": c["field"], "operator": c["operator"], "value": c["value"]}
                if c.get("isCaseSensitive"):
                    condition["case_sensitive"] = True
                conditions.append(condition)
            tags = [(a.get("tag") or {}).get("name") or a["tagId"] for a in rule.actions]
            item: dict[str, Any] = {"name": name}
            if rule.condition_match_mode == "any":
                item["match"] = "any"
            item["organizations"] = [org]
            if conditions:
                item["conditions"] = conditions
            else:
                item["every_document"] = True
            item["tags"] = tags
            if not rule.enabled:
                item["enabled"] = False
            out.append(item)
    return yaml.safe_dump({"rules": out}, sort_keys=False, allow_unicode=True)
