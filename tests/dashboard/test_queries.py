"""The dashboard's queries on a small warehouse whose answers are known by construction (the
browser test checks the pages against SQL on a generated one)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from papra_pipeline.client import PapraClient
from papra_pipeline.sync import SyncOptions, sync
from papra_pipeline.testing import FakePapra
from papra_pipeline.warehouse import Warehouse
from papra_pipeline.warehouse import dashboard as queries
from papra_pipeline.warehouse.reports import refresh_daily_reports


@pytest.fixture(scope="module")
def known(tmp_path_factory):
    """Alpha: two live documents and one in the trash, with an amount, a status and labels;
    Beta: one document with an amount. Then Beta alone is synced again."""
    fake = FakePapra()
    alpha = fake.create_organization("Alpha")["id"]
    beta = fake.create_organization("Beta")["id"]
    amount = fake.create_custom_property(alpha, "Amount", "number")["id"]
    status = fake.create_custom_property(alpha, "Status", "select", ["Open", "Closed"])
    labels = fake.create_custom_property(alpha, "Labels", "multi_select", ["Red", "Blue"])
    option = {o["name"]: o["id"] for o in status["options"] + labels["options"]}
    values = [
        (10.5, "Open", ["Red", "Blue"]),
        (2, "Open", ["Red"]),
        (100, "Closed", []),
    ]
    documents = []
    for index, (number, state, colours) in enumerate(values):
        doc = fake.upload_document(alpha, f"a{index}.txt", f"text {index}", extract=True)["id"]
        fake.set_custom_property_value(alpha, doc, amount, number)
        fake.set_custom_property_value(alpha, doc, status["id"], option[state])
        if colours:
            fake.set_custom_property_value(alpha, doc, labels["id"], [option[c] for c in colours])
        documents.append(doc)
    fake.trash_document(alpha, documents[-1])
    beta_amount = fake.create_custom_property(beta, "Amount", "number")["id"]
    b1 = fake.upload_document(beta, "b1.txt", "beta", extract=True)["id"]
    fake.set_custom_property_value(beta, b1, beta_amount, 7)
    warehouse = Warehouse(tmp_path_factory.mktemp("known") / "papra.duckdb")
    with PapraClient("http://papra.test", fake.api_key, transport=fake.transport()) as client:
        sync(client, warehouse, SyncOptions(mode="full"))
        fake.clock.advance(60_000)
        fake.upload_document(beta, "b2.txt", "beta again", extract=True)
        sync(client, warehouse, SyncOptions(mode="full", organization_ids=(beta,)))
    with warehouse.read() as con:
        days = queries.data_days(con)
    refresh_daily_reports(warehouse, days.first, days.last + timedelta(days=1))
    with warehouse.read() as con:
        yield con, alpha, beta


def test_now_counts_live_and_trashed_documents_and_each_organizations_last_sync(known):
    con, alpha, beta = known

    rows = queries.now_per_organization(con, None).set_index("organization")

    assert rows.loc["Alpha", ["live_documents", "trashed_documents"]].tolist() == [2, 1]
    assert rows.loc["Beta", ["live_documents", "trashed_documents"]].tolist() == [2, 0]
    assert rows.loc["Beta", "last_sync_at"] > rows.loc["Alpha", "last_sync_at"]
    assert set(rows["last_sync_status"]) == {"succeeded"}
    assert queries.now_per_organization(con, beta)["organization"].tolist() == ["Beta"]
    assert queries.last_sync(con).finished_at == rows.loc["Beta", "last_sync_at"]


@pytest.mark.parametrize(
    ("organization", "expected"),
    [
        # Every organization: 10.5 + 2 in Alpha, 7 in Beta; 100 is in the trash.
        ("all", [("Amount", 3, 19.5)]),
        ("alpha", [("Amount", 2, 12.5)]),
    ],
)
def test_numbers_are_summed_over_live_documents(known, organization, expected):
    con, alpha, _ = known
    chosen = None if organization == "all" else alpha

    totals = queries.number_property_totals(con, chosen)

    assert list(totals.itertuples(index=False, name=None)) == expected


def test_each_option_of_selects_and_multi_selects_is_counted(known):
    con, alpha, _ = known

    counts = queries.select_property_counts(con, alpha)

    # Closed is only on the trashed document.
    assert list(counts.itertuples(index=False, name=None)) == [
        ("Labels", "Red", 2),
        ("Labels", "Blue", 1),
        ("Status", "Open", 2),
    ]


def test_daily_pages_read_the_reports_of_the_range(known):
    con, alpha, _ = known
    days = queries.DayRange(*[queries.reported_days(con)[i] for i in (0, -1)])

    uploads = queries.daily_documents(con, alpha, days)["documents_uploaded"].sum()
    activity = queries.daily_activity(con, None, days)

    assert uploads == 3
    assert activity.groupby("event")["events"].sum().to_dict()["created"] == 5
