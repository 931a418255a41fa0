"""The README is documentation users copy from: every SQL example runs on a synced warehouse,
and every public table and view is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from papra_pipeline.client import PapraClient
from papra_pipeline.sync import sync
from papra_pipeline.sync.tagging import apply_tagging_rules
from papra_pipeline.testing import FakePapra, populate
from papra_pipeline.warehouse import PUBLIC_TABLES, VIEWS, Warehouse

README = (Path(__file__).parent.parent / "README.md").read_text()
EXAMPLES = re.findall(r"```sql\n(.*?)```", README, flags=re.DOTALL)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    fake = FakePapra()
    populate(fake, organizations=2, documents=80, tags=5, custom_properties=8, seed=11)
    org = fake.list_organizations()[0]["id"]
    tag = fake.list_tags(org)[0]["id"]
    fake.create_tagging_rule(
        org, "Invoices", [{"field": "name", "operator": "contains", "value": "invoice"}], [tag]
    )
    warehouse = Warehouse(tmp_path_factory.mktemp("readme") / "papra.duckdb")
    with PapraClient(
        "http://papra.test",
        fake.api_key,
        email=fake.email,
        password=fake.password,
        transport=fake.transport(),
    ) as client:
        sync(client, warehouse)
        apply_tagging_rules(client, warehouse)
    return warehouse


def test_every_public_table_and_view_is_documented_with_an_example():
    for name in [t.name for t in PUBLIC_TABLES] + list(VIEWS):
        assert f"`{name}`" in README, name
        assert any(re.search(rf"\b{name}\b", sql) for sql in EXAMPLES), name


@pytest.mark.parametrize("sql", EXAMPLES, ids=[s.split("\n")[0][:40] for s in EXAMPLES])
def test_each_sql_example_runs(warehouse, sql):
    with warehouse.read() as con:
        rows = con.execute(sql).fetchall()
    assert rows, sql
