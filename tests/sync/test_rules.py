"""Tagging rules the pipeline evaluates itself: planned over a real warehouse synced from the
fake Papra, applied through the API key's batch tag route, each addition recorded."""

from __future__ import annotations

import json

import pytest

from papra_pipeline.client import PapraClient
from papra_pipeline.sync import sync
from papra_pipeline.sync.rules import (
    RulesError,
    RulesPermissionError,
    apply_plan,
    batches,
    check_apply_permissions,
    load_rules,
    parse_rules,
    plan_rules,
)
from papra_pipeline.testing import FakePapra
from papra_pipeline.warehouse import Warehouse
from papra_pipeline.warehouse.rules import additions_of_run

BATCH_ROUTE = "POST /api/organizations/{org}/documents/batch/tags"


@pytest.fixture
def small() -> tuple[FakePapra, str, dict[str, str]]:
    """One organization with a handful of documents whose names and texts the rules test."""
    fake = FakePapra()
    org = fake.create_organization("Rules Org")["id"]
    tags = {name: fake.create_tag(org, name, "#112233")["id"] for name in ("Invoices", "Big")}
    docs = {
        "invoice": ("INVOICE Vandelay.pdf", "Vandelay Industries, latex", "application/pdf"),
        "receipt": ("receipt.txt", "Bakery receipt", "text/plain"),
        "crème": ("Crème BRÛLÉE.md", "Recette de la crème brûlée", "text/markdown"),
        "empty": ("empty.txt", "", "text/plain"),
    }
    ids = {}
    for key, (name, text, mime) in docs.items():
        ids[key] = fake.upload_document(org, name, text or f"\x00{key}", mime, extract=True)["id"]
    # An empty extraction, as Papra stores for a file without text.
    fake.update_document(org, ids["empty"], content="")
    ids["pending"] = fake.upload_document(org, "pending INVOICE.txt", "vandelay later")["id"]
    ids["trashed"] = fake.upload_document(org, "trashed invoice", "vandelay", extract=True)["id"]
    fake.trash_document(org, ids["trashed"])
    return fake, org, ids | {f"tag:{k}": v for k, v in tags.items()}


def _client(fake: FakePapra, token: str | None = None) -> PapraClient:
    return PapraClient(
        "http://papra.test",
        token or fake.api_key,
        transport=fake.transport(),
        sleep=lambda seconds: None,
    )


def _synced(fake: FakePapra, tmp_path) -> Warehouse:
    warehouse = Warehouse(tmp_path / "papra.duckdb", lock_timeout=5)
    with _client(fake) as client:
        sync(client, warehouse)
    return warehouse


RULES = """
rules:
  - name: Vandelay invoices
    conditions:
      - {field: name, operator: contains, value: invoice}
      - {field: content, operator: contains, value: VANDELAY}
    tags: [Invoices]
  - name: Creme
    match: any
    conditions:
      - {field: name, operator: starts_with, value: CRÈME}
      - {field: content, operator: equal, value: nothing like this}
    tags: [invoices, Big]
"""


def test_plan_then_apply_tags_exactly_what_the_plan_listed_and_a_second_apply_sends_nothing(
    small, tmp_path
):
    fake, org, ids = small
    warehouse = _synced(fake, tmp_path)
    rules = parse_rules(RULES)
    fake.reset_requests()
    plan = plan_rules(warehouse, rules)
    assert fake.request_count() == 0  # planning reads the warehouse only
    planned = set(zip(plan.additions["document_id"], plan.additions["tag_id"], strict=True))
    assert planned == {
        (ids["invoice"], ids["tag:Invoices"]),
        (ids["crème"], ids["tag:Invoices"]),
        (ids["crème"], ids["tag:Big"]),
    }
    before = {d["id"]: {t["id"] for t in d["tags"]} for d in fake.documents(org)}
    with _client(fake) as client:
        result = apply_plan(client, warehouse, plan, "run-1")
    after = {d["id"]: {t["id"] for t in d["tags"]} for d in fake.documents(org)}
    added = {(doc, tag) for doc in after for tag in after[doc] - before.get(doc, set())}
    assert added == planned
    assert result.applied == 3 and result.requests == fake.request_count(BATCH_ROUTE) == 2
    with warehouse.read() as con:
        rows = additions_of_run(con, "run-1")
    assert {(r[2], r[3]) for r in rows} == planned
    assert {r[4] for r in rows} == {"applied"}

    fake.reset_requests()
    again = plan_rules(warehouse, rules)
    assert again.additions.empty and again.pending.empty
    with _client(fake) as client:
        second = apply_plan(client, warehouse, again, "run-2")
    assert second.requests == 0 and fake.request_count() == 0


