"""Full sync against the fake Papra: idempotent, and every kind of change lands."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta

import pytest

from papra_pipeline.client import PapraError
from papra_pipeline.client.models import PROPERTY_TYPES
from papra_pipeline.sync import SyncOptions, sync
from tests.sync.helpers import assert_matches_server, row_counts, table_fingerprints

FULL = SyncOptions(mode="full", reverify_period=timedelta(0))
START = datetime(2026, 3, 1, tzinfo=UTC)


def first_org(fake):
    return fake.list_organizations()[0]["id"]


def live_docs(fake, org):
    return [d for d in fake.documents(org, include_deleted=False)]


def test_first_sync_copies_everything_and_the_second_writes_nothing(fake, client, warehouse):
    first = sync(client, warehouse, FULL)
    assert first.streams["documents"].inserted == sum(
        len(fake.documents(o["id"])) for o in fake.list_organizations()
    )
    assert_matches_server(fake, warehouse)
    before = table_fingerprints(warehouse)
    published = warehouse.path.stat()

    second = sync(client, warehouse, FULL)

    assert second.rows_written == 0, {k: v for k, v in second.streams.items() if v.written}
    assert second.streams["documents"].unchanged == first.streams["documents"].inserted
    assert table_fingerprints(warehouse) == before
    # Nothing republished: readers' file untouched; the run's statistics snapshot and run log
    # wait in the sync's own file for the next run that changes something.
    assert (warehouse.path.stat().st_ino, warehouse.path.stat().st_mtime_ns) == (
        published.st_ino,
        published.st_mtime_ns,
    )
    with warehouse.read_private() as con:
        snapshots, runs = con.execute(
            "SELECT (SELECT count(*) FROM organization_statistics), "
            "(SELECT count(*) FROM _papra_sync_runs WHERE status = 'succeeded')"
        ).fetchall()[0]
    assert (snapshots, runs) == (2 * len(second.organization_ids), 2)
    assert row_counts(warehouse)["organization_statistics"] == len(second.organization_ids)


def test_every_table_has_one_row_per_key(fake, client, warehouse):
    sync(client, warehouse, FULL)
    sync(client, warehouse, FULL)
    from papra_pipeline.warehouse import PUBLIC_TABLES

    with warehouse.read() as con:
        for table in PUBLIC_TABLES:
            key = ", ".join(table.key)
            total, distinct = con.execute(
                f"SELECT count(*), count(DISTINCT ({key})) FROM {table.name}"
            ).fetchall()[0]
            assert total == distinct, table.name


def test_run_log_records_each_stream(client, warehouse):
    result = sync(client, warehouse, FULL)
    with warehouse.read() as con:
        run = con.execute(
            "SELECT status, mode, requests FROM _papra_sync_runs WHERE run_id = ?", [result.run_id]
        ).fetchall()
        streams = dict(
            con.execute(
                "SELECT stream, inserted FROM _papra_sync_run_streams WHERE run_id = ?",
                [result.run_id],
            ).fetchall()
        )
    assert run == [("succeeded", "full", result.requests)]
    assert streams["documents"] == result.streams["documents"].inserted > 0
    assert result.requests == sum(s.requests for s in result.streams.values())


def _doc(fake, org, doc_id):
    return next(d for d in fake.documents(org) if d["id"] == doc_id)


# Each case changes the server one way; the next full sync must show exactly that change.
CHANGES = {
    "upload": lambda fake, org, doc, tag, cps: fake.upload_document(
        org, "new-invoice.txt", "a brand new invoice", extract=True
    ),
    "upload_not_yet_extracted": lambda fake, org, doc, tag, cps: fake.upload_document(
        org, "scan.txt", "text extracted later"
    ),
    "rename": lambda fake, org, doc, tag, cps: fake.update_document(org, doc, name="renamed.pdf"),
    "notes": lambda fake, org, doc, tag, cps: fake.update_document(org, doc, notes="see page 2"),
    "document_date": lambda fake, org, doc, tag, cps: fake.update_document(
        org, doc, documentDate="2021-05-06T00:00:00.000Z"
    ),
    "tag_added": lambda fake, org, doc, tag, cps: fake.tag_document(
        org, doc, fake.create_tag(org, "Fresh tag")["id"]
    ),
    "trash": lambda fake, org, doc, tag, cps: fake.trash_document(org, doc),
    "purge": lambda fake, org, doc, tag, cps: (
        fake.trash_document(org, doc),
        fake.purge_document(org, doc),
    ),
    "tag_deleted": lambda fake, org, doc, tag, cps: fake.delete_tag(org, tag),
    "organization_renamed": lambda fake, org, doc, tag, cps: fake.rename_organization(
        org, "Renamed Org"
    ),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_each_change_is_in_the_warehouse_after_the_next_full_sync(fake, client, warehouse, change):
    org = first_org(fake)
    doc = live_docs(fake, org)[3]["id"]
    tag = fake.list_tags(org)[0]["id"]
    cps = {cp["type"]: cp for cp in fake.list_custom_properties(org)}
    sync(client, warehouse, FULL)

    CHANGES[change](fake, org, doc, tag, cps)
    result = sync(client, warehouse, FULL)

    assert result.rows_written > 0
    assert_matches_server(fake, warehouse)


def test_tag_removed_from_a_document(fake, client, warehouse):
    org = first_org(fake)
    doc = next(d for d in live_docs(fake, org) if d["tags"])
    sync(client, warehouse, FULL)
    fake.untag_document(org, doc["id"], doc["tags"][0]["id"])
    sync(client, warehouse, FULL)
    assert_matches_server(fake, warehouse)


def test_restore_and_reupload_of_a_trashed_file_keep_the_same_id(fake, client, warehouse):
    org = first_org(fake)
    docs = live_docs(fake, org)
    restored, reuploaded = docs[5]["id"], docs[6]
    fake.trash_document(org, restored)
    fake.trash_document(org, reuploaded["id"])
    sync(client, warehouse, FULL)

    fake.restore_document(org, restored)
    again = fake.upload_document(
        org,
        "same-bytes-again.txt",
        fake.document_bytes(org, reuploaded["id"]),
        mime_type=reuploaded["mimeType"],
    )
    assert again["id"] == reuploaded["id"]
    result = sync(client, warehouse, FULL)

    assert result.streams["documents"].restored == 2
    assert_matches_server(fake, warehouse)
    with warehouse.read() as con:
        name = con.execute("SELECT name FROM documents WHERE id = ?", [again["id"]]).fetchall()
    assert name == [("same-bytes-again.txt",)]


def test_purge_keeps_the_row_with_purged_at_after_a_404(fake, client, warehouse):
    org = first_org(fake)
    doc = live_docs(fake, org)[0]["id"]
    sync(client, warehouse, FULL)
    fake.trash_document(org, doc)
    sync(client, warehouse, FULL)
    fake.purge_document(org, doc)
    result = sync(client, warehouse, FULL)
    assert result.streams["documents"].purged == 1
    with warehouse.read() as con:
        row = con.execute(
            "SELECT is_deleted, purged_at IS NOT NULL FROM documents WHERE id = ?", [doc]
        ).fetchall()
        activity = con.execute(
            "SELECT count(*) FROM document_activity WHERE document_id = ?", [doc]
        ).fetchall()[0][0]
    assert row == [(True, True)]
    assert activity > 0  # Papra dropped its activity; we keep ours.


@pytest.mark.parametrize("kind", PROPERTY_TYPES)
def test_each_custom_property_type_set_and_cleared(fake, client, warehouse, kind):
    org = first_org(fake)
    definition = next(cp for cp in fake.list_custom_properties(org) if cp["type"] == kind)
    doc = next(
        d
        for d in live_docs(fake, org)
        if next(c for c in d["customProperties"] if c["key"] == definition["key"])["value"] is None
    )["id"]
    other_doc = live_docs(fake, org)[0]["id"]
    option_ids = [o["id"] for o in definition.get("options") or []]
    value = {
        "text": "INV-2024-0042",
        "number": 1234.5,
        "date": "2024-03-01T00:00:00.000Z",
        "boolean": True,
        "select": option_ids[0] if option_ids else None,
        "multi_select": option_ids[:2],
        "user_relation": [fake.user_id],
        "document_relation": [other_doc],
    }[kind]
    sync(client, warehouse, FULL)

    fake.set_custom_property_value(org, doc, definition["id"], value)
    sync(client, warehouse, FULL)
    assert_matches_server(fake, warehouse)
    with warehouse.read() as con:
        row = con.execute(
            """SELECT property_definition_id, property_type, text_value, number_value,
                      date_value IS NOT NULL, boolean_value, option_ids, user_ids,
                      related_document_ids
               FROM document_custom_property_values WHERE document_id = ? AND property_key = ?""",
            [doc, definition["key"]],
        ).fetchall()
    assert len(row) == 1 and row[0][:2] == (definition["id"], kind)
    typed = {
        "text": row[0][2] == value,
        "number": row[0][3] == value,
        "date": row[0][4],
        "boolean": row[0][5] is True,
        "select": row[0][6] == [value],
        "multi_select": row[0][6] == value,
        "user_relation": row[0][7] == value,
        "document_relation": row[0][8] == value,
    }[kind]
    assert typed, row

    fake.clear_custom_property_value(org, doc, definition["id"])
    sync(client, warehouse, FULL)
    assert_matches_server(fake, warehouse)


def test_definition_deleted_and_select_option_removed(fake, client, warehouse):
    org = first_org(fake)
    definitions = fake.list_custom_properties(org)
    doomed = next(cp for cp in definitions if cp["type"] == "text")
    select = next(cp for cp in definitions if cp["type"] == "select")
    sync(client, warehouse, FULL)

    fake.delete_custom_property(org, doomed["id"])
    kept = select["options"][1:]
    fake.update_custom_property(
        org,
        select["id"],
        name=select["name"],
        options=[{"id": o["id"], "name": o["name"]} for o in kept],
    )
    result = sync(client, warehouse, FULL)

    assert result.streams["custom_property_definitions"].removed == 1
    assert result.streams["custom_property_options"].removed == 1
    assert_matches_server(fake, warehouse)
    with warehouse.read() as con:
        flagged = con.execute(
            "SELECT is_removed FROM custom_property_definitions WHERE id = ?", [doomed["id"]]
        ).fetchall()
        option = con.execute(
            "SELECT is_removed FROM custom_property_options WHERE id = ?",
            [select["options"][0]["id"]],
        ).fetchall()
    assert flagged == [(True,)] and option == [(True,)]


def test_text_extracted_after_the_first_sync_is_picked_up(fake, client, warehouse):
    org = first_org(fake)
    uploaded = fake.upload_document(org, "scan-later.txt", "the words arrive later")
    first = sync(client, warehouse, FULL)
    with warehouse.read() as con:
        assert con.execute(
            "SELECT content FROM documents WHERE id = ?", [uploaded["id"]]
        ).fetchall() == [("",)]
    fake.extract_pending()
    second = sync(client, warehouse, FULL)
    assert second.streams["document_content"].updated == 1
    assert first.requests > 0
    assert_matches_server(fake, warehouse)


def test_no_content_option_stores_no_text_and_fetches_no_documents(fake, client, warehouse):
    result = sync(client, warehouse, SyncOptions(mode="full", content=False))
    assert result.streams["document_content"].requests == 0
    with warehouse.read() as con:
        assert con.execute("SELECT count(content) FROM documents").fetchall() == [(0,)]
    assert_matches_server(fake, warehouse, content=False)


def test_subset_of_organizations(fake, client, warehouse):
    orgs = [o["id"] for o in fake.list_organizations()]
    result = sync(client, warehouse, SyncOptions(organization_ids=(orgs[1],)))
    assert result.organization_ids == [orgs[1]]
    with warehouse.read() as con:
        seen = con.execute("SELECT DISTINCT organization_id FROM documents").fetchall()
    assert seen == [(orgs[1],)]


def test_an_invisible_organization_is_a_clear_error(client, warehouse):
    from papra_pipeline.sync import SyncError

    with pytest.raises(SyncError, match="not visible to this API key"):
        sync(client, warehouse, SyncOptions(organization_ids=("org_aaaaaaaaaaaaaaaaaaaaaaaa",)))


def test_a_no_op_full_sync_costs_pages_plus_the_rolling_slice_and_writes_nothing(
    fake, client, warehouse
):
    options = SyncOptions(mode="full", reverify_period=timedelta(days=10))
    sync(client, warehouse, options, now=lambda: START)
    result = sync(client, warehouse, options, now=lambda: START + timedelta(days=1))

    assert result.rows_written == 0
    expected = 1  # the organization list
    for org in fake.list_organizations():
        live = len(fake.documents(org["id"], include_deleted=False))
        pages = -(-live // 100)
        slice_size = live // 10  # a tenth of the period went by
        # tags, definitions, statistics, document pages, one trash page, 2 per re-verified doc
        expected += 3 + pages + 1 + 2 * slice_size
    assert result.requests == expected


def test_the_garbage_collector_is_left_as_it_was_found(fake, client, warehouse):
    """A sync freezes the heap and raises the young-generation threshold for its run (see
    engine._gc_spares_what_exists); the host process (Dagster, a notebook) gets both back,
    after a failed run too."""
    original = gc.get_threshold()
    gc.set_threshold(1234, 11, 12)
    try:
        sync(client, warehouse, FULL)
        assert gc.get_threshold() == (1234, 11, 12)
        assert gc.get_freeze_count() == 0
        fake.faults.add("503")
        with pytest.raises(PapraError, match="503"):
            sync(client, warehouse, FULL)
        assert gc.get_threshold() == (1234, 11, 12)
        assert gc.get_freeze_count() == 0
    finally:
        gc.set_threshold(*original)
