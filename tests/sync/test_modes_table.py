"""The README's table of what each sync mode catches, cell by cell: each row's change is made on
the fake, then one run of the column's mode, and the document is (or is not) as Papra holds it.

The table is read from the README, so the documentation and this test cannot drift apart."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from papra_pipeline.client import PapraClient
from papra_pipeline.sync import SyncOptions, sync
from papra_pipeline.testing import FakePapra, populate
from papra_pipeline.warehouse import Warehouse

README = (Path(__file__).parent.parent.parent / "README.md").read_text()
PERIOD = timedelta(days=7)
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _first_table(heading: str) -> list[list[str]]:
    """The first Markdown table after ``### heading``: its header, then its rows."""
    lines = README.split(f"### {heading}\n", 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[start:end]]
    return [rows[0], *rows[2:]]  # skip the | --- | separator


HEADER, *ROWS = _first_table("What each mode catches")
MODES = HEADER[1:]


class Doc:
    """The document a change is made to, and where it lives."""

    def __init__(self, fake: FakePapra, org: str, doc: dict) -> None:
        self.fake, self.org, self.id, self.name = fake, org, doc["id"], doc["name"]
        self.mime_type = doc["mimeType"]

    def reupload(self, name: str) -> None:
        data = self.fake.document_bytes(self.org, self.id)
        again = self.fake.upload_document(self.org, name, data, mime_type=self.mime_type)
        assert again["id"] == self.id


def _rename_tag_and_set_property(d: Doc) -> None:
    fake = d.fake
    fake.update_document(d.org, d.id, name="renamed.pdf")
    fake.tag_document(d.org, d.id, fake.create_tag(d.org, "Fresh tag")["id"])
    text = next(cp for cp in fake.list_custom_properties(d.org) if cp["type"] == "text")
    fake.set_custom_property_value(d.org, d.id, text["id"], "INV-0042")


def _upload(d: Doc) -> None:
    d.fake.upload_document(d.org, "new-invoice.txt", "a brand new invoice", extract=True)


# Each row: what is done before the last sync (the document's state then), and the change after.
Setup = Callable[[Doc], None]
CHANGES: dict[str, tuple[Setup | None, Setup]] = {
    "a document uploaded": (None, _upload),
    "an older document renamed, tagged, or a custom property set": (
        None,
        _rename_tag_and_set_property,
    ),
    "a document's text edited": (
        None,
        lambda d: d.fake.update_document(d.org, d.id, content="corrected OCR text"),
    ),
    "a document trashed": (None, lambda d: d.fake.trash_document(d.org, d.id)),
    "a trashed document restored": (
        lambda d: d.fake.trash_document(d.org, d.id),
        lambda d: d.fake.restore_document(d.org, d.id),
    ),
    "a trashed document's file uploaded again": (
        lambda d: d.fake.trash_document(d.org, d.id),
        lambda d: d.reupload("uploaded-again.pdf"),
    ),
    "a trashed document purged": (
        lambda d: d.fake.trash_document(d.org, d.id),
        lambda d: d.fake.purge_document(d.org, d.id),
    ),
    "a document trashed, then restored": (
        None,
        lambda d: (d.fake.trash_document(d.org, d.id), d.fake.restore_document(d.org, d.id)),
    ),
    "a document trashed, then its file uploaded again": (
        None,
        lambda d: (d.fake.trash_document(d.org, d.id), d.reupload(d.name)),
    ),
    "a document trashed, then purged": (
        None,
        lambda d: (d.fake.trash_document(d.org, d.id), d.fake.purge_document(d.org, d.id)),
    ),
}

# One run of each column's mode, at T0 + ``PERIOD`` for the rolling slice ("within the
# period"); the last sync before the change ran at T0 with the slice on, so the clock runs.
RUNS = {
    "quick": (SyncOptions(mode="quick"), T0 + timedelta(hours=1)),
    "full": (SyncOptions(mode="full", reverify_period=timedelta(0)), T0 + timedelta(hours=1)),
    "full, rolling slice": (SyncOptions(mode="full", reverify_period=PERIOD), T0 + PERIOD),
    "full `--verify`": (
        SyncOptions(mode="full", reverify_period=timedelta(0), verify=True),
        T0 + timedelta(hours=1),
    ),
}