def test_a_document_purged_meanwhile_is_named_and_the_rest_applied(small, tmp_path):
    fake, org, ids = small
    warehouse = _synced(fake, tmp_path)
    plan = plan_rules(warehouse, parse_rules(RULES), rule_names=["Creme"])
    assert set(plan.additions["document_id"]) == {ids["crème"]}
    plan = plan_rules(
        warehouse,
        parse_rules(RULES.replace("starts_with, value: CRÈME", "not_contains, value: zzz")),
        rule_names=["Creme"],
    )
    gone = ids["receipt"]
    fake.trash_document(org, gone)
    fake.purge_document(org, gone)
    with _client(fake) as client:
        result = apply_plan(client, warehouse, plan, "run-1")
    assert [r.document_ids for r in result.refused] == [(gone,)]
    with warehouse.read() as con:
        rows = additions_of_run(con, "run-1")
    assert gone not in {r[2] for r in rows}
    assert {r[4] for r in rows} == {"applied"}
    tagged = {
        d["id"] for d in fake.documents(org) if ids["tag:Big"] in {t["id"] for t in d["tags"]}
    }
    assert tagged == {r[2] for r in rows}


def test_batches_are_one_request_per_tag_set_and_thousand_documents():
    import pandas as pd

    pairs = pd.DataFrame(
        [("org_a", f"doc_{i:05d}", "tag_a") for i in range(2500)]
        + [("org_a", f"doc_{i:05d}", "tag_b") for i in range(1200)],
        columns=["organization_id", "document_id", "tag_id"],
    )
    sent = batches(pairs)
    # Documents 0..1199 have {a, b}: 2 requests; 1200..2499 have {a}: 2 requests.
    assert [(len(b.document_ids), b.tag_ids) for b in sent] == [
        (1000, ("tag_a",)),
        (300, ("tag_a",)),
        (1000, ("tag_a", "tag_b")),
        (200, ("tag_a", "tag_b")),
    ]


def test_a_key_without_documents_update_is_refused_before_anything_is_sent(small):
    fake, _, _ = small
    token = fake.create_api_key(["documents:read", "tags:read"], name="reader")
    with (
        _client(fake, token) as client,
        pytest.raises(RulesPermissionError, match="documents:update"),
    ):
        check_apply_permissions(client)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # A tag the warehouse does not know.
        (
            "rules:\n- name: R\n  conditions: [{field: name, operator: contains, value: x}]\n"
            "  tags: [Nope]",
            "rule 'R': tags: no tag 'Nope'",
        ),
        # An unknown field.
        (
            "rules:\n- name: R\n  conditions: [{field: title, operator: contains, value: x}]\n"
            "  tags: [Big]",
            r"rule 'R': conditions\[1\].field: unknown field 'title'",
        ),
        # An unknown operator.
        (
            "rules:\n- name: R\n  conditions: [{field: name, operator: like, value: x}]\n"
            "  tags: [Big]",
            r"rule 'R': conditions\[1\].operator: unknown operator 'like'",
        ),
        # An empty condition list.
        ("rules:\n- name: R\n  conditions: []\n  tags: [Big]", "rule 'R': conditions: a non-empty"),
        # Malformed YAML.
        ("rules:\n- name: R\n  conditions: [{field: name\n", "malformed YAML at line"),
        # A custom property the warehouse does not have.
        (
            "rules:\n- name: R\n  conditions: [{field: custom_property, property: Amount, "
            "operator: greater_than, value: 3}]\n  tags: [Big]",
            r"rule 'R': conditions\[1\].property: no custom property 'Amount'",
        ),
    ],
)
def test_bad_rules_stop_with_one_line_naming_rule_and_field_before_any_request(
    small, tmp_path, text, message
):
    fake, _, _ = small
    warehouse = _synced(fake, tmp_path)
    fake.reset_requests()
    with pytest.raises(RulesError, match=message) as caught:
        plan_rules(warehouse, parse_rules(text))
    assert "\n" not in str(caught.value)
    assert fake.request_count() == 0


