"""Tagging rules evaluated in DuckDB: which tags each rule would add to which documents, and
the record of the additions ``tagging_rule_additions`` keeps.

Rules arrive here already checked and resolved (tag names to ids, custom properties to their
type) by :mod:`papra_pipeline.sync.rules`; this module only turns them into one SQL statement.

Papra's own conditions (``name``/``content`` with its six operators) fold case as JavaScript's
``toLowerCase`` does. DuckDB's ``lower`` agrees with it on every code point but two: U+0130
(``İ``, which JavaScript lowers to ``i`` and a combining dot) and a final capital sigma (``Σ`` at
the end of a word lowers to ``ς``). Text holding either is lowered by Python's ``str.lower``,
which follows the same Unicode rules as JavaScript; everything else by DuckDB.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import duckdb
import pandas as pd
from duckdb.sqltypes import VARCHAR

from papra_pipeline.warehouse.writes import WriteSession

TEXT_OPERATORS = ("equal", "not_equal", "contains", "not_contains", "starts_with", "ends_with")
ORDER_OPERATORS = (
    "equal",
    "not_equal",
    "greater_than",
    "greater_or_equal",
    "less_than",
    "less_or_equal",
)
MEMBER_OPERATORS = ("contains", "not_contains")
SET_OPERATORS = ("is_set", "is_not_set")

_COMPARE = {
    "equal": "=",
    "not_equal": "<>",
    "greater_than": ">",
    "greater_or_equal": ">=",
    "less_than": "<",
    "less_or_equal": "<=",
}
_NEGATED = {"not_equal": "equal", "not_contains": "contains"}
# A document's columns, as the rules name them.
_TEXT_COLUMNS = {"name": "name", "content": "content", "mime_type": "mime_type"}
_ORDER_COLUMNS = {
    "size": "original_size",
    "created_at": "created_at",
    "document_date": "document_date",
}
# JavaScript lowers these differently from DuckDB (see the module docstring).
_JS_FOLDED = ("Σ", "İ")


@dataclass(frozen=True)
class Condition:
    """One checked condition.

    ``value`` is already what the SQL compares: text lowered unless ``case_sensitive``, a
    number, a ``date`` (compared with the UTC day) or ``datetime``, a bool, or for ``tags``
    the ids of the tags it names. ``property_type`` is set for ``custom_property``.
    """

    field: str
    operator: str
    value: Any = None
    case_sensitive: bool = False
    property_key: str | None = None
    property_type: str | None = None


@dataclass(frozen=True)
class PlannedRule:
    """A rule ready for the SQL: its conditions and, per organization it applies in, the ids
    of the tags it adds there."""

    name: str
    match: str
    conditions: tuple[Condition, ...]
    tag_ids: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Catalog:
    """What the rules may name, per organization, as the last sync left it."""

    organizations: tuple[str, ...]
    # organization -> lowercased tag name -> tag id; and tag id -> (organization, name)
    tags_by_name: dict[str, dict[str, str]]
    tags_by_id: dict[str, tuple[str, str]]
    # organization -> property key -> type
    properties: dict[str, dict[str, str]]
    # property key -> lowercased option names and option ids (all organizations)
    options: dict[str, set[str]]


def catalog(con: duckdb.DuckDBPyConnection) -> Catalog:
    """The live organizations, tags, custom properties and options of the warehouse."""
    organizations = tuple(
        row[0]
        for row in con.execute(
            "SELECT id FROM organizations WHERE NOT is_removed ORDER BY id"
        ).fetchall()
    )
    tags_by_name: dict[str, dict[str, str]] = {}
    tags_by_id: dict[str, tuple[str, str]] = {}
    for tag_id, org, name in con.execute(
        "SELECT id, organization_id, name FROM tags WHERE NOT is_removed ORDER BY created_at, id"
    ).fetchall():
        tags_by_name.setdefault(org, {})[name.lower()] = tag_id
        tags_by_id[tag_id] = (org, name)
    properties: dict[str, dict[str, str]] = {}
    for org, key, kind in con.execute(
        "SELECT organization_id, key, type FROM custom_property_definitions WHERE NOT is_removed"
    ).fetchall():
        properties.setdefault(org, {})[key] = kind
    options: dict[str, set[str]] = {}
    for key, option_id, name in con.execute(
        """SELECT p.key, o.id, o.name FROM custom_property_options o
           JOIN custom_property_definitions p ON p.id = o.property_definition_id
           WHERE NOT o.is_removed AND NOT p.is_removed"""
    ).fetchall():
        options.setdefault(key, set()).update({option_id, name.lower()})
    return Catalog(organizations, tags_by_name, tags_by_id, properties, options)


def _register_papra_lower(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.CatalogException):  # registered on this connection already
        con.create_function("papra_lower", str.lower, [VARCHAR], VARCHAR)


def _folded(column: str) -> str:
    special = " OR ".join(f"contains({column}, '{c}')" for c in _JS_FOLDED)
    return f"CASE WHEN {special} THEN papra_lower({column}) ELSE lower({column}) END"


class _Sql:
    """Builds one rule's predicate over ``docs`` (alias ``d``), collecting its parameters."""

    def __init__(self) -> None:
        self.params: list[Any] = []

    def param(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def rule(self, rule: PlannedRule) -> str:
        if not rule.conditions:
            return "true"
        parts = [f"({self.condition(c)})" for c in rule.conditions]
        # SQL's three values: a condition on text the warehouse does not hold (content not
        # stored) is unknown, so it never makes an ``all`` rule match, nor its negation.
        return (" OR " if rule.match == "any" else " AND ").join(parts)

    def condition(self, c: Condition) -> str:
        if c.operator in _NEGATED and c.field in (*_TEXT_COLUMNS, "tags"):
            return f"NOT ({self.condition(_positive(c))})"
        if c.field in _TEXT_COLUMNS:
            column = f"d.{c.field}" if c.case_sensitive else f"d.{c.field}_folded"
            return self.text(column, c.operator, c.value)
        if c.field in _ORDER_COLUMNS:
            return self.ordered(f"d.{_ORDER_COLUMNS[c.field]}", c.operator, c.value)
        if c.field == "tags":
            tagged = "EXISTS (SELECT 1 FROM document_tags dt WHERE dt.document_id = d.id"
            if c.operator in SET_OPERATORS:
                return f"{'NOT ' if c.operator == 'is_not_set' else ''}{tagged})"
            ids = self.param(list(c.value))
            return f"{tagged} AND dt.tag_id IN (SELECT unnest({ids}::VARCHAR[])))"
        return self.property(c)

    def text(self, column: str, operator: str, value: str) -> str:
        v = self.param(value)
        return {
            "equal": f"{column} = {v}",
            "not_equal": f"{column} <> {v}",
            "contains": f"contains({column}, {v})",
            "not_contains": f"NOT contains({column}, {v})",
            "starts_with": f"starts_with({column}, {v})",
            "ends_with": f"suffix({column}, {v})",
        }[operator]

    def ordered(self, column: str, operator: str, value: Any) -> str:
        if operator == "is_set":
            return f"{column} IS NOT NULL"
        if operator == "is_not_set":
            return f"{column} IS NULL"
        if isinstance(value, date) and not isinstance(value, datetime):
            column = f"CAST(timezone('UTC', {column}) AS DATE)"
        # A document without the value matches no comparison, not even not_equal.
        return f"coalesce({column} {_COMPARE[operator]} {self.param(value)}, false)"

    def property(self, c: Condition) -> str:
        where = f"v.document_id = d.id AND v.property_key = {self.param(c.property_key)}"
        values = f"SELECT 1 FROM live_values v WHERE {where}"
        if c.operator == "is_set":
            return f"EXISTS ({values})"
        if c.operator == "is_not_set":
            return f"NOT EXISTS ({values})"
        kind = c.property_type
        if kind in ("select", "multi_select", "user_relation", "document_relation"):
            array = {
                "user_relation": "v.user_ids",
                "document_relation": "v.related_document_ids",
            }.get(kind)
            if array is None:  # options: by id, or by name without case
                array = (
                    "list_concat(v.option_ids, list_transform(v.option_names, lambda x: lower(x)))"
                )
            found = f"EXISTS ({values} AND list_contains({array}, {self.param(c.value)}))"
            return f"NOT {found}" if c.operator in ("not_equal", "not_contains") else found
        if kind == "text":
            column = "v.text_value" if c.case_sensitive else _folded("v.text_value")
            return f"EXISTS ({values} AND {self.text(column, c.operator, c.value)})"
        column = {"number": "v.number_value", "date": "v.date_value"}.get(kind, "v.boolean_value")
        return f"EXISTS ({values} AND {self.ordered(column, c.operator, c.value)})"


def _positive(c: Condition) -> Condition:
    return Condition(
        c.field, _NEGATED[c.operator], c.value, c.case_sensitive, c.property_key, c.property_type
    )


@dataclass(frozen=True)
class Window:
    """Only documents a sync stored as new or changed, or whose text it read again, after
    ``after`` (up to ``until``): a text re-read may have changed (content does not move
    ``_last_changed_at``), and what it did not change plans nothing new."""

    after: datetime
    until: datetime | None = None


def plan_additions(
    con: duckdb.DuckDBPyConnection,
    rules: Sequence[PlannedRule],
    *,
    window: Window | None = None,
) -> pd.DataFrame:
    """Every (rule, organization, document, tag) a rule would add: live documents of the
    organizations it applies in that match it, less the tags the document already has and
    the additions already recorded as applied. Columns: ``rule`` (index in ``rules``),
    ``organization_id``, ``document_id``, ``tag_id``; ordered by them.
    """
    columns = ["rule", "organization_id", "document_id", "tag_id"]
    actions = pd.DataFrame(
        [
            (index, org, tag_id)
            for index, rule in enumerate(rules)
            for org, tag_ids in rule.tag_ids.items()
            for tag_id in tag_ids
        ],
        columns=["rule", "organization_id", "tag_id"],
    )
    if actions.empty:
        return pd.DataFrame(columns=columns)
    _register_papra_lower(con)
    con.execute("SET enable_progress_bar = false").fetchall()  # no bar in a command's output
    conditions = [c for rule in rules for c in rule.conditions]
    folded = {
        name: _folded(f"d.{name}")
        if any(c.field == name and not c.case_sensitive for c in conditions)
        else "NULL"
        for name in _TEXT_COLUMNS
    }
    sql = _Sql()
    organizations = sql.param(sorted({org for rule in rules for org in rule.tag_ids}))
    window_sql = ""
    if window is not None:
        changed = "greatest(d._last_changed_at, coalesce(d._content_synced_at, d._last_changed_at))"
        window_sql = f" AND {changed} > {sql.param(window.after)}"
        if window.until is not None:
            window_sql += f" AND {changed} <= {sql.param(window.until)}"
    docs = f"""
        SELECT d.id, d.organization_id, d.name, d.content, d.mime_type, d.original_size,
               d.created_at, d.document_date, {folded["name"]} AS name_folded,
               {folded["content"]} AS content_folded, {folded["mime_type"]} AS mime_type_folded
        FROM documents d
        WHERE NOT d.is_deleted AND d.purged_at IS NULL
          AND d.organization_id IN (SELECT unnest({organizations}::VARCHAR[])){window_sql}"""
    # One pass over the documents: a flag per rule (a document's text is lowered once and
    # scanned by every rule in the same chunk), then the rules each document matched.
    flags, indexes = [], []
    for index, rule in enumerate(rules):
        if not rule.tag_ids:
            continue
        orgs = sql.param(sorted(rule.tag_ids))
        predicate = sql.rule(rule)
        in_orgs = f"list_contains({orgs}::VARCHAR[], d.organization_id)"
        flags.append(f"({in_orgs} AND coalesce({predicate}, false))")
        indexes.append(index)
    con.register("_papra_rule_actions", actions)
    query = f"""
        WITH docs AS ({docs}),
        live_values AS (
            SELECT v.* FROM document_custom_property_values v
            JOIN custom_property_definitions p ON p.id = v.property_definition_id
            WHERE NOT p.is_removed
        ),
        flagged AS (
            SELECT d.id AS document_id, d.organization_id, [{", ".join(flags)}] AS hits
            FROM docs d
        ),
        matches AS (
            SELECT document_id, organization_id, rule FROM (
                SELECT document_id, organization_id,
                       unnest({indexes}::INTEGER[]) AS rule, unnest(hits) AS hit
                FROM flagged)
            WHERE hit
        )
        SELECT m.rule, m.organization_id, m.document_id, a.tag_id
        FROM matches m
        JOIN _papra_rule_actions a ON a.rule = m.rule AND a.organization_id = m.organization_id
        WHERE NOT EXISTS (SELECT 1 FROM document_tags dt
                          WHERE dt.document_id = m.document_id AND dt.tag_id = a.tag_id)
          AND NOT EXISTS (SELECT 1 FROM tagging_rule_additions x
                          WHERE x.document_id = m.document_id AND x.tag_id = a.tag_id
                            AND x.status = 'applied')
        ORDER BY ALL"""
    try:
        return con.execute(query, sql.params).df()
    finally:
        con.unregister("_papra_rule_actions")


def pending_additions(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Additions an earlier apply wrote as pending and never confirmed (it was killed, or
    stopped on an error, while their request was in flight)."""
    return con.execute(
        """SELECT run_id, rule_name, rule_hash, organization_id, document_id, tag_id, planned_at
           FROM tagging_rule_additions WHERE status = 'pending' ORDER BY ALL"""
    ).df()


def newest_sync(con: duckdb.DuckDBPyConnection) -> tuple[str, datetime] | None:
    """The newest successful sync run and when it finished (``None`` before any)."""
    rows = con.execute(
        """SELECT run_id, finished_at FROM _papra_sync_runs WHERE status = 'succeeded'
           ORDER BY finished_at DESC LIMIT 1"""
    ).fetchall()
    return (rows[0][0], rows[0][1]) if rows else None


def changed_documents(con: duckdb.DuckDBPyConnection, after: datetime) -> dict[str, int]:
    """Per organization, the live documents a sync stored as new or changed after ``after``."""
    return dict(
        con.execute(
            """SELECT organization_id, count(*) FROM documents d
               WHERE NOT is_deleted AND purged_at IS NULL
                 AND greatest(_last_changed_at,
                              coalesce(_content_synced_at, _last_changed_at)) > ?
               GROUP BY ALL""",
            [after],
        ).fetchall()
    )


def record_pending(session: WriteSession, rows: pd.DataFrame) -> None:
    """Write additions as pending, before the request that makes them is sent."""
    if rows.empty:
        return
    session.con.register("_papra_pending", rows)
    session.con.execute(
        """INSERT INTO tagging_rule_additions BY NAME
           SELECT run_id, rule_name, rule_hash, organization_id, document_id, tag_id,
                  'pending' AS status, planned_at, NULL::TIMESTAMPTZ AS applied_at
           FROM _papra_pending"""
    ).fetchall()
    session.con.unregister("_papra_pending")


def settle_pending(
    session: WriteSession,
    run_id: str,
    applied: Sequence[tuple[str, str]],
    refused: Sequence[tuple[str, str]],
    applied_at: datetime,
) -> None:
    """Mark a run's pending additions of the ``applied`` (document, tag) pairs applied, and
    forget those of the ``refused`` ones (Papra turned their request down: nothing added)."""
    for pairs, statement in (
        (
            applied,
            """UPDATE tagging_rule_additions x SET status = 'applied', applied_at = $at
               FROM _papra_settled s
               WHERE x.run_id = $run AND x.status = 'pending'
                 AND x.document_id = s.document_id AND x.tag_id = s.tag_id""",
        ),
        (
            refused,
            """DELETE FROM tagging_rule_additions x USING _papra_settled s
               WHERE x.run_id = $run AND x.status = 'pending'
                 AND x.document_id = s.document_id AND x.tag_id = s.tag_id""",
        ),
    ):
        if not pairs:
            continue
        session.con.register(
            "_papra_settled", pd.DataFrame(list(pairs), columns=["document_id", "tag_id"])
        )
        params = {"run": run_id} | ({"at": applied_at} if "$at" in statement else {})
        session.con.execute(statement, params).fetchall()
        session.con.unregister("_papra_settled")


def adopt_pending(session: WriteSession, run_id: str, from_run_ids: Sequence[str]) -> None:
    """Make earlier runs' pending additions this run's, to be sent again (Papra ignores a tag
    a document already has, so a request that had got through adds nothing twice)."""
    if from_run_ids:
        session.con.execute(
            """UPDATE tagging_rule_additions SET run_id = ?
               WHERE status = 'pending' AND run_id IN (SELECT unnest(?::VARCHAR[]))""",
            [run_id, list(from_run_ids)],
        ).fetchall()


def additions_of_run(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple]:
    """``(rule_name, organization_id, document_id, tag_id, status)`` of one run's rows."""
    return con.execute(
        """SELECT rule_name, organization_id, document_id, tag_id, status
           FROM tagging_rule_additions WHERE run_id = ? ORDER BY ALL""",
        [run_id],
    ).fetchall()