# What a cell says -> the outcomes to check: (trash larger than a page, caught).
OUTCOMES = {
    "caught": [(False, True)],
    "missed": [(False, False)],
    "within the period": [(False, True)],
    "caught while the trash fits one page": [(False, True), (True, False)],
}


def _cases():
    for row in ROWS:
        change = row[0]
        for mode, cell in zip(MODES, row[1:], strict=True):
            for big_trash, caught in OUTCOMES[cell]:
                trash = "-big-trash" if big_trash else ""
                yield pytest.param(change, mode, big_trash, caught, id=f"{change}-{mode}{trash}")


def test_the_table_covers_every_change_and_mode_and_says_only_known_things():
    assert [row[0] for row in ROWS] == list(CHANGES)
    assert list(RUNS) == MODES
    assert {cell for row in ROWS for cell in row[1:]} <= set(OUTCOMES)


def in_step(fake: FakePapra, warehouse: Warehouse, org: str, doc_id: str) -> bool:
    """Whether the warehouse holds the document as Papra does: fields, text, tags, custom
    properties and activity; purged on both sides when Papra no longer has it."""
    server = {d["id"]: d for d in fake.documents(org)}.get(doc_id)
    with warehouse.read() as con:
        stored = con.execute(
            "SELECT name, is_deleted, content, purged_at IS NOT NULL FROM documents WHERE id = ?",
            [doc_id],
        ).fetchall()
        tags = {
            r[0]
            for r in con.execute(
                "SELECT tag_id FROM document_tags WHERE document_id = ?", [doc_id]
            ).fetchall()
        }
        values = {
            r[0]
            for r in con.execute(
                "SELECT property_key FROM document_custom_property_values WHERE document_id = ?",
                [doc_id],
            ).fetchall()
        }
        activity = {
            r[0]
            for r in con.execute(
                "SELECT id FROM document_activity WHERE document_id = ?", [doc_id]
            ).fetchall()
        }
    if server is None:
        return stored != [] and stored[0][3]
    if stored != [(server["name"], server["isDeleted"], server["content"], False)]:
        return False
    if activity != {a["id"] for a in fake.activities(org, doc_id)}:
        return False
    if server["isDeleted"]:  # the trash list leaves tags and properties out: not compared
        return True
    return tags == {t["id"] for t in server["tags"]} and values == {
        cp["key"] for cp in server["customProperties"] if cp["value"] is not None
    }


@pytest.mark.parametrize(("change", "mode", "big_trash", "caught"), list(_cases()))
def test_each_cell(tmp_path, change, mode, big_trash, caught):
    fake = FakePapra()
    # More than a page of live documents (quick mode reads the newest), and of trash if asked.
    populate(
        fake,
        organizations=1,
        documents=230 if big_trash else 120,
        tags=5,
        custom_properties=8,
        text_bytes=200,
        trashed_fraction=0.0,
        seed=21,
    )
    org = fake.list_organizations()[0]["id"]
    # The oldest untagged document: not on quick mode's newest pages, and a re-upload (which
    # wipes tags) leaves its list item as it was.
    live = sorted(fake.documents(org), key=lambda d: d["createdAt"])
    target = Doc(fake, org, next(d for d in live if not d["tags"]))
    if big_trash:  # more than a page of trash, trashed after the target
        for d in live[-110:]:
            fake.trash_document(org, d["id"])
    before, after = CHANGES[change]
    if before:
        before(target)
    warehouse = Warehouse(tmp_path / "papra.duckdb")
    options, at = RUNS[mode]
    with PapraClient(
        "http://papra.test", fake.api_key, transport=fake.transport(), sleep=lambda seconds: None
    ) as client:
        sync(client, warehouse, SyncOptions(reverify_period=PERIOD), now=lambda: T0)
        assert in_step(fake, warehouse, org, target.id)
        after(target)
        fake.extract_pending()
        if change == "a document uploaded":
            target = Doc(fake, org, max(fake.documents(org), key=lambda d: d["createdAt"]))
        assert not in_step(fake, warehouse, org, target.id)

        sync(client, warehouse, options, now=lambda: at)

    assert in_step(fake, warehouse, org, target.id) is caught