def test_the_readme_and_the_example_file_hold_valid_rules():
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    readme = (repo / "README.md").read_text()
    [example] = [y for y in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "rules:" in y]
    assert [r.name for r in parse_rules(example)] == ["Vandelay invoices"]
    rules = load_rules(repo / "docs" / "tagging-rules.example.yaml")
    assert [r.enabled for r in rules] == [True, True, False]


def _by_type(fake: FakePapra, org: str) -> dict[str, list[tuple[str, str, object]]]:
    """Per custom-property type: (document id, property name, value as Papra shows it)."""
    found: dict[str, list[tuple[str, str, object]]] = {}
    for doc in fake.documents(org, include_deleted=False):
        for prop in doc["customProperties"]:
            found.setdefault(prop["type"], []).append((doc["id"], prop["name"], prop["value"]))
    return found


def test_conditions_on_custom_properties_of_each_type_match_what_papra_shows(tmp_path):
    from datetime import date, datetime

    from papra_pipeline.testing import populate

    fake = FakePapra()
    populate(fake, organizations=1, documents=120, tags=1, custom_properties=8, seed=4)
    org = next(iter(fake.organizations))
    values = _by_type(fake, org)
    assert set(values) >= {"text", "number", "date", "boolean", "select", "multi_select",
                           "user_relation", "document_relation"}  # fmt: skip

    def some(kind: str) -> tuple[str, object]:
        name, value = next((n, v) for _, n, v in values[kind] if v not in (None, [], ""))
        return name, value

    def day(value: str) -> date:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()

    text_name, text_value = some("text")
    number_name, _ = some("number")
    numbers = sorted(v for _, n, v in values["number"] if n == number_name and v is not None)
    date_name, date_value = some("date")
    select_name, option = some("select")
    multi_name, options = some("multi_select")
    user_name, users = some("user_relation")
    related_name, related = some("document_relation")
    piece = text_value[1:5].upper()
    middle = numbers[len(numbers) // 2]
    cases = {
        "text contains": (
            {"property": text_name, "operator": "contains", "value": piece},
            lambda n, v: n == text_name and v is not None and piece.lower() in v.lower(),
        ),
        "number greater": (
            {"property": number_name, "operator": "greater_than", "value": middle},
            lambda n, v: n == number_name and v is not None and v > middle,
        ),
        "date before": (
            {
                "property": date_name,
                "operator": "less_or_equal",
                "value": day(date_value).isoformat(),
            },
            lambda n, v: n == date_name and v is not None and day(v) <= day(date_value),
        ),
        "boolean true": (
            {"property": some("boolean")[0], "operator": "equal", "value": True},
            lambda n, v: n == some("boolean")[0] and v is True,
        ),
        "select by name, any case": (
            {"property": select_name, "operator": "equal", "value": option["name"].upper()},
            lambda n, v: n == select_name and v is not None and v["name"] == option["name"],
        ),
        "multi-select contains": (
            {"property": multi_name, "operator": "contains", "value": options[0]["optionId"]},
            lambda n, v: (
                n == multi_name and bool(v) and options[0]["optionId"] in {o["optionId"] for o in v}
            ),
        ),
        "user relation contains": (
            {"property": user_name, "operator": "contains", "value": users[0]["userId"]},
            lambda n, v: (
                n == user_name and bool(v) and users[0]["userId"] in {u["userId"] for u in v}
            ),
        ),
        "related is set": (
            {"property": related_name, "operator": "is_set"},
            lambda n, v: n == related_name and bool(v),
        ),
    }
    for i in range(len(cases)):
        fake.create_tag(org, f"Case {i}", "#000000")
    warehouse = _synced(fake, tmp_path)
    text = "rules:\n" + "".join(
        f"- name: {name}\n  conditions:\n  - {json.dumps({'field': 'custom_property', **c})}\n"
        f"  tags: [Case {i}]\n"
        for i, (name, (c, _)) in enumerate(cases.items())
    )
    plan = plan_rules(warehouse, parse_rules(text))
    for name, (_, expected) in cases.items():
        wanted = {doc for kind in values for doc, n, v in values[kind] if expected(n, v)}
        got = set(plan.additions[plan.additions["rule_name"] == name]["document_id"])
        assert wanted, name
        assert got == wanted, name


def test_an_error_halfway_keeps_what_was_applied_and_the_next_apply_sends_the_rest(small, tmp_path):
    from papra_pipeline.client import PapraServerError

    fake, org, ids = small
    warehouse = _synced(fake, tmp_path)
    plan = plan_rules(warehouse, parse_rules(RULES))
    fake.faults.add("500", route=BATCH_ROUTE, on_requests=[2])
    with (
        PapraClient(
            "http://papra.test", fake.api_key, transport=fake.transport(), max_retries=0
        ) as client,
        pytest.raises(PapraServerError),
    ):
        apply_plan(client, warehouse, plan, "run-1")
    fake.faults.clear()
    with warehouse.read() as con:  # published although the run failed
        rows = additions_of_run(con, "run-1")
    on_papra = {(d["id"], t["id"]) for d in fake.documents(org) for t in d["tags"]}
    applied = {(r[2], r[3]) for r in rows if r[4] == "applied"}
    assert applied and applied <= on_papra
    assert {(r[2], r[3]) for r in rows if r[4] == "pending"}.isdisjoint(on_papra)

    again = plan_rules(warehouse, parse_rules(RULES))
    assert again.additions.empty and len(again.pending) == len(rows) - len(applied)
    with _client(fake) as client:
        apply_plan(client, warehouse, again, "run-2")
    with warehouse.read() as con:
        settled = additions_of_run(con, "run-1") + additions_of_run(con, "run-2")
    assert {r[4] for r in settled} == {"applied"}
    assert {(r[2], r[3]) for r in settled} == set(
        zip(plan.additions["document_id"], plan.additions["tag_id"], strict=True)
    )


def test_conditions_on_tags_name_them_or_ask_for_none(small, tmp_path):
    fake, org, ids = small
    fake.tag_document(org, ids["receipt"], ids["tag:Big"])
    warehouse = _synced(fake, tmp_path)
    text = """
rules:
  - name: Untagged
    conditions: [{field: tags, operator: is_not_set}]
    tags: [Invoices]
  - name: Big but not invoices
    conditions:
      - {field: tags, operator: contains, value: big}
      - {field: tags, operator: not_contains, value: Invoices}
    tags: [Invoices]
"""
    plan = plan_rules(warehouse, parse_rules(text))
    by_rule = plan.additions.groupby("rule_name")["document_id"].apply(set).to_dict()
    live = {ids[k] for k in ("invoice", "crème", "empty", "pending")}
    assert by_rule == {"Untagged": live, "Big but not invoices": {ids["receipt"]}}
