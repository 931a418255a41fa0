"""Links between documents and the tags and definitions Papra deletes or re-creates.

A definition deleted and re-created under the same name gets the same key and a new id, and
list items name values by key only, so a value can look unchanged while its definition is
new. Deleting a tag or a definition deletes its links on every document, trashed ones too,
but the trash list carries neither tags nor values.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from papra_pipeline.sync import SyncOptions, records, sync
from papra_pipeline.testing import FakePapra

FULL = SyncOptions(mode="full", reverify_period=timedelta(0))
QUICK = SyncOptions(mode="quick")


@pytest.fixture
def fake() -> FakePapra:
    """One organization: a tag, an Amount definition, and two documents carrying both."""
    fake = FakePapra()
    org = fake.create_organization("Links")["id"]
    tag = fake.create_tag(org, "Paid")["id"]
    amount = fake.create_custom_property(org, "Amount", "number")["id"]
    for name in ("kept.txt", "trashed.txt"):
        doc = fake.upload_document(org, name, f"text of {name}", extract=True)["id"]
        fake.tag_document(org, doc, tag)
        fake.set_custom_property_value(org, doc, amount, 120.5)
    return fake


def ids(fake: FakePapra) -> tuple[str, dict[str, str], str, str]:
    """The organization, its documents by name, the tag and the Amount definition."""
    [org] = [o["id"] for o in fake.list_organizations()]
    documents = {d["name"]: d["id"] for d in fake.documents(org)}
    [tag] = [t["id"] for t in fake.list_tags(org)]
    [amount] = [d["id"] for d in fake.list_custom_properties(org)]
    return org, documents, tag, amount


def recreate_amount(fake: FakePapra, org: str, amount: str) -> str:
    fake.delete_custom_property(org, amount)
    recreated = fake.create_custom_property(org, "Amount", "number")
    assert recreated["id"] != amount
    return recreated["id"]


def stored_values(warehouse) -> dict[str, str | None]:
    """Document id -> the definition its Amount value links to."""
    with warehouse.read() as con:
        return dict(
            con.execute(
                "SELECT document_id, property_definition_id FROM document_custom_property_values"
            ).fetchall()
        )


def live_values(warehouse) -> set[tuple[str, str]]:
    with warehouse.read() as con:
        return set(
            con.execute(
                "SELECT document_id, display_value FROM v_document_custom_property_values"
            ).fetchall()
        )


def test_a_value_links_to_the_recreated_definition_in_full_mode(fake, client, warehouse):
    org, documents, _, amount = ids(fake)
    sync(client, warehouse, FULL)
    recreated = recreate_amount(fake, org, amount)
    # Set again as it was: the list item is byte for byte what the last sync saw.
    fake.set_custom_property_value(org, documents["kept.txt"], recreated, 120.5)

    sync(client, warehouse, FULL)

    assert stored_values(warehouse)[documents["kept.txt"]] == recreated
    assert (documents["kept.txt"], "120.5") in live_values(warehouse)


def test_a_value_links_to_the_recreated_definition_in_quick_mode(fake, client, warehouse):
    org, _, _, amount = ids(fake)
    sync(client, warehouse, FULL)
    recreated = recreate_amount(fake, org, amount)
    new = fake.upload_document(org, "new.txt", "uploaded after", extract=True)["id"]
    fake.set_custom_property_value(org, new, recreated, 99.0)

    sync(client, warehouse, QUICK)

    assert stored_values(warehouse)[new] == recreated
    with warehouse.read() as con:
        assert con.execute(
            "SELECT id, is_removed FROM custom_property_definitions ORDER BY is_removed"
        ).fetchall() == [(recreated, False), (amount, True)]


def test_trashed_documents_lose_the_links_of_a_deleted_tag_or_definition(fake, client, warehouse):
    org, documents, tag, amount = ids(fake)
    trashed = documents["trashed.txt"]
    fake.trash_document(org, trashed)
    sync(client, warehouse, FULL)
    with warehouse.read() as con:
        assert con.execute(
            "SELECT count(*) FROM document_tags WHERE document_id = ?", [trashed]
        ).fetchall() == [(1,)]
    assert trashed in stored_values(warehouse)

    fake.delete_tag(org, tag)
    recreate_amount(fake, org, amount)  # the same key again must not keep the old value
    detail = fake.get_document(org, trashed)
    assert detail["tags"] == []
    assert [cp["value"] for cp in detail["customProperties"]] == [None]

    result = sync(client, warehouse, FULL)

    with warehouse.read() as con:
        links = con.execute("SELECT document_id FROM document_tags").fetchall()
    assert links == []
    assert trashed not in stored_values(warehouse)
    assert result.streams["document_tags"].removed == 2
    assert result.streams["document_custom_property_values"].removed == 2


VALUE_COLUMNS = "property_key, property_name, option_ids, option_names, raw_value"


def test_trashed_documents_show_renamed_definitions_and_lose_removed_options(
    fake, client, warehouse
):
    """Papra reads a document's values through the current definitions and options, and
    deletes the values of a removed option; the trash list carries no values, so the
    warehouse applies the same rules to trashed documents when it reads the definitions."""
    org, documents, _, amount = ids(fake)
    trashed = documents["trashed.txt"]
    status = fake.create_custom_property(org, "Status", "select", ["Open", "Closed"])
    labels = fake.create_custom_property(org, "Labels", "multi_select", ["Red", "Blue", "Green"])
    red, blue, green = (option["id"] for option in labels["options"])
    fake.set_custom_property_value(org, trashed, status["id"], status["options"][1]["id"])
    fake.set_custom_property_value(org, trashed, labels["id"], [red, blue])
    fake.trash_document(org, trashed)
    sync(client, warehouse, FULL)

    fake.update_custom_property(org, amount, name="Total")  # a new name, and so a new key
    fake.update_custom_property(
        org,
        status["id"],
        name="Status",
        options=[{"id": status["options"][0]["id"], "name": "Open"}],
    )  # Closed, the trashed document's value, is removed
    fake.update_custom_property(
        org,
        labels["id"],
        name="Labels",
        options=[{"id": red, "name": "Crimson"}, {"id": green, "name": "Green"}],
    )  # Red renamed, Blue removed
    now_in_papra = records.custom_property_value_rows(client.get_document(org, trashed), {})
    assert {row["property_key"] for row in now_in_papra} == {"total", "labels"}

    sync(client, warehouse, FULL)

    with warehouse.read() as con:
        stored = con.execute(
            f"SELECT {VALUE_COLUMNS} FROM document_custom_property_values "
            "WHERE document_id = ? ORDER BY property_key",
            [trashed],
        ).fetchall()
    expected = sorted(
        (
            row["property_key"],
            row["property_name"],
            row["option_ids"],
            row["option_names"],
            row["raw_value"],
        )
        for row in now_in_papra
    )
    assert [(*row[:4], json.loads(row[4])) for row in stored] == [
        (*row[:4], json.loads(row[4])) for row in expected
    ]
    assert stored[1][1:4] == ("Total", None, None)
    assert stored[0][2:4] == ([red], ["Crimson"])
