"""For rules in Papra's vocabulary, the pipeline's plan lists exactly the tags Papra's own apply
adds: the fake's apply follows Papra's source (case folded as JavaScript does unless the
condition is case-sensitive, unset or not-yet-extracted text as "", all/any, trashed documents
left out), the rules reach the pipeline through `rules import`'s YAML, and the documents are
generated to hit every edge: accents, mixed case, the two letters DuckDB lowers differently
from JavaScript (a final capital sigma, a dotted capital I), empty text and text not extracted
yet."""

from __future__ import annotations

import random

import pytest

from papra_pipeline.sync import sync
from papra_pipeline.sync.rules import papra_rules_as_yaml, parse_rules, plan_rules
from papra_pipeline.sync.tagging import list_rules
from papra_pipeline.testing import FakePapra
from papra_pipeline.warehouse import Warehouse
from tests.sync.helpers import logged_in_client

OPERATORS = ("equal", "not_equal", "contains", "not_contains", "starts_with", "ends_with")
WORDS = [
    "Invoice", "INVOICE", "invoice", "Crème", "CRÈME", "brûlée", "Straße", "STRASSE", "ΟΔΟΣ",
    "οδος", "Σοφία", "İstanbul", "istanbul", "i̇stanbul", "Ärger", "ärger", "naïve", "NAÏVE",
    "façade", "Ωmega", "receipt", "Receipt", "2024", "köln", "KÖLN", "ǅemal", "ǆemal",
]  # fmt: skip


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def _value(rng: random.Random, texts: list[str]) -> str:
    """A condition value: often a piece of a real name or text with its case changed."""
    source = rng.choice(texts) or rng.choice(WORDS)
    if rng.random() < 0.3:
        return rng.choice(WORDS)
    start = rng.randrange(len(source))
    piece = source[start : start + rng.randint(1, 12)].strip() or rng.choice(WORDS)
    case = rng.choice((str.upper, str.lower, str.title, lambda s: s))
    return case(piece)[:256]


def _papra_with_rules(seed: int) -> tuple[FakePapra, str]:
    rng = random.Random(seed)
    fake = FakePapra()
    org = fake.create_organization("Equivalence")["id"]
    names, texts = [], []
    for i in range(60):
        name = f"{_text(rng, rng.randint(1, 3))} {i}.txt"
        kind = rng.random()
        if kind < 0.15:  # text not extracted yet: Papra's content is ""
            fake.upload_document(org, name, f"later {i} {_text(rng, 5)}")
            text = ""
        elif kind < 0.25:  # extracted, but empty
            fake.upload_document(org, name, f"empty {i}", extract=True)
            doc_id = fake.documents(org)[-1]["id"]
            fake.update_document(org, doc_id, content="")
            text = ""
        else:
            text = f"{_text(rng, rng.randint(3, 12))} #{i}"
            fake.upload_document(org, name, text, extract=True)
        names.append(name)
        texts.append(text)
    docs = fake.documents(org)
    for doc in rng.sample(docs, 6):  # trashed: Papra's apply leaves them out
        fake.trash_document(org, doc["id"])
    tag_ids = [fake.create_tag(org, f"Rule tag {i}", "#445566")["id"] for i in range(24)]
    for doc in rng.sample(docs, 10):  # tags a document has already are not added again
        fake.tag_document(org, doc["id"], rng.choice(tag_ids))
    for i in range(24):
        conditions = [
            {
                "field": (field := rng.choice(("name", "content"))),
                "operator": rng.choice(OPERATORS),
                "value": _value(rng, names if field == "name" else texts),
                "isCaseSensitive": rng.random() < 0.2,
            }
            for _ in range(rng.randint(0 if i == 0 else 1, 3))
        ]
        extra = [rng.choice(tag_ids)] if rng.random() < 0.3 else []
        fake.create_tagging_rule(
            org,
            f"Rule {i}",
            conditions,
            list(dict.fromkeys([tag_ids[i], *extra])),
            condition_match_mode=rng.choice(("all", "any")),
        )
    return fake, org


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_plan_adds_exactly_what_papras_own_apply_adds(tmp_path, seed):
    fake, org = _papra_with_rules(seed)
    warehouse = Warehouse(tmp_path / "papra.duckdb", lock_timeout=5)
    with logged_in_client(fake) as client:
        sync(client, warehouse)
        yaml_text = papra_rules_as_yaml(list_rules(client))
    plan = plan_rules(warehouse, parse_rules(yaml_text))
    planned = set(zip(plan.additions["document_id"], plan.additions["tag_id"], strict=True))

    before = {d["id"]: {t["id"] for t in d["tags"]} for d in fake.documents(org)}
    for rule in fake.list_tagging_rules(org):
        fake.apply_tagging_rule(org, rule["id"])
    after = {d["id"]: {t["id"] for t in d["tags"]} for d in fake.documents(org)}
    added = {(doc, tag) for doc, tags in after.items() for tag in tags - before[doc]}

    assert added, "the generated rules should tag something"
    assert planned == added
